//! The fast path for tool calls (issue 14): a stateless `tools/call` that
//! rmcp would serve as plain JSON is served here instead. The body is
//! parsed once, its `arguments` straight into the tool's type (no
//! `serde_json::Value` map), the tool runs as under rmcp
//! ([`crate::mcp::McpServer::call`]: the same gates, handler and
//! rendering), and the JSON-RPC response is written directly.
//!
//! Why it is safe to skip rmcp: the edge's own checks ([`super::guard`]:
//! Origin, body size and time, JSON-RPC shape, duplicate members) have run,
//! and the fast path takes only requests on which rmcp's own checks all
//! pass, by testing a narrower condition than each of them (Host, Accept,
//! Content-Type, protocol version header, the SEP-2243 headers, no session,
//! `_meta` only as 2026-07-28 requires it, an integer or string id, a
//! known tool). Anything else, or anything unusual, returns `None` and goes
//! to rmcp exactly as before.
//! A test runs the acceptance and hostile suites with it on and off.

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::mcp::{CallArgs, McpServer};
use mcpmsg_core::protocol::tools::ToolName;

/// The versions before 2026-07-28 the fast path serves: rmcp serves them
/// statelessly with no per-request metadata and no standard headers.
const LEGACY: [&str; 2] = ["2025-06-18", "2025-11-25"];

/// 2026-07-28: every request carries its client context in `_meta` and
/// names its method and tool in the `Mcp-Method` and `Mcp-Name` headers.
const CURRENT: &str = "2026-07-28";

/// The `_meta` members a 2026-07-28 call may carry here: the two rmcp
/// requires, the client's name, and a progress token (rmcp's clients send
/// one with every call; no tool reports progress, so it changes nothing).
/// Any other (a log level, say) sends the call to rmcp.
const META_KEYS: [&str; 4] = [
    "io.modelcontextprotocol/protocolVersion",
    "io.modelcontextprotocol/clientCapabilities",
    "io.modelcontextprotocol/clientInfo",
    "progressToken",
];

/// Which lifecycle a request's headers put it in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lifecycle {
    /// 2025-06-18 or 2025-11-25.
    Legacy,
    /// 2026-07-28.
    Current,
}

/// Serves eligible tool calls (see the module doc).
pub struct FastPath {
    mcp: Arc<McpServer>,
    /// The hosts rmcp allows (its `allowed_hosts`), judged as rmcp does.
    hosts: Vec<String>,
    /// Calls served, for `/health`.
    served: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for FastPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastPath").field("hosts", &self.hosts).finish()
    }
}

/// A JSON-RPC request id as rmcp accepts one.
#[derive(Deserialize, Serialize, Clone)]
#[serde(untagged)]
enum Id {
    Number(i64),
    Text(String),
}

/// A `tools/call` request with exactly these members.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Call<'a> {
    #[serde(borrow)]
    jsonrpc: &'a str,
    id: Id,
    #[serde(borrow)]
    method: &'a str,
    #[serde(borrow)]
    params: Params<'a>,
}

/// Its params: a name, an arguments object and, at 2026-07-28, `_meta`;
/// nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params<'a> {
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    arguments: &'a RawValue,
    #[serde(borrow, rename = "_meta", default)]
    meta: Option<&'a RawValue>,
}

#[derive(Serialize)]
struct Answer<'a> {
    jsonrpc: &'static str,
    id: &'a Id,
    result: &'a rmcp::model::CallToolResult,
}

impl FastPath {
    /// For the MCP handler of this node and the hosts rmcp allows.
    pub fn new(mcp: McpServer, hosts: Vec<String>) -> Self {
        Self {
            mcp: Arc::new(mcp),
            hosts,
            served: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// How many calls it served.
    pub fn served(&self) -> u64 {
        self.served.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The response to `body`, if the fast path takes it; `None` sends it
    /// on to rmcp.
    pub async fn serve(&self, parts: &Parts, body: &Bytes, peer: Option<IpAddr>) -> Option<Response> {
        if parts.uri.path() != "/mcp" {
            return None;
        }
        let lifecycle = self.lifecycle(parts)?;
        let call: Call<'_> = serde_json::from_slice(body).ok()?;
        let tool = ToolName::parse(&call.params.name)?;
        let arguments = call.params.arguments.get();
        if call.jsonrpc != "2.0" || call.method != "tools/call" || !arguments.starts_with('{') {
            return None;
        }
        let context_ok = match lifecycle {
            Lifecycle::Legacy => call.params.meta.is_none_or(progress_only),
            Lifecycle::Current => {
                one(&parts.headers, "mcp-name") == Some(&*call.params.name) && call.params.meta.is_some_and(meta_ok)
            }
        };
        if !context_ok {
            return None;
        }
        // Run here, not in a task of its own: a spawned task is pushed to
        // this worker's queue and wakes the other worker to steal it, a
        // cross-thread wake that costs more than the call at a low rate.
        // A client that hangs up drops this future; every tool is safe to
        // stop at an await (a long-poll is stopped so already), and a step
        // the store began completes there (a retry is idempotent).
        let mut result = self.mcp.call(tool, CallArgs::Text(arguments), peer).await;
        let id = call.id;
        // As rmcp answers a peer on a version before 2026-07-28: without
        // `resultType: "complete"`.
        if lifecycle == Lifecycle::Legacy {
            result.result_type.take_if(|t| t.is_complete());
        }
        let answer = Answer {
            jsonrpc: "2.0",
            id: &id,
            result: &result,
        };
        let bytes = serde_json::to_vec(&answer).ok()?;
        self.served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], bytes).into_response())
    }

    /// The lifecycle of a request whose every header rmcp judges passes,
    /// by a narrower test; `None` for any other.
    fn lifecycle(&self, parts: &Parts) -> Option<Lifecycle> {
        let h = &parts.headers;
        let lifecycle = match one(h, "mcp-protocol-version")? {
            v if LEGACY.contains(&v) => Lifecycle::Legacy,
            CURRENT => Lifecycle::Current,
            _ => return None,
        };
        let content_type_ok = one(h, header::CONTENT_TYPE.as_str()).is_some_and(|v| {
            let essence = v.split_once(';').map_or(v, |(e, _)| e);
            essence.trim().eq_ignore_ascii_case("application/json")
        });
        // A legacy call names no method or tool in headers (rmcp ignores
        // them there, but a middlebox may not); a current one names both,
        // once each (the tool is matched against the body by the caller).
        let standard_headers_ok = match lifecycle {
            Lifecycle::Legacy => !h.contains_key("mcp-method") && !h.contains_key("mcp-name"),
            Lifecycle::Current => one(h, "mcp-method") == Some("tools/call"),
        };
        let no_session_or_params = h
            .keys()
            .all(|k| k.as_str() != "mcp-session-id" && !k.as_str().starts_with("mcp-param-"));
        let ok = content_type_ok
            && standard_headers_ok
            && no_session_or_params
            && accepts_json_and_sse(h)
            && self.host_allowed(parts);
        ok.then_some(lifecycle)
    }

    /// rmcp's Host rule (`allowed_hosts`, host case-insensitive, a listed
    /// port must match), on exactly one valid Host header.
    fn host_allowed(&self, parts: &Parts) -> bool {
        let mut all = parts.headers.get_all(header::HOST).iter();
        let (Some(value), None) = (all.next(), all.next()) else {
            return false;
        };
        let Some(authority) = value
            .to_str()
            .ok()
            .and_then(|v| v.parse::<axum::http::uri::Authority>().ok())
        else {
            return false;
        };
        let norm = |h: &str| h.trim_matches('[').trim_matches(']').to_ascii_lowercase();
        let (host, port) = (norm(authority.host()), authority.port_u16());
        self.hosts.iter().any(|allowed| {
            let allowed = allowed.trim();
            let (a_host, a_port) = match allowed.parse::<axum::http::uri::Authority>() {
                Ok(a) => (norm(a.host()), a.port_u16()),
                Err(_) => (norm(allowed), None),
            };
            !allowed.is_empty() && a_host == host && a_port.is_none_or(|p| port == Some(p))
        })
    }
}

/// The one value of header `name`, if it has exactly one and it is text.
fn one<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let mut all = h.get_all(name).iter();
    match (all.next(), all.next()) {
        (Some(v), None) => v.to_str().ok(),
        _ => None,
    }
}

/// A 2026-07-28 call's `_meta`, judged by rmcp's own reading of it: only
/// the members [`META_KEYS`] names, its protocol version this one, its
/// client capabilities (and name, if given) well formed.
fn meta_ok(raw: &RawValue) -> bool {
    let Ok(meta) = serde_json::from_str::<rmcp::model::RequestMetaObject>(raw.get()) else {
        return false;
    };
    meta.0.keys().all(|k| META_KEYS.contains(&k.as_str()))
        && meta.protocol_version().is_some_and(|v| v.as_str() == CURRENT)
        && meta.client_capabilities().is_some()
        && (!meta.0.contains_key(META_KEYS[2]) || meta.client_info().is_some())
        && (!meta.0.contains_key(META_KEYS[3]) || meta.get_progress_token().is_some())
}

/// A legacy call's `_meta` holding nothing but a valid progress token.
fn progress_only(raw: &RawValue) -> bool {
    serde_json::from_str::<rmcp::model::RequestMetaObject>(raw.get())
        .is_ok_and(|meta| meta.0.keys().all(|k| k == "progressToken") && meta.get_progress_token().is_some())
}

/// Every `Accept` value is a plain list of media types (no parameters, so
/// no quality weights to judge), and they include both JSON and SSE.
fn accepts_json_and_sse(h: &HeaderMap) -> bool {
    let (mut json, mut sse) = (false, false);
    for value in h.get_all(header::ACCEPT) {
        let Ok(v) = value.to_str() else { return false };
        if v.contains(';') || v.contains('"') {
            return false;
        }
        for essence in v.split(',').map(str::trim) {
            json |= essence.eq_ignore_ascii_case("application/json");
            sse |= essence.eq_ignore_ascii_case("text/event-stream");
        }
    }
    json && sse
}
