//! One small function per tool: arguments in, the broker called, the
//! result rendered. Every rule lives in the broker.

use rmcp::model::{CallToolResult, JsonObject};
use serde_json::{json, Value};

use super::args::{with_auth, Args, SEND};
use super::{relative, render, McpServer};
use crate::broker::{CheckinRequest, GetRequest, Refusal};
use mcpmsg_core::protocol::kel::KelStatus;
use mcpmsg_core::protocol::now_ms;

impl McpServer {
    /// Routes a call to its tool: one small function each, below.
    pub(super) async fn dispatch(&self, tool: &str, map: JsonObject) -> Result<CallToolResult, Refusal> {
        match tool {
            "checkin_client" => self.checkin_client(map).await,
            "send_message" => self.send_message(map).await,
            "send_message_and_wait" => self.send_message_and_wait(map).await,
            "get_messages" => self.get_messages(map).await,
            "ack_messages" => self.ack_messages(map).await,
            "rotate_key" | "revoke_key" => self.key_event(tool, map).await,
            "get_client_keys" => self.get_client_keys(map).await,
            "list_clients" => self.list_clients(map).await,
            "get_my_identity" => self.get_my_identity(map).await,
            _ => unreachable!("tool names are checked before dispatch"),
        }
    }

    async fn checkin_client(&self, map: JsonObject) -> Result<CallToolResult, Refusal> {
        let b = &self.broker;
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
        Ok(render::ok(
            format!(
                "{verb} `{}`. Key event log at seq {}, head `{}`.",
                r.client_id, r.kel_seq, r.kel_head
            ),
            json!({"client_id": r.client_id, "registered": r.registered, "kel_seq": r.kel_seq.to_string(), "kel_head": r.kel_head}),
        ))
    }

    async fn send_message(&self, map: JsonObject) -> Result<CallToolResult, Refusal> {
        let b = &self.broker;
        let send = Args::new(map, &SEND)?.send()?;
        let to = send.recipient_id.clone();
        let r = b.send(send).await?;
        let dup = if r.duplicate {
            " (a retry of a message already accepted; nothing new was queued)"
        } else {
            ""
        };
        Ok(render::ok(
            format!(
                "Sent to `{to}`{dup}: message id `{}`, expires {}.",
                r.message_id,
                relative(now_ms(), r.expires_at)
            ),
            json!({"message_id": r.message_id, "duplicate": r.duplicate, "received_at": r.received_at.to_string(), "expires_at": r.expires_at.to_string()}),
        ))
    }

    async fn send_message_and_wait(&self, map: JsonObject) -> Result<CallToolResult, Refusal> {
        let b = &self.broker;
        let mut names = SEND.to_vec();
        names.push("timeout_s");
        let mut a = Args::new(map, &names)?;
        let timeout = a.opt_u64("timeout_s")?;
        let send = a.send()?;
        let to = send.recipient_id.clone();
        let r = b.send_and_wait(send, timeout).await?;
        let n = now_ms();
        let md = match &r.reply {
            Some(m) => format!("Sent message `{}` to `{to}`; the reply:\n\n{}", r.sent.message_id, render::message_markdown(m, n)),
            None if r.sent.duplicate => format!("Message `{}` to `{to}` was accepted before: this is a retry of it, which does not wait. Read replies with get_messages.", r.sent.message_id),
            None => format!("Sent message `{}` to `{to}`; no reply arrived before the timeout. It stays queued for `{to}` until it expires {}.", r.sent.message_id, relative(n, r.sent.expires_at)),
        };
        Ok(render::ok(
            md,
            json!({"message_id": r.sent.message_id, "duplicate": r.sent.duplicate, "timed_out": r.reply.is_none(), "reply": r.reply.as_ref().map(render::message_json)}),
        ))
    }

    async fn get_messages(&self, map: JsonObject) -> Result<CallToolResult, Refusal> {
        let b = &self.broker;
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
        let n = now_ms();
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
            md.push_str("These are leased: acknowledge them with ack_messages or they come back after the lease.\n");
        }
        Ok(render::ok(
            md,
            json!({"messages": msgs.iter().map(render::message_json).collect::<Vec<_>>()}),
        ))
    }

    async fn ack_messages(&self, map: JsonObject) -> Result<CallToolResult, Refusal> {
        let b = &self.broker;
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
        Ok(render::ok(
            format!(
                "Acknowledged {} message(s); {} unknown (already removed, expired, or never queued).",
                r.acked.len(),
                r.unknown.len()
            ),
            json!({"acked": r.acked, "unknown": r.unknown}),
        ))
    }

    async fn key_event(&self, tool: &str, map: JsonObject) -> Result<CallToolResult, Refusal> {
        let b = &self.broker;
        let revoke = tool == "revoke_key";
        let r = if revoke {
            let mut a = Args::new(map, &["event", "kel"])?;
            let event = a.event("event")?;
            b.revoke_key(event, a.events("kel")?).await?
        } else {
            b.rotate_key(Args::new(map, &["event"])?.event("event")?).await?
        };
        let what = if revoke { "Revoked" } else { "Rotated the keys of" };
        Ok(render::ok(
            format!(
                "{what} `{}`: log at seq {}, head `{}`, in effect from now.",
                r.client_id, r.kel_seq, r.kel_head
            ),
            json!({"client_id": r.client_id, "kel_seq": r.kel_seq.to_string(), "kel_head": r.kel_head, "accepted_at": r.accepted_at.to_string()}),
        ))
    }

    async fn get_client_keys(&self, map: JsonObject) -> Result<CallToolResult, Refusal> {
        let b = &self.broker;
        let k = b
            .client_keys(&Args::new(map, &["client_id"])?.req("client_id")?)
            .await?;
        let status = k.status.as_str();
        Ok(render::ok(
            format!(
                "`{}` ({status}): {} key event(s), the last accepted {}.",
                k.client_id,
                k.kel.len(),
                relative(now_ms(), *k.accepted_at.last().unwrap_or(&0))
            ),
            json!({"client_id": k.client_id, "kel": render::events_json(&k.kel), "accepted_at": k.accepted_at.iter().map(u64::to_string).collect::<Vec<_>>(), "revoked": k.status != KelStatus::Active, "status": status}),
        ))
    }

    async fn list_clients(&self, map: JsonObject) -> Result<CallToolResult, Refusal> {
        let b = &self.broker;
        let mut a = Args::new(map, &["cursor", "limit"])?;
        let (cursor, limit) = (a.opt("cursor")?, a.opt("limit")?);
        let (clients, next) = b.list_clients(cursor.as_deref(), limit.as_deref()).await?;
        let n = now_ms();
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
        Ok(render::ok(md, json!({"clients": list, "next_cursor": next})))
    }

    async fn get_my_identity(&self, map: JsonObject) -> Result<CallToolResult, Refusal> {
        Args::new(map, &[])?;
        Ok(render::ok(
            "This server cannot tell you who you are: identity is a key pair on your machine, not something the server hands out.\n\n\
             - Your client_id is `my_id` in `mcp_recipients.json`; your keys are in its `key_file`. `mcpmsg whoami` shows both.\n\
             - The people you can message are the `recipients` of that file (`mcpmsg recipients list`).\n\
             - Create an identity with `mcpmsg init --id ID`. To message from a model, run the `mcpmsg bridge`, which signs and seals for you."
                .to_owned(),
            json!({"config_file": "mcp_recipients.json", "how_to": "mcpmsg whoami; mcpmsg init --id ID; mcpmsg bridge", "server": "mcpmsg-server", "version": env!("CARGO_PKG_VERSION")}),
        ))
    }
}
