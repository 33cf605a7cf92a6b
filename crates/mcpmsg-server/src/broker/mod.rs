//! The rules of mcpmsg: signed requests, identities and their logs, queues,
//! leases, waits and the replay window. No HTTP, MCP or CLI here: the MCP
//! adapter calls these methods with parsed arguments and renders the
//! results, and storage is behind [`crate::store::Store`].

mod adapters;
mod auth;
mod blocks;
mod broadcast;
mod declarations;
mod enroll;
mod events;
mod inbox_push;
mod kel_events;
mod limits;
mod messages;
mod pairing;
mod presence;
mod protocols;
mod registry;
mod room_send;
mod rooms;
mod signals;
mod typed;
mod wait;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use broadcast::{broadcast_of, BROADCAST_CONTENT_TYPE};
pub use enroll::{Enrollment, EnrollmentError};
pub use events::{event_of, EVENT_CONTENT_TYPE};
pub use inbox_push::INBOX_URI_PREFIX;
pub use messages::{AckResult, SendResult, WaitResult};
pub use pairing::Entered;
pub use registry::{CheckinResult, ClientInfo, ClientKeys, KelUpdate};
pub use room_send::{room_message_of, RoomSent, ROOM_CONTENT_TYPE};
pub use rooms::RoomChanged;
pub use signals::{signal_of, SignalLeft, SIGNAL_CONTENT_TYPE};

use crate::store::{Store, StoreError};
use mcpmsg_core::protocol::ErrorCode;

/// A refused call: the protocol error code and a message that names the
/// field and what was expected. Never carries a secret or a message body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[{code}] {message}")]
pub struct Refusal {
    /// The PROTOCOL §7 code.
    pub code: ErrorCode,
    /// What was wrong and how to fix it.
    pub message: String,
    /// For `rate_limited`: how long to wait before trying again, in ms.
    pub retry_after_ms: Option<u64>,
}

impl Refusal {
    /// A refusal with `code`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// `rate_limited`, with how long to wait.
    fn rate_limited(what: &str, wait: limits::RetryAfter) -> Self {
        let ms = u64::try_from(wait.0.as_millis()).unwrap_or(u64::MAX).max(1);
        Self {
            code: ErrorCode::RateLimited,
            message: format!("{what}; retry after {ms} ms"),
            retry_after_ms: Some(ms),
        }
    }

    /// `invalid_argument`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }
}

impl From<StoreError> for Refusal {
    /// The details (hosts, Redis's own words) go to the operator's log,
    /// never to the caller, who may be anyone.
    fn from(e: StoreError) -> Self {
        tracing::warn!(error = %e, "store error");
        Self::new(ErrorCode::Unavailable, "the store is unavailable; try again shortly")
    }
}

impl From<mcpmsg_core::protocol::FieldError> for Refusal {
    fn from(e: mcpmsg_core::protocol::FieldError) -> Self {
        Self::invalid(e.to_string())
    }
}

/// The limits and policies of a broker.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// How long a message is kept unless delivered.
    pub message_ttl: Duration,
    /// How long a manual-ack lease lasts.
    pub lease: Duration,
    /// Largest accepted `|server time - ts|`.
    pub max_skew: Duration,
    /// Messages per recipient queue.
    pub max_queue: usize,
    /// Bytes of a message body (for sealed messages: of the plaintext).
    pub max_message_bytes: usize,
    /// Longest wait of `get_messages` and `send_message_and_wait`.
    pub max_wait: Duration,
    /// Accept sends to client ids that never checked in.
    pub allow_unknown_recipients: bool,
    /// Answer `list_clients`.
    pub list_clients: bool,
    /// Registered identities at most.
    pub max_clients: usize,
    /// Requests parked in waits at most.
    pub max_waiters: usize,
    /// Events of a log submitted at check-in or with a revocation.
    pub max_kel_events: usize,
    /// Bytes of queued message bodies in all (on a shared store: in the store).
    pub max_queued_bytes: u64,
    /// Messages one sender may have queued for one recipient.
    pub max_queue_per_sender: usize,
    /// Requests one client may have parked in waits.
    pub max_waits_per_client: usize,
    /// Signed calls per second per identity, per node.
    pub rate_per_client: u32,
    /// Anonymous and refused calls per second per source address, per node.
    pub rate_per_address: u32,
    /// Largest page of `list_clients`.
    pub list_page: usize,
    /// A client silent this long is `idle`.
    pub idle_after: Duration,
    /// A client silent this long is `offline`.
    pub offline_after: Duration,
    /// Members (and open invitations) of one room.
    pub max_room_members: usize,
    /// Rooms one client may be a member of.
    pub max_rooms_per_client: usize,
    /// Statements in one room's log.
    pub max_room_log: usize,
    /// Longest `wait_s` of `enter_queue`.
    pub max_pair_wait: Duration,
    /// Clients waiting to be paired, at most.
    pub max_pair_queue: usize,
    /// `enter_queue` calls per client per minute, per node.
    pub pair_rate: u32,
    /// How long a waiting client holds out for a partner sharing an
    /// interest before it is paired with anyone.
    pub pair_grace: Duration,
    /// Clients one client may block.
    pub max_blocks: usize,
    /// Protocol names in the registry, at most.
    pub max_protocols: usize,
    /// Versions of one protocol name, at most.
    pub max_protocol_versions: usize,
    /// Bytes of one JSON Schema, at most.
    pub max_schema_bytes: usize,
    /// Nesting of one JSON Schema, at most.
    pub max_schema_depth: usize,
    /// Clients one compatibility matrix compares, at most.
    pub max_matrix_clients: usize,
    /// How long a typing signal lasts unless replaced.
    pub signal_ttl: Duration,
    /// Signals kept for one client at most.
    pub max_signals: usize,
    /// Clients one broadcast reaches, at most.
    pub max_broadcast_recipients: usize,
    /// Version adapters of one protocol name, at most.
    pub max_adapters: usize,
    /// Broadcasts per client per minute, per node.
    pub broadcast_rate: u32,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            message_ttl: Duration::from_secs(300),
            lease: Duration::from_secs(30),
            max_skew: Duration::from_secs(120),
            max_queue: 10_000,
            max_message_bytes: 64 * 1024,
            max_wait: Duration::from_secs(50),
            allow_unknown_recipients: false,
            list_clients: true,
            max_clients: 100_000,
            max_waiters: 10_000,
            max_kel_events: 128,
            max_queued_bytes: 256 << 20,
            max_queue_per_sender: 1_000,
            max_waits_per_client: 4,
            rate_per_client: 200,
            rate_per_address: 100,
            list_page: 100,
            idle_after: Duration::from_secs(60),
            offline_after: Duration::from_secs(300),
            max_room_members: 50,
            max_rooms_per_client: 100,
            max_room_log: 1_000,
            max_pair_wait: Duration::from_secs(300),
            max_pair_queue: 10_000,
            pair_rate: 30,
            pair_grace: Duration::from_secs(10),
            max_blocks: 1_000,
            max_protocols: 10_000,
            max_protocol_versions: 100,
            max_schema_bytes: 65_536,
            max_schema_depth: 32,
            max_matrix_clients: 32,
            signal_ttl: Duration::from_secs(10),
            max_signals: 200,
            max_broadcast_recipients: 1_000,
            max_adapters: 100,
            broadcast_rate: 10,
        }
    }
}

/// The broker: one per server process, shared by every request.
pub struct Broker {
    config: BrokerConfig,
    store: Arc<dyn Store>,
    enrollment: Option<Enrollment>,
    waiters: wait::Waiters,
    kel_cache: registry::KelCache,
    limits: limits::RateLimits,
    pairing_limit: limits::PerMinute,
    broadcast_limit: limits::PerMinute,
    presence: presence::Presence,
    room_cache: rooms::RoomCache,
    schemas: typed::SchemaCache,
    /// Signs what the server says on its own (PROTOCOL §12).
    server_key: mcpmsg_core::crypto::SigningSecret,
    /// Makes inbox resource tokens (derived from the server key).
    inbox_key: zeroize::Zeroizing<[u8; 32]>,
    shutdown: CancellationToken,
}

impl Broker {
    /// A broker over `store`. With `enrollment`, only listed identities may
    /// register. `server_key` signs the server's own statements.
    /// `shutdown` ends parked waits early.
    pub fn new(
        config: BrokerConfig,
        store: Arc<dyn Store>,
        enrollment: Option<Enrollment>,
        server_key: mcpmsg_core::crypto::SigningSecret,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            waiters: wait::Waiters::new(config.max_waiters, config.max_waits_per_client),
            kel_cache: registry::KelCache::new(config.max_clients),
            limits: limits::RateLimits::new(config.rate_per_client, config.rate_per_address),
            pairing_limit: limits::PerMinute::new(config.pair_rate),
            broadcast_limit: limits::PerMinute::new(config.broadcast_rate),
            room_cache: rooms::RoomCache::new(config.max_clients),
            schemas: typed::SchemaCache::new(1_024),
            presence: presence::Presence::new((ms(config.idle_after) / 4).max(1000), config.max_clients),
            config,
            store,
            enrollment,
            inbox_key: inbox_push::token_key(&server_key),
            server_key,
            shutdown,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// What the server publishes about itself (PROTOCOL §12).
    pub fn server_key_info(&self) -> mcpmsg_core::protocol::server_statement::ServerKeyInfo {
        use mcpmsg_core::protocol::server_statement::{ServerKeyInfo, ServerLimits};
        let public = self.server_key.public();
        ServerKeyInfo {
            server_key: public.to_string(),
            fingerprint: public.fingerprint(),
            server_kid: public.kid(),
            protocol_versions: vec!["mcpmsg-v1".into()],
            limits: ServerLimits {
                max_skew_s: self.config.max_skew.as_secs(),
                message_ttl_s: self.config.message_ttl.as_secs(),
                max_message_bytes: self.config.max_message_bytes as u64,
                max_wait_s: self.config.max_wait.as_secs(),
            },
        }
    }

    /// Cancelled when the server shuts down.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// The store itself: for tests that play a dishonest server, writing
    /// straight into it what no tool would accept.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The store's kind, for `/health`.
    pub fn store_kind(&self) -> &'static str {
        self.store.kind()
    }

    /// Wakes every parked waiter, to re-check its queue (after a shared
    /// store's doorbell was reconnected, for example).
    pub fn notify_all(&self) {
        self.waiters.notify_all();
    }

    /// Whether the store answers, for `/health`.
    pub async fn store_ping(&self) -> Result<(), crate::store::StoreError> {
        self.store.ping().await
    }

    /// An authenticated call of `client_id` at `now`: within its rate, it
    /// counts as a heartbeat (written to the store now and then, see
    /// `presence`; a failed write costs the call nothing).
    async fn admit(&self, client_id: &str, now: u64) -> Result<(), Refusal> {
        self.rate_check(client_id)?;
        if self.presence.heard(client_id, now) {
            if let Err(e) = self.store.touch(client_id, now).await {
                tracing::debug!(error = %e, "presence not written");
            }
        }
        Ok(())
    }

    /// One authenticated call of `client_id` against its rate limit.
    fn rate_check(&self, client_id: &str) -> Result<(), Refusal> {
        self.limits.client(client_id).map_err(|wait| {
            Refusal::rate_limited(
                &format!(
                    "{client_id} is over its rate of {} calls per second (--rate-per-client)",
                    self.config.rate_per_client
                ),
                wait,
            )
        })
    }

    /// An anonymous call from `ip`, against the address's rate limit.
    pub fn anonymous_call(&self, ip: std::net::IpAddr) -> Result<(), Refusal> {
        self.limits.address(ip).map_err(|wait| self.address_refusal(wait))
    }

    /// Before a signed call from `ip`: refused while the address is
    /// blocked for too many refused calls, before any signature is checked.
    pub fn signed_call(&self, ip: std::net::IpAddr) -> Result<(), Refusal> {
        match self.limits.blocked(ip) {
            Some(wait) => Err(self.address_refusal(wait)),
            None => Ok(()),
        }
    }

    /// After a call from `ip` was refused: it counts against the address.
    pub fn refused_call(&self, ip: std::net::IpAddr) {
        let _ = self.limits.address(ip);
    }

    fn address_refusal(&self, wait: limits::RetryAfter) -> Refusal {
        Refusal::rate_limited(
            &format!(
                "too many anonymous or refused calls from this address (--rate-per-address, {} per second)",
                self.config.rate_per_address
            ),
            wait,
        )
    }

    /// Wakes every waiter on `recipient`'s queue (a message arrived through
    /// another node, for example).
    pub fn notify(&self, recipient: &str) {
        self.waiters.notify(recipient);
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
