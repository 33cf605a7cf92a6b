//! The HTTP server: MCP at `/mcp`, `/health`, and graceful shutdown.
//!
//! [`run`] takes a bound listener, so tests bind port 0 and the binary binds
//! the configured address.
//!
//! Transport mode: **stateless, JSON responses** (`legacy_session_mode =
//! false`, `json_response = true`). Each POST is served on its own, with no
//! `Mcp-Session-Id` and no server-side session, so several nodes can sit
//! behind a plain load balancer without sticky sessions. Clients that open
//! sessions (2025-11-25) are answered without one, which the spec allows,
//! and sessionless 2026-07-28 clients are served the same way. Nothing the
//! protocol needs is pushed: waits are long-polls inside a tool call.
//!
//! In front of rmcp sits [`crate::edge`] (Origin, JSON-RPC validity,
//! duplicate members), and under it our own accept loop: at most
//! `--max-connections` open connections, and `--read-timeout` for a
//! request's headers (hyper's timer) and then its body (the edge), so
//! half-sent requests cannot hold the server.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::broker::{Broker, Enrollment};
use crate::config::{ServerConfig, StoreSpec};
use crate::edge::{self, EdgeConfig, FastPath};
use crate::mcp::McpServer;
use crate::store::{MemoryStore, RedisStore, Store};

/// Builds the broker for `config`: connects the store, loads enrollment,
/// and for a shared store starts the doorbell that wakes local waiters.
pub async fn broker(config: &ServerConfig, shutdown: CancellationToken) -> anyhow::Result<Arc<Broker>> {
    let store: Arc<dyn Store> = match &config.store {
        StoreSpec::Memory => Arc::new(MemoryStore::new()),
        StoreSpec::Redis(url) => Arc::new(
            RedisStore::connect(url, &config.redis_tls)
                .await
                .with_context(|| format!("cannot use Redis at {}", config.store))?
                .with_nonce_window(2 * config.broker.max_skew),
        ),
    };
    let enrollment = match &config.keys {
        Some(path) => {
            let e = Enrollment::load(path).context("cannot use the keys file")?;
            tracing::info!(path = %path.display(), identities = e.len(), "closed enrollment");
            Some(e)
        }
        None => None,
    };
    let path = &config.server_key;
    let (server_key, created) = crate::server_key::load_or_create(path).context("cannot use the server key")?;
    let fingerprint = server_key.public().fingerprint();
    if created {
        tracing::warn!(path = %path.display(), %fingerprint, "created a new server key: clients pin its fingerprint; nodes sharing this store must use this same file");
    } else {
        tracing::info!(path = %path.display(), %fingerprint, "server key");
    }
    let broker = Arc::new(Broker::new(
        config.broker.clone(),
        store.clone(),
        enrollment,
        server_key,
        shutdown.clone(),
    ));
    spawn_pair_sweep(&broker, shutdown.clone());
    let weak = Arc::downgrade(&broker);
    tokio::spawn(async move {
        let ring = move |recipient: Option<&str>| {
            if let Some(b) = weak.upgrade() {
                match recipient {
                    Some(r) => b.notify(r),
                    None => b.notify_all(),
                }
            }
        };
        store.watch(&ring, shutdown).await;
    });
    Ok(broker)
}

/// Every quarter of `--offline-after` (at least a second), ends the pen-pal
/// rooms whose member went silent (PROTOCOL §16c); every half of
/// `--pair-grace` (at least a second), looks again for partners of clients
/// waiting past their grace (§16b); until `shutdown`.
fn spawn_pair_sweep(broker: &Arc<Broker>, shutdown: tokio_util::sync::CancellationToken) {
    let every = (broker.config().pair_grace / 2).max(std::time::Duration::from_secs(1));
    let weak = Arc::downgrade(broker);
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let Some(b) = weak.upgrade() else { return };
            match b.rematch_waiting().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(pairs = n, "paired clients waiting past their grace"),
                Err(e) => tracing::warn!(error = %e, "pairing rematch failed"),
            }
        }
    });
    let every = (broker.config().offline_after / 4).max(std::time::Duration::from_secs(1));
    let weak = Arc::downgrade(broker);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let Some(b) = weak.upgrade() else { return };
            match b.sweep_pair_rooms().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rooms = n, "ended pen-pal rooms whose member went offline"),
                Err(e) => tracing::warn!(error = %e, "pen-pal presence sweep failed"),
            }
        }
    });
}

/// The router: `/mcp`, `/health` and its alias `/api/mcp/health`.
pub fn router(config: &ServerConfig, broker: Arc<Broker>) -> Router {
    let mut hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    hosts.extend(config.allowed_hosts.iter().cloned());
    // JSON escapes can make a body up to 6x its text; leave room for that
    // and the envelope, and let the broker refuse oversize messages with
    // the protocol's `too_large`.
    let body_limit = config
        .broker
        .max_message_bytes
        .saturating_mul(6)
        .saturating_add(256 << 10);
    // Stateless by default: any node can serve any request, so a plain load
    // balancer works, and 2026-07-28 clients still get pushes (a
    // subscriptions/listen response is one long stream, woken on whichever
    // node holds it by the store's doorbell). `--sessions` keeps 2025-11-25
    // sessions for their resources/subscribe pushes, at the price of
    // sticky load balancing.
    let mut mcp_config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(config.sessions)
        .with_json_response(!config.sessions)
        .with_allowed_hosts(hosts.clone())
        .with_max_request_body_bytes(body_limit);
    if config.sessions {
        mcp_config = mcp_config.with_cancellation_token(sessions_end_after(broker.shutdown_token()));
    }
    // The fast path serves what rmcp would serve statelessly as JSON; with
    // sessions every call belongs to rmcp's session machinery.
    let fast = (config.fast_path && !config.sessions)
        .then(|| Arc::new(FastPath::new(McpServer::new(broker.clone(), false), hosts.clone())));
    let edge = Arc::new(EdgeConfig {
        allowed_origins: config.allowed_origins.clone(),
        allowed_hosts: config.allowed_hosts.clone(),
        read_timeout: config.read_timeout,
        body_limit,
        fast,
    });
    let (for_handlers, sessions) = (broker.clone(), config.sessions);
    let broker_for_info = broker.clone();
    let mcp: StreamableHttpService<McpServer, LocalSessionManager> = StreamableHttpService::new(
        move || Ok(McpServer::new(for_handlers.clone(), sessions)),
        Default::default(),
        mcp_config,
    );
    let started = Instant::now();
    let edge_for_health = edge.clone();
    let health = move |headers: HeaderMap| {
        let broker = broker.clone();
        let edge = edge_for_health.clone();
        async move {
            // Hosts outside the allowed set learn only that something answers.
            if !edge.host_allowed(&headers) {
                return (StatusCode::OK, Json(json!({"status": "ok"})));
            }
            // A node whose store does not answer is useless: say so with a
            // 503, so a load balancer takes it out of rotation.
            let (status, code) = match broker.store_ping().await {
                Ok(()) => ("ok", StatusCode::OK),
                Err(_) => ("degraded", StatusCode::SERVICE_UNAVAILABLE),
            };
            let body = json!({
                "status": status,
                "version": env!("CARGO_PKG_VERSION"),
                "store": broker.store_kind(),
                "uptime_s": started.elapsed().as_secs(),
                "fast_path_calls": edge.fast.as_ref().map(|f| f.served()),
            });
            (code, Json(body))
        }
    };
    let well_known = {
        let info = broker_for_info.server_key_info();
        move || {
            let info = info.clone();
            async move { Json(info) }
        }
    };
    Router::new()
        .nest_service("/mcp", mcp)
        .route("/.well-known/mcpmsg", get(well_known))
        .route("/health", get(health.clone()))
        .route("/api/mcp/health", get(health))
        .layer(axum::middleware::from_fn_with_state(edge, edge::guard))
}

/// A token that ends rmcp's sessions half a second after `shutdown`:
/// their GET streams would otherwise hold a graceful shutdown up for the
/// session lifetime, and ending them at once would cut calls in flight
/// (parked waits return at `shutdown` and need a moment to answer).
fn sessions_end_after(shutdown: CancellationToken) -> CancellationToken {
    let sessions = CancellationToken::new();
    let end = sessions.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        end.cancel();
    });
    sessions
}

/// Serves on `listener` until `shutdown` is cancelled, then lets calls in
/// flight finish (parked waits return at once with what they have).
pub async fn run(listener: TcpListener, config: ServerConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let broker = broker(&config, shutdown.clone()).await?;
    let app = router(&config, broker);
    serve(listener, app, &config, shutdown).await
}

/// The accept loop: one task per connection, at most `--max-connections`
/// at once (further ones wait in the listen backlog), each with a header
/// read timeout; on `shutdown`, stops accepting and lets connections finish.
/// Public for callers (tests) that build the broker themselves.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: &ServerConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};

    if config.max_connections <= config.broker.max_waiters {
        tracing::warn!(
            max_connections = config.max_connections,
            max_waiters = config.broker.max_waiters,
            "each parked wait holds a connection: --max-connections should be above --max-waiters"
        );
    }
    if let Some(files) = open_file_limit().filter(|n| *n < config.max_connections as u64 + 64) {
        tracing::warn!(
            open_file_limit = files,
            max_connections = config.max_connections,
            "the process may open fewer files than --max-connections needs (raise `ulimit -n`)"
        );
    }
    let permits = Arc::new(tokio::sync::Semaphore::new(config.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1.timer(TokioTimer::new()).header_read_timeout(config.read_timeout);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            () = shutdown.cancelled() => break,
        };
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors, for example: wait, then go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        // Without TCP_NODELAY, Nagle's algorithm and delayed ACKs add tens
        // of milliseconds to small responses.
        let _ = tcp.set_nodelay(true);
        // The peer's address travels with each request, for the limits on
        // anonymous and refused calls.
        let peer = tcp.peer_addr().ok().map(edge::PeerAddr);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            if let Some(peer) = peer {
                request.extensions_mut().insert(peer);
            }
            let mut app = app.clone();
            async move { tower_service::Service::call(&mut app, request).await }
        });
        let conn = http1.serve_connection(TokioIo::new(tcp), service);
        let conn = graceful.watch(conn);
        // Repoll: see edge::repoll for why a connection is not simply
        // spawned.
        tokio::spawn(edge::repoll::Repoll::new(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        }));
    }
    graceful.shutdown().await;
    Ok(())
}

/// The soft limit on open files, from `/proc/self/limits` (Linux).
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
