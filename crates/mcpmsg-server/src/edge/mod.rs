//! The HTTP edge in front of rmcp: what rmcp 3.9 gets wrong or leaves out,
//! fixed in a layer of our own (see NOTES on rmcp in the project docs).
//!
//! - `Origin`, when present, must be a loopback origin or one given with
//!   `--allowed-origin`; anything else gets 403 (DNS rebinding and
//!   cross-site requests from a browser).
//! - A POST to `/mcp` is read whole here, within `--read-timeout` and the
//!   body limit, and checked before rmcp sees it: malformed JSON is a
//!   JSON-RPC parse error (-32700), a batch or a non-object an invalid
//!   request (-32600), a `tools/call` without a string `name` or with
//!   non-object `arguments` invalid params (-32602), each with HTTP 400
//!   (rmcp answers these with a plain-text 415 or -32601).
//! - Duplicate members anywhere in the request are refused (amendment A5):
//!   rmcp parses into maps where the last one silently wins, so this is
//!   the one place that sees the raw bytes. One pass of [`json::scan`]
//!   finds them and reads the envelope, without building a tree. A `tools/call` gets the
//!   protocol's `[invalid_argument]` tool error; other requests -32600.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use json::{Method as RpcMethod, ScanError, Shape};

mod fast;
mod json;
pub(crate) mod repoll;

pub use fast::FastPath;

/// The address a request came from, put on each request by the accept
/// loop: anonymous and refused calls are rate-limited by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// What the edge allows.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// Origins accepted besides loopback ones.
    pub allowed_origins: Vec<String>,
    /// Host names accepted besides loopback ones.
    pub allowed_hosts: Vec<String>,
    /// Longest time to read a request body.
    pub read_timeout: Duration,
    /// Largest request body.
    pub body_limit: usize,
    /// Serves eligible tool calls without rmcp (`None`: `--no-fast-path`,
    /// or sessions on).
    pub fast: Option<std::sync::Arc<FastPath>>,
}

fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host
            .rsplit_once(':')
            .map_or(host, |(h, p)| if p.parse::<u16>().is_ok() { h } else { host }),
    };
    matches!(name, "localhost" | "127.0.0.1" | "::1")
}

impl EdgeConfig {
    /// Whether `origin` (scheme://host[:port]) may call us.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        if self.allowed_origins.iter().any(|o| o == origin) {
            return true;
        }
        match origin.split_once("://") {
            Some(("http" | "https", host)) => is_loopback_host(host),
            _ => false,
        }
    }

    /// Whether the request's Host is loopback or one given with `--allowed-host`.
    pub fn host_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
            return false;
        };
        let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
        is_loopback_host(host) || self.allowed_hosts.iter().any(|a| a == name || a == host)
    }
}

/// A JSON-RPC error with HTTP 400.
fn rpc_error(id: Value, code: i64, message: impl Into<String>) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into()}});
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// The middleware: Origin for every route, body checks for POST `/mcp`.
pub async fn guard(State(edge): State<std::sync::Arc<EdgeConfig>>, request: Request, next: Next) -> Response {
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let allowed = origin.to_str().is_ok_and(|o| edge.origin_allowed(o));
        if !allowed {
            return (
                StatusCode::FORBIDDEN,
                "Forbidden: this Origin is not allowed (the operator adds one with --allowed-origin)",
            )
                .into_response();
        }
    }
    if request.method() != Method::POST || !request.uri().path().starts_with("/mcp") {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, edge.body_limit);
    let bytes = match tokio::time::timeout(edge.read_timeout, read).await {
        Err(_) => {
            return (
                StatusCode::REQUEST_TIMEOUT,
                "Request Timeout: the body did not arrive in time",
            )
                .into_response()
        }
        Ok(Err(_)) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Payload Too Large: at most {} bytes", edge.body_limit),
            )
                .into_response()
        }
        Ok(Ok(b)) => b,
    };
    if let Err(refusal) = check_body(&bytes) {
        return *refusal;
    }
    if let Some(fast) = &edge.fast {
        let peer = parts.extensions.get::<PeerAddr>().map(|p| p.0.ip());
        if let Some(answer) = fast.serve(&parts, &bytes, peer).await {
            return answer;
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// The JSON-RPC checks of one request body, from one pass over it.
fn check_body(bytes: &Bytes) -> Result<(), Box<Response>> {
    let refuse =
        |id: Option<Value>, code, message: &str| Err(Box::new(rpc_error(id.unwrap_or(Value::Null), code, message)));
    let env = match json::scan(bytes) {
        Ok(Shape::Object(env)) => env,
        Ok(Shape::NotObject { array: true }) => {
            return refuse(
                None,
                -32600,
                "invalid request: batches are not supported (this server does not offer protocol 2025-03-26); send one request per POST",
            )
        }
        Ok(Shape::NotObject { array: false }) => {
            return refuse(None, -32600, "invalid request: a JSON-RPC message is an object")
        }
        Err(ScanError::Syntax(e)) => return refuse(None, -32700, &format!("parse error: {e}")),
        Err(ScanError::Duplicate(key)) => return Err(Box::new(duplicate(bytes, &key))),
    };
    if !env.jsonrpc_2 {
        return refuse(env.id, -32600, "invalid request: \"jsonrpc\" must be \"2.0\"");
    }
    let has_method = matches!(env.method, RpcMethod::ToolsCall | RpcMethod::Other);
    if !env.is_response && !has_method {
        return refuse(env.id, -32600, "invalid request: \"method\" must be a string");
    }
    if env.method == RpcMethod::ToolsCall && !(env.params_name && env.params_arguments_ok) {
        return refuse(
            env.id,
            -32602,
            "invalid params: tools/call takes params {\"name\": string, \"arguments\": object}",
        );
    }
    Ok(())
}

/// A request with a duplicate member: a `tools/call` gets the protocol's
/// tool error (HTTP 200, as for any refused call); anything else -32600.
fn duplicate(bytes: &Bytes, key: &str) -> Response {
    let shown = mcpmsg_core::protocol::escape_inline(key, 64);
    let message = format!("duplicate member {shown:?}: a request or event object may name each member once");
    // Last-wins parsing is safe here: only to find the id and method.
    let loose: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let id = loose.get("id").cloned().unwrap_or(Value::Null);
    if loose.get("method") != Some(&json!("tools/call")) || id.is_null() {
        return rpc_error(id, -32600, format!("invalid request: {message}"));
    }
    let result = json!({
        "content": [{"type": "text", "text": format!("[invalid_argument] {message}")}],
        "structuredContent": {"error": {"code": "invalid_argument", "message": message}},
        "isError": true,
    });
    axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let edge = EdgeConfig {
            allowed_origins: vec!["https://app.example.com".into()],
            allowed_hosts: vec![],
            read_timeout: Duration::from_secs(1),
            body_limit: 1,
            fast: None,
        };
        for ok in [
            "http://localhost:3000",
            "http://127.0.0.1",
            "http://[::1]:8123",
            "https://app.example.com",
        ] {
            assert!(edge.origin_allowed(ok), "{ok}");
        }
        for bad in [
            "https://evil.example",
            "http://localhost.evil.example",
            "null",
            "file://",
            "http://127.0.0.1.evil.example",
        ] {
            assert!(!edge.origin_allowed(bad), "{bad}");
        }
    }
}
