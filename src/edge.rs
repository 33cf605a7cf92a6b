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
//!   the one place that sees the raw bytes. A `tools/call` gets the
//!   protocol's `[invalid_argument]` tool error; other requests -32600.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{json, Map, Value};

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
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// The JSON-RPC checks of one request body.
fn check_body(bytes: &Bytes) -> Result<(), Box<Response>> {
    let value = match parse_strict(bytes) {
        Ok(v) => v,
        Err(Strict::Syntax(e)) => return Err(Box::new(rpc_error(Value::Null, -32700, format!("parse error: {e}")))),
        Err(Strict::Duplicate(key)) => return Err(Box::new(duplicate(bytes, &key))),
    };
    let Value::Object(msg) = value else {
        let what = if value.is_array() {
            "batches are not supported (this server does not offer protocol 2025-03-26); send one request per POST"
        } else {
            "a JSON-RPC message is an object"
        };
        return Err(Box::new(rpc_error(
            Value::Null,
            -32600,
            format!("invalid request: {what}"),
        )));
    };
    let id = msg.get("id").cloned().unwrap_or(Value::Null);
    if msg.get("jsonrpc") != Some(&json!("2.0")) {
        return Err(Box::new(rpc_error(
            id,
            -32600,
            "invalid request: \"jsonrpc\" must be \"2.0\"",
        )));
    }
    let is_response = msg.contains_key("result") || msg.contains_key("error");
    if !is_response && !msg.get("method").is_some_and(Value::is_string) {
        return Err(Box::new(rpc_error(
            id,
            -32600,
            "invalid request: \"method\" must be a string",
        )));
    }
    if msg.get("method") == Some(&json!("tools/call")) {
        let params = msg.get("params").and_then(Value::as_object);
        let name_ok = params.and_then(|p| p.get("name")).is_some_and(Value::is_string);
        let args_ok = params
            .and_then(|p| p.get("arguments"))
            .is_none_or(|a| a.is_object() || a.is_null());
        if !name_ok || !args_ok {
            return Err(Box::new(rpc_error(
                id,
                -32602,
                "invalid params: tools/call takes params {\"name\": string, \"arguments\": object}",
            )));
        }
    }
    Ok(())
}

/// A request with a duplicate member: a `tools/call` gets the protocol's
/// tool error (HTTP 200, as for any refused call); anything else -32600.
fn duplicate(bytes: &Bytes, key: &str) -> Response {
    let shown = crate::protocol::escape_inline(key, 64);
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

enum Strict {
    Syntax(serde_json::Error),
    Duplicate(String),
}

/// Parses JSON, refusing an object that names a member twice, at any depth.
fn parse_strict(bytes: &[u8]) -> Result<Value, Strict> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = NoDuplicates.deserialize(&mut de).map_err(|e| {
        let text = e.to_string();
        match text.strip_prefix(DUP) {
            Some(rest) => Strict::Duplicate(rest.split(" at line").next().unwrap_or(rest).to_owned()),
            None => Strict::Syntax(e),
        }
    })?;
    de.end().map_err(Strict::Syntax)?;
    Ok(value)
}

const DUP: &str = "duplicate member: ";

struct NoDuplicates;

impl<'de> DeserializeSeed<'de> for NoDuplicates {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NoDuplicates {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(NoDuplicates)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(NoDuplicates)?;
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format!("{DUP}{key}")));
            }
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_found_at_any_depth() {
        assert!(parse_strict(br#"{"a":1,"b":{"c":[{"d":1}]}}"#).is_ok());
        for bad in [
            &br#"{"a":1,"a":2}"#[..],
            br#"{"params":{"arguments":{"event":{"type":"rotation","type":"revocation"}}}}"#,
        ] {
            assert!(matches!(parse_strict(bad), Err(Strict::Duplicate(_))));
        }
        assert!(matches!(parse_strict(b"{"), Err(Strict::Syntax(_))));
        assert!(matches!(parse_strict(b"{} x"), Err(Strict::Syntax(_))));
    }

    #[test]
    fn origins() {
        let edge = EdgeConfig {
            allowed_origins: vec!["https://app.example.com".into()],
            allowed_hosts: vec![],
            read_timeout: Duration::from_secs(1),
            body_limit: 1,
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
