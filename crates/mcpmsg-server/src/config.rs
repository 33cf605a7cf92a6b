//! Flags and environment into one validated [`ServerConfig`].
//!
//! Every flag can also be set as `MCPMSG_<NAME>` (the flag wins); the
//! seeds' `MCP_SERVER_HOST`, `MCP_SERVER_PORT` and `LOG_LEVEL` are read when
//! neither is given. A bad value is an error naming the flag before anything
//! binds.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::broker::BrokerConfig;
pub use crate::store::RedisTls;

/// The command line of `mcpmsg-server`.
#[derive(Debug, Parser)]
#[command(
    name = "mcpmsg-server",
    version,
    about = "Signed MCP messaging over Streamable HTTP at /mcp"
)]
pub struct ServerArgs {
    /// Address to bind [env: MCPMSG_HOST, MCP_SERVER_HOST] [default: 127.0.0.1]
    #[arg(long)]
    pub host: Option<String>,
    /// Port to bind [env: MCPMSG_PORT, MCP_SERVER_PORT] [default: 8123]
    #[arg(long)]
    pub port: Option<String>,
    /// The server key: signs what the server says on its own. Created (mode 0600) on first start; nodes sharing a store must share it [default: $XDG_DATA_HOME/mcpmsg/server-key.json, or ~/.local/share/mcpmsg/server-key.json]
    #[arg(long, env = "MCPMSG_SERVER_KEY", value_name = "FILE")]
    pub server_key: Option<PathBuf>,
    /// Closed enrollment: only identities listed in FILE may register (see keys.example)
    #[arg(long, env = "MCPMSG_KEYS", value_name = "FILE")]
    pub keys: Option<PathBuf>,
    /// Seconds a message is kept unless collected
    #[arg(long, env = "MCPMSG_MESSAGE_TTL", value_name = "SECS", default_value_t = 300)]
    pub message_ttl: u64,
    /// Seconds a message read with ack="manual" stays leased
    #[arg(long, env = "MCPMSG_LEASE", value_name = "SECS", default_value_t = 30)]
    pub lease: u64,
    /// Largest accepted difference between a request's ts and the server's clock, in seconds
    #[arg(long, env = "MCPMSG_MAX_SKEW", value_name = "SECS", default_value_t = 120)]
    pub max_skew: u64,
    /// Messages per recipient queue
    #[arg(long, env = "MCPMSG_MAX_QUEUE", value_name = "N", default_value_t = 10_000)]
    pub max_queue: usize,
    /// Bytes of a message (of the plaintext, for sealed messages)
    #[arg(long, env = "MCPMSG_MAX_MESSAGE_BYTES", value_name = "N", default_value_t = 65_536)]
    pub max_message_bytes: usize,
    /// Longest wait of get_messages and send_message_and_wait, in seconds (at most 50)
    #[arg(long, env = "MCPMSG_MAX_WAIT", value_name = "SECS", default_value_t = 50)]
    pub max_wait: u64,
    /// Accept sends to client ids that never checked in
    #[arg(long, env = "MCPMSG_ALLOW_UNKNOWN_RECIPIENTS")]
    pub allow_unknown_recipients: bool,
    /// Turn off the public list_clients tool
    #[arg(long, env = "MCPMSG_NO_LIST_CLIENTS")]
    pub no_list_clients: bool,
    /// A Host header to accept besides loopback (repeatable; needed when binding a non-loopback address)
    #[arg(
        long = "allowed-host",
        env = "MCPMSG_ALLOWED_HOST",
        value_name = "NAME",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,
    /// Storage backend: memory; redis://HOST:PORT/DB for several nodes sharing one Redis (rediss:// for TLS); redis-cluster://HOST:PORT,... for a Redis Cluster (rediss-cluster:// for TLS)
    #[arg(long, env = "MCPMSG_STORE", default_value = "memory")]
    pub store: String,
    /// With rediss://: the CA certificates (PEM) to trust for Redis instead of the system's
    #[arg(long, env = "MCPMSG_REDIS_CA", value_name = "FILE")]
    pub redis_ca: Option<PathBuf>,
    /// With rediss://: this node's client certificate chain (PEM), for a Redis with tls-auth-clients
    #[arg(long, env = "MCPMSG_REDIS_CERT", value_name = "FILE", requires = "redis_key")]
    pub redis_cert: Option<PathBuf>,
    /// With rediss://: the private key (PEM) of --redis-cert
    #[arg(long, env = "MCPMSG_REDIS_KEY", value_name = "FILE", requires = "redis_cert")]
    pub redis_key: Option<PathBuf>,
    /// Registered identities at most
    #[arg(long, env = "MCPMSG_MAX_CLIENTS", value_name = "N", default_value_t = 100_000)]
    pub max_clients: usize,
    /// Requests parked in waits at most
    #[arg(long, env = "MCPMSG_MAX_WAITERS", value_name = "N", default_value_t = 10_000)]
    pub max_waiters: usize,
    /// Events a key event log may have at check-in or in a revocation's `kel` (each costs a signature check)
    #[arg(long, env = "MCPMSG_MAX_KEL_EVENTS", value_name = "N", default_value_t = 128)]
    pub max_kel_events: usize,
    /// Bytes of message bodies queued on this server in all, across every queue; beyond it sends get queue_full
    #[arg(long, env = "MCPMSG_MAX_QUEUED_BYTES", value_name = "N", default_value_t = 256 << 20)]
    pub max_queued_bytes: u64,
    /// Messages one sender may have queued for one recipient (its share of that queue)
    #[arg(long, env = "MCPMSG_MAX_QUEUE_PER_SENDER", value_name = "N", default_value_t = 1_000)]
    pub max_queue_per_sender: usize,
    /// Requests one client may have parked in waits at once
    #[arg(long, env = "MCPMSG_MAX_WAITS_PER_CLIENT", value_name = "N", default_value_t = 4)]
    pub max_waits_per_client: usize,
    /// Signed calls per second one identity may make on this node (bursts of twice that)
    #[arg(long, env = "MCPMSG_RATE_PER_CLIENT", value_name = "N", default_value_t = 200)]
    pub rate_per_client: u32,
    /// Anonymous and refused calls per second one source address may make on this node (bursts of twice that)
    #[arg(long, env = "MCPMSG_RATE_PER_ADDRESS", value_name = "N", default_value_t = 100)]
    pub rate_per_address: u32,
    /// Largest page of list_clients
    #[arg(long, env = "MCPMSG_LIST_PAGE", value_name = "N", default_value_t = 100)]
    pub list_page: usize,
    /// Keep MCP sessions (Mcp-Session-Id): 2025-11-25 clients then get pushes through resources/subscribe on their GET stream, but a session lives on one node, so a load balancer must keep each session on its node. Off (the default), every request stands alone and any node can serve it; 2026-07-28 clients get pushes through subscriptions/listen either way
    #[arg(long, env = "MCPMSG_SESSIONS")]
    pub sessions: bool,
    /// Serve plain stateless tool calls without rmcp (parsed once, straight into each tool's type); every check is the same. Off sends every call through rmcp, as before
    #[arg(long, env = "MCPMSG_NO_FAST_PATH")]
    pub no_fast_path: bool,
    /// Seconds without a signed call after which a client is shown idle
    #[arg(long, env = "MCPMSG_IDLE_AFTER", value_name = "SECS", default_value_t = 60)]
    pub idle_after: u64,
    /// Seconds without a signed call after which a client is shown offline (more than --idle-after)
    #[arg(long, env = "MCPMSG_OFFLINE_AFTER", value_name = "SECS", default_value_t = 300)]
    pub offline_after: u64,
    /// Members of one room, open invitations included
    #[arg(long, env = "MCPMSG_MAX_ROOM_MEMBERS", value_name = "N", default_value_t = 50)]
    pub max_room_members: usize,
    /// Rooms one client may be a member of
    #[arg(long, env = "MCPMSG_MAX_ROOMS_PER_CLIENT", value_name = "N", default_value_t = 100)]
    pub max_rooms_per_client: usize,
    /// Membership statements in one room's log; a full room takes no more (create a new one)
    #[arg(long, env = "MCPMSG_MAX_ROOM_LOG", value_name = "N", default_value_t = 1_000)]
    pub max_room_log: usize,
    /// Longest wait_s of enter_queue: how long a client may wait to be paired, in seconds
    #[arg(long, env = "MCPMSG_MAX_PAIR_WAIT", value_name = "SECS", default_value_t = 300)]
    pub max_pair_wait: u64,
    /// Clients waiting to be paired, at most; beyond it enter_queue is refused
    #[arg(long, env = "MCPMSG_MAX_PAIR_QUEUE", value_name = "N", default_value_t = 10_000)]
    pub max_pair_queue: usize,
    /// enter_queue calls per client per minute, per node
    #[arg(long, env = "MCPMSG_PAIR_RATE", value_name = "N", default_value_t = 30)]
    pub pair_rate: u32,
    /// Seconds a waiting client holds out for a partner sharing an interest; after it, anyone entering is paired with it
    #[arg(long, env = "MCPMSG_PAIR_GRACE", value_name = "SECS", default_value_t = 10)]
    pub pair_grace: u64,
    /// Clients one client may block (block_client)
    #[arg(long, env = "MCPMSG_MAX_BLOCKS", value_name = "N", default_value_t = 1_000)]
    pub max_blocks: usize,
    /// Protocol names the registry holds at most (register_protocol)
    #[arg(long, env = "MCPMSG_MAX_PROTOCOLS", value_name = "N", default_value_t = 10_000)]
    pub max_protocols: usize,
    /// Versions of one protocol name at most
    #[arg(long, env = "MCPMSG_MAX_PROTOCOL_VERSIONS", value_name = "N", default_value_t = 100)]
    pub max_protocol_versions: usize,
    /// Bytes of one protocol's JSON Schema at most
    #[arg(
        long,
        env = "MCPMSG_MAX_SCHEMA_BYTES",
        value_name = "BYTES",
        default_value_t = 65_536
    )]
    pub max_schema_bytes: usize,
    /// Nesting of arrays and objects in one JSON Schema at most
    #[arg(long, env = "MCPMSG_MAX_SCHEMA_DEPTH", value_name = "N", default_value_t = 32)]
    pub max_schema_depth: usize,
    /// Clients one compatibility_matrix call compares at most
    #[arg(long, env = "MCPMSG_MAX_MATRIX_CLIENTS", value_name = "N", default_value_t = 32)]
    pub max_matrix_clients: usize,
    /// Seconds a typing signal lasts unless replaced (send_signal)
    #[arg(long, env = "MCPMSG_SIGNAL_TTL", value_name = "SECS", default_value_t = 10)]
    pub signal_ttl: u64,
    /// Typing signals kept for one client at most (one per room and sender); past it, new senders' signals to it are skipped
    #[arg(long, env = "MCPMSG_MAX_SIGNALS", value_name = "N", default_value_t = 200)]
    pub max_signals: usize,
    /// Clients one broadcast reaches at most; a filter matching more is refused (too_large)
    #[arg(
        long,
        env = "MCPMSG_MAX_BROADCAST_RECIPIENTS",
        value_name = "N",
        default_value_t = 1_000
    )]
    pub max_broadcast_recipients: usize,
    /// Version adapters one protocol name holds at most (register_adapter)
    #[arg(long, env = "MCPMSG_MAX_ADAPTERS", value_name = "N", default_value_t = 100)]
    pub max_adapters: usize,
    /// Broadcasts per client per minute, per node
    #[arg(long, env = "MCPMSG_BROADCAST_RATE", value_name = "N", default_value_t = 10)]
    pub broadcast_rate: u32,
    /// Open HTTP connections at most; beyond it new connections wait to be accepted. Each parked wait holds one, so keep it above --max-waiters
    #[arg(long, env = "MCPMSG_MAX_CONNECTIONS", value_name = "N", default_value_t = 12_288)]
    pub max_connections: usize,
    /// Seconds a client may take to send a request's headers, and then its body
    #[arg(long, env = "MCPMSG_READ_TIMEOUT", value_name = "SECS", default_value_t = 10)]
    pub read_timeout: u64,
    /// An Origin header to accept (repeatable); requests with any other Origin get 403. Without one, only loopback origins are accepted
    #[arg(
        long = "allowed-origin",
        env = "MCPMSG_ALLOWED_ORIGIN",
        value_name = "ORIGIN",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// Log level or tracing filter, e.g. info, debug, mcpmsg=debug [env: MCPMSG_LOG_LEVEL, LOG_LEVEL] [default: info]
    #[arg(long)]
    pub log_level: Option<String>,
}

/// Which storage backend to use. Shown (in logs, errors) with any password
/// in a Redis URL masked.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreSpec {
    /// In-process memory.
    Memory,
    /// A shared Redis, by URL (`redis://HOST:PORT/DB`, `rediss://` for
    /// TLS), or a Redis Cluster by its seed nodes
    /// (`redis-cluster://HOST:PORT,HOST:PORT,...`, `rediss-cluster://`).
    Redis(String),
}

impl std::fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::Redis(url) => f.write_str(&crate::store::redacted_url(url)),
        }
    }
}

impl std::fmt::Debug for StoreSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// A validated server configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen.
    pub addr: SocketAddr,
    /// Closed enrollment file.
    pub keys: Option<PathBuf>,
    /// The server key's file.
    pub server_key: PathBuf,
    /// Keep MCP sessions (see `--sessions`).
    pub sessions: bool,
    /// Serve eligible tool calls on the fast path (see `--no-fast-path`).
    pub fast_path: bool,
    /// The broker's limits.
    pub broker: BrokerConfig,
    /// Host headers accepted (loopback names always are).
    pub allowed_hosts: Vec<String>,
    /// Origin headers accepted besides loopback origins.
    pub allowed_origins: Vec<String>,
    /// Open HTTP connections at most.
    pub max_connections: usize,
    /// Time to send a request's headers, and then its body.
    pub read_timeout: Duration,
    /// The backend.
    pub store: StoreSpec,
    /// Certificate files for `rediss://`.
    pub redis_tls: RedisTls,
    /// The tracing filter.
    pub log_level: String,
}

/// A flag with a bad value: names the flag and what it takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag}: {what}")]
pub struct ConfigError {
    /// The flag (or variable) at fault.
    pub flag: String,
    /// What it takes.
    pub what: String,
}

fn bad(flag: &str, what: impl Into<String>) -> ConfigError {
    ConfigError {
        flag: flag.into(),
        what: what.into(),
    }
}

/// A value given with `flag`, else by the first of `vars` that is set and
/// not empty, with the name to blame when it is bad.
fn flag_or_env(value: Option<String>, flag: &str, vars: &[&str]) -> Option<(String, String)> {
    if let Some(v) = value {
        return Some((flag.to_owned(), v));
    }
    vars.iter().find_map(|n| {
        std::env::var(n)
            .ok()
            .filter(|v| !v.is_empty())
            .map(|v| ((*n).to_owned(), v))
    })
}

fn range<T: PartialOrd + std::fmt::Display + Copy>(flag: &str, v: T, lo: T, hi: T) -> Result<T, ConfigError> {
    if v < lo || v > hi {
        return Err(bad(flag, format!("must be from {lo} to {hi}, got {v}")));
    }
    Ok(v)
}

/// `--host` and `--port` (or their variables) into an address.
fn address(host: Option<String>, port: Option<String>) -> Result<SocketAddr, ConfigError> {
    let (host_flag, host) = flag_or_env(host, "--host", &["MCPMSG_HOST", "MCP_SERVER_HOST"])
        .unwrap_or(("--host".into(), "127.0.0.1".into()));
    let ip: IpAddr = match host.as_str() {
        "localhost" => IpAddr::from([127, 0, 0, 1]),
        h => h.parse().map_err(|_| {
            bad(
                &host_flag,
                format!("{h:?} is not an IP address (use 127.0.0.1, ::1, 0.0.0.0 or localhost)"),
            )
        })?,
    };
    let (port_flag, port) =
        flag_or_env(port, "--port", &["MCPMSG_PORT", "MCP_SERVER_PORT"]).unwrap_or(("--port".into(), "8123".into()));
    let port: u16 = port
        .parse()
        .map_err(|_| bad(&port_flag, format!("{port:?} is not a port number (0-65535)")))?;
    Ok(SocketAddr::new(ip, port))
}

/// `--store` into a backend.
fn store_spec(store: &str) -> Result<StoreSpec, ConfigError> {
    let spec = match store {
        "memory" => StoreSpec::Memory,
        url if url.starts_with("redis://") || url.starts_with("rediss://") => StoreSpec::Redis(url.to_owned()),
        url if url.starts_with("redis-cluster://") || url.starts_with("rediss-cluster://") => {
            let nodes = url.split_once("://").map_or("", |(_, n)| n);
            if nodes.split(',').any(|n| n.rsplit_once(':').is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())) {
                return Err(bad("--store", "redis-cluster:// takes seed nodes as HOST:PORT,HOST:PORT,..."));
            }
            StoreSpec::Redis(url.to_owned())
        }
        other => {
            return Err(bad(
                "--store",
                format!("{other:?} is not a store this build knows; use \"memory\", redis://HOST:PORT/DB (rediss:// for TLS) or redis-cluster://HOST:PORT,... (rediss-cluster:// for TLS)"),
            ))
        }
    };
    if store.starts_with("rediss") && store.contains('#') {
        return Err(bad(
            "--store",
            "a rediss:// URL takes no #fragment: certificate checks cannot be turned off (#insecure); give the CA that signed Redis's certificate with --redis-ca",
        ));
    }
    Ok(spec)
}

/// The certificate files of a TLS store: each only with `rediss`, each readable.
fn redis_tls(tls: bool, files: RedisTls) -> Result<RedisTls, ConfigError> {
    for (flag, path) in [
        ("--redis-ca", &files.ca),
        ("--redis-cert", &files.cert),
        ("--redis-key", &files.key),
    ] {
        let Some(path) = path else { continue };
        if !tls {
            return Err(bad(
                flag,
                "applies to a TLS store only: use rediss://HOST:PORT/DB or rediss-cluster://HOST:PORT,...",
            ));
        }
        if std::fs::File::open(path).is_err() || !path.is_file() {
            return Err(bad(flag, format!("{} is not a readable file", path.display())));
        }
    }
    Ok(files)
}

impl ServerArgs {
    /// Checks every value and builds the configuration.
    pub fn validate(self) -> Result<ServerConfig, ConfigError> {
        let addr = address(self.host.clone(), self.port.clone())?;
        if !addr.ip().is_loopback() && self.allowed_hosts.is_empty() {
            return Err(bad(
                "--allowed-host",
                format!("binding {} (not loopback) needs the host names clients use, e.g. --allowed-host msg.example.com; otherwise every request is refused (DNS-rebinding protection)", addr.ip()),
            ));
        }
        for origin in &self.allowed_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://")) || origin.ends_with('/') {
                return Err(bad(
                    "--allowed-origin",
                    format!("{origin:?} is not an origin: scheme://host[:port], e.g. https://app.example.com"),
                ));
            }
        }
        let store = store_spec(&self.store)?;
        let redis_tls = redis_tls(
            self.store.starts_with("rediss"),
            RedisTls {
                ca: self.redis_ca.clone(),
                cert: self.redis_cert.clone(),
                key: self.redis_key.clone(),
            },
        )?;
        if let Some(k) = &self.keys {
            if !k.is_file() {
                return Err(bad("--keys", format!("{} is not a readable file", k.display())));
            }
        }
        let log_level = flag_or_env(
            self.log_level.clone(),
            "--log-level",
            &["MCPMSG_LOG_LEVEL", "LOG_LEVEL"],
        )
        .map(|(_, v)| v.to_lowercase())
        .unwrap_or_else(|| "info".into());
        Ok(ServerConfig {
            addr,
            broker: self.broker_config()?,
            max_connections: range("--max-connections", self.max_connections, 1, 1_000_000)?,
            read_timeout: Duration::from_secs(range("--read-timeout", self.read_timeout, 1, 3600)?),
            keys: self.keys,
            server_key: self.server_key.unwrap_or_else(crate::server_key::default_path),
            sessions: self.sessions,
            fast_path: !self.no_fast_path,
            allowed_hosts: self.allowed_hosts,
            allowed_origins: self.allowed_origins,
            store,
            redis_tls,
            log_level,
        })
    }

    /// The broker's limits, each within its range.
    fn broker_config(&self) -> Result<BrokerConfig, ConfigError> {
        Ok(BrokerConfig {
            message_ttl: Duration::from_secs(range("--message-ttl", self.message_ttl, 1, 7 * 86_400)?),
            lease: Duration::from_secs(range("--lease", self.lease, 1, 86_400)?),
            max_skew: Duration::from_secs(range("--max-skew", self.max_skew, 1, 3600)?),
            max_queue: range("--max-queue", self.max_queue, 1, 10_000_000)?,
            max_message_bytes: range("--max-message-bytes", self.max_message_bytes, 1, 16 << 20)?,
            max_wait: Duration::from_secs(range("--max-wait", self.max_wait, 0, 50)?),
            allow_unknown_recipients: self.allow_unknown_recipients,
            list_clients: !self.no_list_clients,
            max_clients: range("--max-clients", self.max_clients, 1, 100_000_000)?,
            max_waiters: range("--max-waiters", self.max_waiters, 1, 10_000_000)?,
            max_kel_events: range("--max-kel-events", self.max_kel_events, 2, 100_000)?,
            max_queued_bytes: range("--max-queued-bytes", self.max_queued_bytes, 1 << 16, 1 << 40)?,
            max_queue_per_sender: range("--max-queue-per-sender", self.max_queue_per_sender, 1, 10_000_000)?,
            max_waits_per_client: range("--max-waits-per-client", self.max_waits_per_client, 1, 10_000)?,
            rate_per_client: range("--rate-per-client", self.rate_per_client, 1, 1_000_000)?,
            rate_per_address: range("--rate-per-address", self.rate_per_address, 1, 1_000_000)?,
            list_page: range("--list-page", self.list_page, 1, 1_000)?,
            idle_after: Duration::from_secs(range("--idle-after", self.idle_after, 1, 86_400)?),
            offline_after: Duration::from_secs(range(
                "--offline-after",
                self.offline_after,
                self.idle_after.saturating_add(1),
                7 * 86_400,
            )?),
            max_room_members: range("--max-room-members", self.max_room_members, 2, 1_000)?,
            max_rooms_per_client: range("--max-rooms-per-client", self.max_rooms_per_client, 1, 100_000)?,
            max_room_log: range("--max-room-log", self.max_room_log, 2, 1_000_000)?,
            max_pair_wait: Duration::from_secs(range("--max-pair-wait", self.max_pair_wait, 1, 86_400)?),
            max_pair_queue: range("--max-pair-queue", self.max_pair_queue, 1, 10_000_000)?,
            pair_rate: range("--pair-rate", self.pair_rate, 1, 1_000_000)?,
            pair_grace: Duration::from_secs(range("--pair-grace", self.pair_grace, 0, 86_400)?),
            max_blocks: range("--max-blocks", self.max_blocks, 1, 100_000)?,
            max_protocols: range("--max-protocols", self.max_protocols, 1, 10_000_000)?,
            max_protocol_versions: range("--max-protocol-versions", self.max_protocol_versions, 1, 100_000)?,
            max_schema_bytes: range("--max-schema-bytes", self.max_schema_bytes, 2, 4 << 20)?,
            max_schema_depth: range("--max-schema-depth", self.max_schema_depth, 1, 256)?,
            max_matrix_clients: range("--max-matrix-clients", self.max_matrix_clients, 2, 1_000)?,
            signal_ttl: Duration::from_secs(range("--signal-ttl", self.signal_ttl, 1, 300)?),
            max_signals: range("--max-signals", self.max_signals, 1, 100_000)?,
            max_adapters: range("--max-adapters", self.max_adapters, 1, 100_000)?,
            max_broadcast_recipients: range("--max-broadcast-recipients", self.max_broadcast_recipients, 1, 100_000)?,
            broadcast_rate: range("--broadcast-rate", self.broadcast_rate, 1, 1_000_000)?,
        })
    }
}

impl ServerConfig {
    /// Defaults, bound to `127.0.0.1:0`: what tests start from.
    pub fn for_tests() -> Self {
        ServerArgs::parse_from(["mcpmsg-server", "--host", "127.0.0.1", "--port", "0"])
            .validate()
            .expect("defaults are valid")
    }
}
