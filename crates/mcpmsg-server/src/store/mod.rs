//! Storage behind the broker: the trait every backend implements, and the
//! records it keeps. A backend is chosen once at start-up and passed down as
//! `Arc<dyn Store>`.
//!
//! Each method is one atomic step against the store (a lock, or a Redis
//! script), so several server nodes can share one store: nothing here relies
//! on in-process state for correctness.

mod memory;
mod packed;
mod pairing;
mod protocols;
mod redis;
mod rooms;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use self::redis::{redacted_url, RedisStore, RedisTls};
pub use memory::MemoryStore;
pub use pairing::{eligible, overlap, PairEnter, PairOutcome, Waiting, PAIR_SCAN};
pub use protocols::{
    adapter_field, decide, AdapterOutcome, AdapterRecord, AdapterRegister, NameOwner, ProtocolRecord, ProtocolRegister,
    RegisterOutcome,
};
pub use rooms::{Delivery, FanOut, FanOutOutcome, FanOutTo, LoggedStatement, RoomAppend, SignalStep};

use mcpmsg_core::protocol::kel::Event;
pub use mcpmsg_core::protocol::negotiate::Declaration;

/// The store cannot answer (Redis down, for example). Maps to `unavailable`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("store unavailable: {0}")]
pub struct StoreError(pub String);

/// A queued message: exactly the members of a delivered message (PROTOCOL
/// §5), every one as it was signed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    /// b64 of the first 16 bytes of SHA-256(sig).
    pub message_id: String,
    /// The sender.
    pub sender_id: String,
    /// The recipient.
    pub recipient_id: String,
    /// As sent; empty when the sender left it out.
    pub content_type: String,
    /// As sent; empty when the sender left it out.
    pub in_reply_to: String,
    /// The body (b64 of enc || ct when sealed).
    pub message: String,
    /// Kid of the signing key.
    pub key_id: String,
    /// The sender's time, Unix ms.
    pub ts: String,
    /// The request nonce.
    pub nonce: String,
    /// The signature.
    pub sig: String,
    /// Server time of acceptance, Unix ms.
    pub received_at: u64,
    /// When it is dropped unless delivered, Unix ms.
    pub expires_at: u64,
}

/// One send as the store carries it out, in one atomic step: the sender's
/// nonce claimed until `nonce_until` and `message` queued for its recipient,
/// unless that would break `limits`; with `sender_head`, only if the head of
/// the sender's stored log is still that (else [`SendOutcome::Stale`]).
#[derive(Debug, Clone, Copy)]
pub struct SendStep<'a> {
    /// The message, as it will be delivered.
    pub message: &'a StoredMessage,
    /// Until when the nonce stays claimed, Unix ms.
    pub nonce_until: u64,
    /// The queue limits that must hold after the step.
    pub limits: QueueLimits,
    /// Server time, Unix ms.
    pub now: u64,
    /// The sender's log head the fast path verified against, if it did.
    pub sender_head: Option<&'a str>,
}

impl<'a> SendStep<'a> {
    /// A step not conditional on the sender's log head.
    pub fn new(message: &'a StoredMessage, nonce_until: u64, limits: QueueLimits, now: u64) -> Self {
        Self {
            message,
            nonce_until,
            limits,
            now,
            sender_head: None,
        }
    }

    /// The same step, only if the sender's stored log head is still `head`.
    pub fn if_head(self, head: &'a str) -> Self {
        Self {
            sender_head: Some(head),
            ..self
        }
    }
}

/// An identity as stored: its log and what its check-ins said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityRecord {
    /// The key event log, verified before it was stored.
    pub events: Vec<Event>,
    /// Server time each event was accepted, Unix ms; one per event.
    pub accepted_at: Vec<u64>,
    /// From the last check-in.
    pub name: String,
    /// From the last check-in.
    pub capabilities: String,
    /// Server time of the last check-in, Unix ms.
    pub last_checkin: u64,
}

impl IdentityRecord {
    /// The hash of the last event: names this exact log (PROTOCOL §3).
    pub fn head(&self) -> Option<String> {
        self.events.last().and_then(|e| e.hash().ok())
    }
}

/// What a used nonce is remembered with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NonceRecord {
    /// A signed request that is not a send.
    Request,
    /// A send: enough to answer a retry of it idempotently.
    Send {
        /// The message id (derived from the signature).
        message_id: String,
        /// When it was accepted.
        received_at: u64,
        /// When it expires.
        expires_at: u64,
    },
}

/// The result of [`Store::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Queued, and the nonce claimed.
    Queued,
    /// The nonce was already used; nothing was queued.
    NonceUsed(NonceRecord),
    /// The recipient's queue is full; nothing was queued, the nonce is free.
    QueueFull,
    /// The sender already has its share of the recipient's queue; nothing
    /// was queued, the nonce is free.
    SenderShareFull,
    /// The store holds its maximum of queued bytes in all; nothing was
    /// queued, the nonce is free.
    StoreFull,
    /// The sender's stored log is not the one the send was checked against
    /// (its head differs): nothing was done.
    Stale,
    /// The recipient blocks the sender: nothing was queued, the nonce is
    /// free.
    Blocked,
}

/// The bounds a send is queued within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Messages in one recipient's queue.
    pub max_queue: usize,
    /// Messages of one sender in one recipient's queue, so no sender can
    /// fill a queue and lock out the others.
    pub max_per_sender: usize,
    /// Bytes of queued message bodies in the whole store (the memory
    /// store counts them exactly; the Redis store compares Redis's own
    /// `used_memory`, sampled every second, since Redis drops idle queues
    /// by expiry where no counter could follow).
    pub max_bytes: u64,
}

impl QueueLimits {
    /// A queue of `max_queue` messages with no other bound (for tests and
    /// tools that exercise one bound at a time).
    pub const fn queue_only(max_queue: usize) -> Self {
        Self {
            max_queue,
            max_per_sender: usize::MAX,
            max_bytes: u64::MAX,
        }
    }
}

/// Which messages a take may hand out and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeMode {
    /// Remove what is returned.
    Remove,
    /// Lease what is returned until this time (Unix ms).
    LeaseUntil(u64),
}

/// The storage operations of the broker.
///
/// Messages and nonces reach a store in their protocol forms (PROTOCOL §1),
/// as the broker checks them; a store may keep them in a compact form and
/// refuse others with an error (the Redis store does).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `memory`, `redis`, ...: shown in `/health`.
    fn kind(&self) -> &'static str;

    /// Whether the store answers (for `/health`).
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// For a store shared by several nodes: how often a parked waiter
    /// re-checks its queue in case a doorbell was missed. `None` when every
    /// send goes through this process (it wakes waiters itself).
    fn recheck_interval(&self) -> Option<std::time::Duration> {
        None
    }

    /// For a store shared by several nodes: runs until `shutdown`, calling
    /// `ring(Some(recipient))` when a message for `recipient` arrives
    /// through any node, and `ring(None)` when every waiter should re-check.
    /// A store only this process writes returns at once.
    async fn watch(
        &self,
        _ring: &(dyn for<'r> Fn(Option<&'r str>) + Send + Sync),
        _shutdown: tokio_util::sync::CancellationToken,
    ) {
    }

    /// The identity's record, if registered; current as of this call (it
    /// decides which key may act).
    async fn identity(&self, client_id: &str) -> Result<Option<Arc<IdentityRecord>>, StoreError>;

    /// The identity's record, possibly a moment old: for checks where that
    /// is harmless (where a message may go).
    async fn recent_identity(&self, client_id: &str) -> Result<Option<Arc<IdentityRecord>>, StoreError> {
        self.identity(client_id).await
    }

    /// Writes `record` if the stored log still has `expected_len` events (0:
    /// not registered). False when another writer got there first.
    async fn put_identity(
        &self,
        client_id: &str,
        expected_len: usize,
        record: &IdentityRecord,
    ) -> Result<bool, StoreError>;

    /// Up to `limit` identities whose client_id sorts after `after` (all
    /// when `None`), ordered by client_id: one page of a listing.
    async fn identities(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Arc<IdentityRecord>)>, StoreError>;

    /// How many identities are registered.
    async fn identity_count(&self) -> Result<usize, StoreError>;

    /// Records that `client_id` made an authenticated call at `at` (Unix
    /// ms); a later time never goes back. Callers coalesce: this is not
    /// called on every request (see `broker::presence`).
    async fn touch(&self, client_id: &str, at: u64) -> Result<(), StoreError>;

    /// When each of `client_ids` last made an authenticated call, as far as
    /// the store was told; `None` for never.
    async fn last_seen(&self, client_ids: &[&str]) -> Result<Vec<Option<u64>>, StoreError>;

    /// The identity's record as this node last saw it, of any age: only for
    /// the acting client of a signed request, whose record is then checked
    /// against the stored log's head by [`Store::precheck`].
    async fn cached_identity(&self, client_id: &str) -> Result<Option<Arc<IdentityRecord>>, StoreError> {
        self.identity(client_id).await
    }

    /// In one step: the record of `(client_id, nonce)` and the head (hash of
    /// the last event) of the client's stored log (`None` when not
    /// registered). A store shared by several nodes answers both from one
    /// round trip, so a cached record can be checked for free.
    async fn precheck(
        &self,
        client_id: &str,
        nonce: &str,
        now: u64,
    ) -> Result<(Option<NonceRecord>, Option<String>), StoreError>;

    /// The record of `(client_id, nonce)` if it was used within its window.
    async fn nonce(&self, client_id: &str, nonce: &str, now: u64) -> Result<Option<NonceRecord>, StoreError>;

    /// Claims `(client_id, nonce)` until `until`; false if already used.
    async fn claim_nonce(
        &self,
        client_id: &str,
        nonce: &str,
        record: NonceRecord,
        until: u64,
        now: u64,
    ) -> Result<bool, StoreError>;

    /// In one atomic step: claims the sender's nonce and queues the message
    /// (see [`SendStep`]).
    async fn send(&self, step: SendStep<'_>) -> Result<SendOutcome, StoreError>;

    /// Up to `max` deliverable messages for `recipient`, oldest first
    /// (expired and leased ones are skipped), then every live typing
    /// signal left for it (see [`SignalStep`]), which are removed whatever
    /// the mode: they are never leased, and do not count towards `max`.
    async fn take(
        &self,
        recipient: &str,
        max: usize,
        mode: TakeMode,
        now: u64,
    ) -> Result<Vec<StoredMessage>, StoreError>;

    /// Removes and returns the oldest deliverable message from `sender` in
    /// `recipient`'s queue, preferring one whose `in_reply_to` is `reply_to`.
    async fn take_reply(
        &self,
        recipient: &str,
        sender: &str,
        reply_to: &str,
        now: u64,
    ) -> Result<Option<StoredMessage>, StoreError>;

    /// Removes the given messages from `recipient`'s queue, if they were
    /// handed out with a lease (whether or not it has ended); returns the
    /// ids removed and the others.
    async fn ack(&self, recipient: &str, ids: &[String], now: u64) -> Result<(Vec<String>, Vec<String>), StoreError>;

    /// The earliest time a leased message in `recipient`'s queue becomes
    /// deliverable again, if any: a waiter wakes then.
    async fn next_lease_expiry(&self, recipient: &str, now: u64) -> Result<Option<u64>, StoreError>;

    /// Messages queued for `recipient` (deliverable or leased).
    async fn queue_len(&self, recipient: &str, now: u64) -> Result<usize, StoreError>;

    /// Room `room_id`'s log, oldest first; empty when there is no such room.
    async fn room(&self, room_id: &str) -> Result<Vec<LoggedStatement>, StoreError>;

    /// Appends a statement to a room's log (see [`RoomAppend`]); false when
    /// the log no longer has the expected length.
    async fn append_room(&self, step: RoomAppend<'_>) -> Result<bool, StoreError>;

    /// The rooms `client_id` was indexed in, at most `limit` (a reader
    /// re-checks membership in each room's log).
    async fn rooms_of(&self, client_id: &str, limit: usize) -> Result<Vec<String>, StoreError>;

    /// Queues a room message for every recipient (see [`FanOut`]).
    async fn fan_out(&self, step: FanOut<'_>) -> Result<FanOutOutcome, StoreError>;

    /// Registers a protocol version (see [`ProtocolRegister`]), in one
    /// atomic step.
    async fn register_protocol(&self, step: ProtocolRegister<'_>) -> Result<RegisterOutcome, StoreError>;

    /// A protocol name's owners and versions (in no particular order).
    async fn protocol(&self, name: &str) -> Result<Option<(NameOwner, Vec<ProtocolRecord>)>, StoreError>;

    /// Up to `limit` registered names after `after` (`""`: from the
    /// first), in byte order.
    async fn protocol_names(&self, after: &str, limit: usize) -> Result<Vec<String>, StoreError>;

    /// Registers a version adapter (see [`AdapterRegister`]).
    async fn register_adapter(&self, step: AdapterRegister<'_>) -> Result<AdapterOutcome, StoreError>;

    /// A protocol name's adapters (in no particular order).
    async fn adapters(&self, name: &str) -> Result<Vec<AdapterRecord>, StoreError>;

    /// Records what `client_id` declared (PROTOCOL §18b), replacing the last.
    async fn declare(&self, client_id: &str, declared: &Declaration) -> Result<(), StoreError>;

    /// What each client declared, if it did.
    async fn declarations(&self, client_ids: &[&str]) -> Result<Vec<Option<Declaration>>, StoreError>;

    /// Every declaration, in no particular order: what a broadcast's filter
    /// is matched against. At most one per registered identity, so bounded
    /// by `--max-clients`.
    async fn all_declarations(&self) -> Result<Vec<(String, Declaration)>, StoreError>;

    /// Leaves a typing signal for every recipient (see [`SignalStep`]) and
    /// rings their doorbells; per recipient, whether it was left.
    async fn put_signal(&self, step: SignalStep<'_>) -> Result<Vec<bool>, StoreError>;

    /// Pairs the entrant with a waiting client, or queues it (see
    /// [`PairEnter`]), in one atomic step.
    async fn pair_enter(&self, step: PairEnter<'_>) -> Result<PairOutcome, StoreError>;

    /// Up to `limit` live entries of the pairing queue that entered before
    /// `before`, oldest first (for the rematch of those whose grace is over).
    async fn pair_waiting(&self, before: u64, now: u64, limit: usize) -> Result<Vec<Waiting>, StoreError>;

    /// Takes `client_id` out of the pairing queue; false if it was not in.
    async fn pair_leave(&self, client_id: &str) -> Result<bool, StoreError>;

    /// Adds `other` to `client_id`'s block list (`block`) or removes it;
    /// returns the list after, or `None` when adding would make it longer
    /// than `max` (nothing changed). A send from a blocked sender is
    /// [`SendOutcome::Blocked`] in the send's own step.
    async fn set_block(
        &self,
        client_id: &str,
        other: &str,
        block: bool,
        max: usize,
    ) -> Result<Option<Vec<String>>, StoreError>;

    /// `client_id`'s block list, in ascending order.
    async fn blocks(&self, client_id: &str) -> Result<Vec<String>, StoreError>;

    /// Marks room `room_id` as a live pen-pal room (`live`) or not: the
    /// rooms the presence sweep looks at.
    async fn mark_pair_room(&self, room_id: &str, live: bool) -> Result<(), StoreError>;

    /// Up to `limit` live pen-pal rooms.
    async fn pair_rooms(&self, limit: usize) -> Result<Vec<String>, StoreError>;
}
