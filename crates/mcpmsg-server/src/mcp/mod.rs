//! The MCP adapter: parses tool arguments, calls the broker, renders the
//! result. Nothing else: every rule lives in [`crate::broker`].
//!
//! Arguments are parsed by hand from the JSON object rather than through
//! typed `Parameters<T>`: a wrong type or an unknown argument must come back
//! as an `isError` result with `[invalid_argument]` naming the field
//! (PROTOCOL §7), not as an opaque JSON-RPC error.

mod render;
mod tools;

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, JsonObject, ListToolsResult,
    PaginatedRequestParams, ProtocolVersion, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{json, Value};

use crate::broker::{Broker, CheckinRequest, GetRequest, Refusal};
use mcpmsg_core::protocol::kel::{Event, KelStatus};
use mcpmsg_core::protocol::{check_client_id, now_ms, SendMessage};

pub use render::relative;
pub use tools::NAMES as TOOL_NAMES;

/// The MCP server handler; cheap to clone (the broker is shared).
#[derive(Clone)]
pub struct McpServer {
    broker: Arc<Broker>,
}

impl McpServer {
    /// A handler over `broker`.
    pub fn new(broker: Arc<Broker>) -> Self {
        Self { broker }
    }
}

/// Typed access to a tool's arguments.
struct Args {
    map: JsonObject,
}

impl Args {
    fn new(map: JsonObject, allowed: &[&str]) -> Result<Self, Refusal> {
        if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            let takes = if allowed.is_empty() {
                "this tool takes no arguments".to_owned()
            } else {
                format!("this tool takes {}", allowed.join(", "))
            };
            return Err(Refusal::invalid(format!(
                "unknown argument {:?}; {takes}",
                mcpmsg_core::protocol::escape_inline(k, 64)
            )));
        }
        Ok(Self { map })
    }

    /// An optional string, moved out of the arguments (a message body is
    /// not copied); JSON `null` counts as absent.
    fn opt(&mut self, name: &str) -> Result<Option<String>, Refusal> {
        match self.map.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Refusal::invalid(format!("{name}: expected a string"))),
        }
    }

    fn req(&mut self, name: &str) -> Result<String, Refusal> {
        self.opt(name)?
            .ok_or_else(|| Refusal::invalid(format!("{name}: required")))
    }

    fn opt_u64(&self, name: &str) -> Result<Option<u64>, Refusal> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| Refusal::invalid(format!("{name}: expected a non-negative integer"))),
        }
    }

    fn event(&mut self, name: &str) -> Result<Event, Refusal> {
        let v = self
            .map
            .remove(name)
            .ok_or_else(|| Refusal::invalid(format!("{name}: required")))?;
        serde_json::from_value(v).map_err(|e| Refusal::invalid(format!("{name}: not a key event (PROTOCOL §3): {e}")))
    }

    fn events(&mut self, name: &str) -> Result<Option<Vec<Event>>, Refusal> {
        match self.map.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v)
                .map(Some)
                .map_err(|e| Refusal::invalid(format!("{name}: not an array of key events (PROTOCOL §3): {e}"))),
        }
    }

    fn send(&mut self) -> Result<SendMessage, Refusal> {
        Ok(SendMessage {
            sender_id: self.req("sender_id")?,
            recipient_id: self.req("recipient_id")?,
            message: self.req("message")?,
            content_type: self.opt("content_type")?,
            in_reply_to: self.opt("in_reply_to")?,
            key_id: self.req("key_id")?,
            ts: self.req("ts")?,
            nonce: self.req("nonce")?,
            sig: self.req("sig")?,
        })
    }
}

const AUTH: [&str; 4] = ["key_id", "ts", "nonce", "sig"];
const SEND: [&str; 9] = [
    "sender_id",
    "recipient_id",
    "message",
    "content_type",
    "in_reply_to",
    "key_id",
    "ts",
    "nonce",
    "sig",
];

fn with_auth(names: &[&'static str]) -> Vec<&'static str> {
    names.iter().copied().chain(AUTH).collect()
}

impl McpServer {
    async fn dispatch(&self, tool: &str, map: JsonObject) -> Result<CallToolResult, Refusal> {
        let b = &self.broker;
        let now = now_ms;
        Ok(match tool {
            "checkin_client" => {
                let mut a = Args::new(map, &with_auth(&["client_id", "name", "capabilities", "kel"]))?;
                let r = b
                    .checkin(CheckinRequest {
                        client_id: a.req("client_id")?,
                        name: a.req("name")?,
                        capabilities: a.req("capabilities")?,
                        key_id: a.req("key_id")?,
                        ts: a.req("ts")?,
                        nonce: a.req("nonce")?,
                        sig: a.req("sig")?,
                        kel: a.events("kel")?,
                    })
                    .await?;
                let verb = if r.registered { "Registered" } else { "Checked in" };
                render::ok(
                    format!(
                        "{verb} `{}`. Key event log at seq {}, head `{}`.",
                        r.client_id, r.kel_seq, r.kel_head
                    ),
                    json!({"client_id": r.client_id, "registered": r.registered, "kel_seq": r.kel_seq.to_string(), "kel_head": r.kel_head}),
                )
            }
            "send_message" => {
                let send = Args::new(map, &SEND)?.send()?;
                let to = send.recipient_id.clone();
                let r = b.send(send).await?;
                let dup = if r.duplicate {
                    " (a retry of a message already accepted; nothing new was queued)"
                } else {
                    ""
                };
                render::ok(
                    format!(
                        "Sent to `{to}`{dup}: message id `{}`, expires {}.",
                        r.message_id,
                        relative(now(), r.expires_at)
                    ),
                    json!({"message_id": r.message_id, "duplicate": r.duplicate, "received_at": r.received_at.to_string(), "expires_at": r.expires_at.to_string()}),
                )
            }
            "send_message_and_wait" => {
                let mut names = SEND.to_vec();
                names.push("timeout_s");
                let mut a = Args::new(map, &names)?;
                let timeout = a.opt_u64("timeout_s")?;
                let send = a.send()?;
                let to = send.recipient_id.clone();
                let r = b.send_and_wait(send, timeout).await?;
                let n = now();
                let md = match &r.reply {
                    Some(m) => format!("Sent message `{}` to `{to}`; the reply:\n\n{}", r.sent.message_id, render::message_markdown(m, n)),
                    None if r.sent.duplicate => format!("Message `{}` to `{to}` was accepted before: this is a retry of it, which does not wait. Read replies with get_messages.", r.sent.message_id),
                    None => format!("Sent message `{}` to `{to}`; no reply arrived before the timeout. It stays queued for `{to}` until it expires {}.", r.sent.message_id, relative(n, r.sent.expires_at)),
                };
                render::ok(
                    md,
                    json!({"message_id": r.sent.message_id, "duplicate": r.sent.duplicate, "timed_out": r.reply.is_none(), "reply": r.reply.as_ref().map(render::message_json)}),
                )
            }
            "get_messages" => {
                let mut a = Args::new(map, &with_auth(&["client_id", "max", "wait_s", "ack"]))?;
                let req = GetRequest {
                    client_id: a.req("client_id")?,
                    max: a.opt("max")?,
                    wait_s: a.opt("wait_s")?,
                    ack: a.opt("ack")?,
                    key_id: a.req("key_id")?,
                    ts: a.req("ts")?,
                    nonce: a.req("nonce")?,
                    sig: a.req("sig")?,
                };
                let manual = req.ack.as_deref() == Some("manual");
                let msgs = b.get_messages(req).await?;
                let n = now();
                let mut md = match msgs.len() {
                    0 => "No messages.".to_owned(),
                    1 => "**1 message**\n\n".to_owned(),
                    k => format!("**{k} messages**\n\n"),
                };
                for m in &msgs {
                    md.push_str(&render::message_markdown(m, n));
                    md.push('\n');
                }
                if manual && !msgs.is_empty() {
                    md.push_str(
                        "These are leased: acknowledge them with ack_messages or they come back after the lease.\n",
                    );
                }
                render::ok(
                    md,
                    json!({"messages": msgs.iter().map(render::message_json).collect::<Vec<_>>()}),
                )
            }
            "ack_messages" => {
                let mut a = Args::new(map, &with_auth(&["client_id", "message_ids"]))?;
                let r = b
                    .ack(
                        &a.req("client_id")?,
                        &a.req("message_ids")?,
                        &a.req("key_id")?,
                        &a.req("ts")?,
                        &a.req("nonce")?,
                        &a.req("sig")?,
                    )
                    .await?;
                render::ok(
                    format!(
                        "Acknowledged {} message(s); {} unknown (already removed, expired, or never queued).",
                        r.acked.len(),
                        r.unknown.len()
                    ),
                    json!({"acked": r.acked, "unknown": r.unknown}),
                )
            }
            "rotate_key" | "revoke_key" => {
                let revoke = tool == "revoke_key";
                let r = if revoke {
                    let mut a = Args::new(map, &["event", "kel"])?;
                    let event = a.event("event")?;
                    b.revoke_key(event, a.events("kel")?).await?
                } else {
                    b.rotate_key(Args::new(map, &["event"])?.event("event")?).await?
                };
                let what = if revoke { "Revoked" } else { "Rotated the keys of" };
                render::ok(
                    format!(
                        "{what} `{}`: log at seq {}, head `{}`, in effect from now.",
                        r.client_id, r.kel_seq, r.kel_head
                    ),
                    json!({"client_id": r.client_id, "kel_seq": r.kel_seq.to_string(), "kel_head": r.kel_head, "accepted_at": r.accepted_at.to_string()}),
                )
            }
            "get_client_keys" => {
                let k = b
                    .client_keys(&Args::new(map, &["client_id"])?.req("client_id")?)
                    .await?;
                let status = k.status.as_str();
                render::ok(
                    format!(
                        "`{}` ({status}): {} key event(s), the last accepted {}.",
                        k.client_id,
                        k.kel.len(),
                        relative(now(), *k.accepted_at.last().unwrap_or(&0))
                    ),
                    json!({"client_id": k.client_id, "kel": render::events_json(&k.kel), "accepted_at": k.accepted_at.iter().map(u64::to_string).collect::<Vec<_>>(), "revoked": k.status != KelStatus::Active, "status": status}),
                )
            }
            "list_clients" => {
                let mut a = Args::new(map, &["cursor", "limit"])?;
                let (cursor, limit) = (a.opt("cursor")?, a.opt("limit")?);
                let (clients, next) = b.list_clients(cursor.as_deref(), limit.as_deref()).await?;
                let n = now();
                let mut md = format!("**{} client(s)**\n\n", clients.len());
                for c in &clients {
                    let status = match c.status {
                        KelStatus::Active => String::new(),
                        other => format!(" ({})", other.as_str()),
                    };
                    md.push_str(&format!(
                        "- `{}`{status}: {} (last check-in {})\n",
                        c.client_id,
                        mcpmsg_core::protocol::escape_inline(&c.name, 64),
                        relative(n, c.last_checkin)
                    ));
                }
                if let Some(next) = &next {
                    md.push_str(&format!("\nMore: call again with cursor `{next}`.\n"));
                }
                let list: Vec<Value> = clients
                    .iter()
                    .map(|c| json!({"client_id": c.client_id, "name": c.name, "capabilities": c.capabilities, "signing_kid": c.signing_kid, "last_checkin": c.last_checkin.to_string(), "revoked": c.status != KelStatus::Active, "status": c.status.as_str()}))
                    .collect();
                render::ok(md, json!({"clients": list, "next_cursor": next}))
            }
            "get_my_identity" => {
                Args::new(map, &[])?;
                render::ok(
                    "This server cannot tell you who you are: identity is a key pair on your machine, not something the server hands out.\n\n\
                     - Your client_id is `my_id` in `mcp_recipients.json`; your keys are in its `key_file`. `mcpmsg whoami` shows both.\n\
                     - The people you can message are the `recipients` of that file (`mcpmsg recipients list`).\n\
                     - Create an identity with `mcpmsg init --id ID`. To message from a model, run the `mcpmsg bridge`, which signs and seals for you."
                        .to_owned(),
                    json!({"config_file": "mcp_recipients.json", "how_to": "mcpmsg whoami; mcpmsg init --id ID; mcpmsg bridge", "server": "mcpmsg-server", "version": env!("CARGO_PKG_VERSION")}),
                )
            }
            _ => unreachable!("tool names are checked before dispatch"),
        })
    }
}

/// The caller's address, from the HTTP request rmcp hands down.
fn peer_ip(context: &RequestContext<RoleServer>) -> Option<std::net::IpAddr> {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<crate::edge::PeerAddr>())
        .map(|p| p.0.ip())
}

/// The acting client named in the arguments, when it has a valid form (for logs).
fn actor(tool: &str, map: &JsonObject) -> String {
    let v = match tool {
        "send_message" | "send_message_and_wait" => map.get("sender_id"),
        "rotate_key" | "revoke_key" => map.get("event").and_then(|e| e.get("client_id")),
        _ => map.get("client_id"),
    };
    v.and_then(Value::as_str)
        .filter(|s| check_client_id("", s).is_ok())
        .unwrap_or("-")
        .to_owned()
}

impl ServerHandler for McpServer {
    /// Every version rmcp knows but 2025-03-26: that one requires JSON-RPC
    /// batches, which this server does not take (a client asking for it is
    /// offered a newer version in the `initialize` answer).
    fn supported_protocol_versions(&self) -> std::borrow::Cow<'static, [ProtocolVersion]> {
        std::borrow::Cow::Owned(
            ProtocolVersion::KNOWN_VERSIONS
                .iter()
                .filter(|v| **v != ProtocolVersion::V_2025_03_26)
                .cloned()
                .collect(),
        )
    }

    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build());
        info.server_info = Implementation::new("mcpmsg-server", env!("CARGO_PKG_VERSION"));
        info.instructions = Some(
            "Signed messaging between MCP clients. Every send is signed with the sender's Ed25519 key and checked here; \
             a model cannot sign, so use the `mcpmsg bridge` tools, which hold the keys on the user's machine."
                .into(),
        );
        info
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::all()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let tool = request.name.as_ref();
        if !tools::NAMES.contains(&tool) {
            return Err(ErrorData::invalid_params(format!("unknown tool {tool:?}"), None));
        }
        let map = request.arguments.unwrap_or_default();
        let client_id = actor(tool, &map);
        let peer = peer_ip(&context);
        let anonymous = tools::is_anonymous(tool);
        // Anonymous calls count against the caller's address; signed ones
        // against the identity once authenticated, and, when refused,
        // against the address (which is then blocked for a while before
        // any signature is checked).
        let gate = match (peer, anonymous) {
            (Some(ip), true) => self.broker.anonymous_call(ip),
            (Some(ip), false) => self.broker.signed_call(ip),
            (None, _) => Ok(()),
        };
        let outcome = match gate {
            Ok(()) => self.dispatch(tool, map).await,
            Err(limited) => Err(limited),
        };
        let result = match outcome {
            Ok(r) => r,
            Err(refusal) => {
                tracing::info!(tool, code = refusal.code.as_str(), client_id = %client_id, "refused");
                if let (Some(ip), false) = (peer, anonymous) {
                    if refusal.code != mcpmsg_core::protocol::ErrorCode::RateLimited {
                        self.broker.refused_call(ip);
                    }
                }
                render::refused(&refusal)
            }
        };
        Ok(result.into())
    }
}
