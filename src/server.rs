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

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use axum::http::StatusCode;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::{Json, Router};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::broker::{Broker, Enrollment};
use crate::config::{ServerConfig, StoreSpec};
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
    let broker = Arc::new(Broker::new(
        config.broker.clone(),
        store.clone(),
        enrollment,
        shutdown.clone(),
    ));
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
    let mcp_config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_allowed_hosts(hosts)
        .with_max_request_body_bytes(body_limit);
    let handler = McpServer::new(broker.clone());
    let mcp: StreamableHttpService<McpServer, LocalSessionManager> =
        StreamableHttpService::new(move || Ok(handler.clone()), Default::default(), mcp_config);
    let started = Instant::now();
    let health = move || {
        let broker = broker.clone();
        async move {
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
            });
            (code, Json(body))
        }
    };
    Router::new()
        .nest_service("/mcp", mcp)
        .route("/health", get(health.clone()))
        .route("/api/mcp/health", get(health))
}

/// Serves on `listener` until `shutdown` is cancelled, then lets calls in
/// flight finish (parked waits return at once with what they have).
pub async fn run(listener: TcpListener, config: ServerConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let broker = broker(&config, shutdown.clone()).await?;
    let app = router(&config, broker);
    // Without TCP_NODELAY, Nagle's algorithm and delayed ACKs add tens of
    // milliseconds to small responses.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .context("server failed")
}
