//! One small function per tool: typed arguments in, the broker called, the
//! typed result rendered. Every rule lives in the broker; every wire type
//! in [`mcpmsg_core::protocol::tools`].

use std::future::Future;

use rmcp::model::CallToolResult;
use serde_json::Value;

use super::{relative, render, CallArgs, McpServer};
use crate::broker::Refusal;
use mcpmsg_core::protocol::broadcast::Filter;
use mcpmsg_core::protocol::now_ms;
use mcpmsg_core::protocol::tools::{
    self as wire, parse_args, parse_args_text, AckMessagesArgs, CheckinClientArgs, GetClientKeysArgs, GetInboxUriArgs,
    GetMessagesArgs, GetMyIdentityArgs, GetServerKeyArgs, HeartbeatArgs, ListClientsArgs, RevokeKeyArgs, RotateKeyArgs,
    SendAndWaitArgs, SendMessage, ToolArgs, ToolName,
};

/// A tool's answer: markdown for people and models, and its typed result.
pub(super) type Answer<A> = (String, <A as ToolArgs>::Output);

impl McpServer {
    /// Routes a call to its tool: one small function each, below.
    pub(super) async fn dispatch(&self, tool: ToolName, args: CallArgs<'_>) -> Result<CallToolResult, Refusal> {
        match tool {
            ToolName::CheckinClient => run(args, |a| self.checkin_client(a)).await,
            ToolName::SendMessage => run(args, |a| self.send_message(a)).await,
            ToolName::SendMessageAndWait => run(args, |a| self.send_message_and_wait(a)).await,
            ToolName::GetMessages => run(args, |a| self.get_messages(a)).await,
            ToolName::AckMessages => run(args, |a| self.ack_messages(a)).await,
            ToolName::RotateKey => run(args, |a| self.rotate_key(a)).await,
            ToolName::RevokeKey => run(args, |a| self.revoke_key(a)).await,
            ToolName::GetClientKeys => run(args, |a| self.get_client_keys(a)).await,
            ToolName::ListClients => run(args, |a| self.list_clients(a)).await,
            ToolName::GetMyIdentity => run(args, |a| async { Ok(get_my_identity(a)) }).await,
            ToolName::Heartbeat => run(args, |a| self.heartbeat(a)).await,
            ToolName::GetServerKey => run(args, |_: GetServerKeyArgs| async { Ok(self.get_server_key()) }).await,
            ToolName::GetInboxUri => run(args, |a| self.get_inbox_uri(a)).await,
            ToolName::ChangeRoom => run(args, |a| self.change_room(a)).await,
            ToolName::GetRoomLog => run(args, |a| self.get_room_log(a)).await,
            ToolName::ListRooms => run(args, |a| self.list_rooms(a)).await,
            ToolName::SendRoomMessage => run(args, |a| self.send_room_message(a)).await,
            ToolName::EnterQueue => run(args, |a| self.enter_queue(a)).await,
            ToolName::LeaveQueue => run(args, |a| self.leave_queue(a)).await,
            ToolName::BlockClient => run(args, |a| self.block_client(a)).await,
            ToolName::SendSignal => run(args, |a| self.send_signal(a)).await,
            ToolName::RegisterProtocol => run(args, |a| self.register_protocol(a)).await,
            ToolName::GetProtocol => run(args, |a| self.get_protocol(a)).await,
            ToolName::DiscoverProtocols => run(args, |a| self.discover_protocols(a)).await,
            ToolName::DeclareCapabilities => run(args, |a| self.declare_capabilities(a)).await,
            ToolName::Negotiate => run(args, |a| self.negotiate(a)).await,
            ToolName::CompatibilityMatrix => run(args, |a| self.compatibility_matrix(a)).await,
            ToolName::Broadcast => run(args, |a| self.broadcast(a)).await,
            ToolName::RegisterAdapter => run(args, |a| self.register_adapter(a)).await,
            ToolName::ListAdapters => run(args, |a| self.list_adapters(a)).await,
        }
    }

    async fn get_inbox_uri(&self, args: GetInboxUriArgs) -> Result<Answer<GetInboxUriArgs>, Refusal> {
        let uri = self.broker.get_inbox_uri(args).await?;
        let md = format!(
            "Your inbox is the resource `{uri}`: subscribe to it for a notification when an item arrives, then read with get_messages. Keep the URI to yourself."
        );
        Ok((md, wire::InboxUri { uri }))
    }

    fn get_server_key(&self) -> Answer<GetServerKeyArgs> {
        let info = self.broker.server_key_info();
        let md = format!(
            "This server signs its own statements with `{}`, fingerprint `{}`. Pin it on first contact (the `mcpmsg` CLI does) and check every server statement against it.",
            info.server_key, info.fingerprint
        );
        (md, info)
    }

    async fn heartbeat(&self, args: HeartbeatArgs) -> Result<Answer<HeartbeatArgs>, Refusal> {
        let client_id = args.client_id.clone();
        let at = self.broker.heartbeat(args).await?;
        let md = format!("`{client_id}` is active.");
        let out = wire::HeartbeatResult {
            client_id,
            presence: wire::PresenceStatus::Active,
            last_seen: at.to_string(),
        };
        Ok((md, out))
    }

    async fn checkin_client(&self, args: CheckinClientArgs) -> Result<Answer<CheckinClientArgs>, Refusal> {
        let r = self.broker.checkin(args).await?;
        let verb = if r.registered { "Registered" } else { "Checked in" };
        let md = format!(
            "{verb} `{}`. Key event log at seq {}, head `{}`.",
            r.client_id, r.kel_seq, r.kel_head
        );
        Ok((md, r.into()))
    }

    async fn send_message(&self, args: SendMessage) -> Result<Answer<SendMessage>, Refusal> {
        let to = args.recipient_id.clone();
        let r = self.broker.send(args).await?;
        let dup = if r.duplicate {
            " (a retry of a message already accepted; nothing new was queued)"
        } else {
            ""
        };
        let md = format!(
            "Sent to `{to}`{dup}: message id `{}`, expires {}.",
            r.message_id,
            relative(now_ms(), r.expires_at)
        );
        Ok((md, r.into()))
    }

    async fn send_message_and_wait(&self, args: SendAndWaitArgs) -> Result<Answer<SendAndWaitArgs>, Refusal> {
        let (send, timeout) = args.into_parts();
        let to = send.recipient_id.clone();
        let r = self.broker.send_and_wait(send, timeout).await?;
        let (n, id) = (now_ms(), &r.sent.message_id);
        let md = match &r.reply {
            Some(m) => format!("Sent message `{id}` to `{to}`; the reply:\n\n{}", render::message_markdown(m, n)),
            None if r.sent.duplicate => format!("Message `{id}` to `{to}` was accepted before: this is a retry of it, which does not wait. Read replies with get_messages."),
            None => format!("Sent message `{id}` to `{to}`; no reply arrived before the timeout. It stays queued for `{to}` until it expires {}.", relative(n, r.sent.expires_at)),
        };
        let out = wire::SendAndWaitResult {
            message_id: r.sent.message_id,
            duplicate: r.sent.duplicate,
            timed_out: r.reply.is_none(),
            reply: r.reply.as_ref().map(render::delivered),
        };
        Ok((md, out))
    }

    async fn get_messages(&self, args: GetMessagesArgs) -> Result<Answer<GetMessagesArgs>, Refusal> {
        let manual = args.ack.as_deref() == Some("manual");
        let msgs = self.broker.get_messages(args).await?;
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
        let messages = msgs.iter().map(render::inbox_item).collect();
        Ok((md, wire::Messages { messages }))
    }

    async fn ack_messages(&self, args: AckMessagesArgs) -> Result<Answer<AckMessagesArgs>, Refusal> {
        let r = self.broker.ack(args).await?;
        let md = format!(
            "Acknowledged {} message(s); {} unknown (already removed, expired, or never queued).",
            r.acked.len(),
            r.unknown.len()
        );
        Ok((
            md,
            wire::AckResult {
                acked: r.acked,
                unknown: r.unknown,
            },
        ))
    }

    async fn rotate_key(&self, args: RotateKeyArgs) -> Result<Answer<RotateKeyArgs>, Refusal> {
        let r = self.broker.rotate_key(args.event).await?;
        Ok((render::kel_update("Rotated the keys of", &r), r.into()))
    }

    async fn revoke_key(&self, args: RevokeKeyArgs) -> Result<Answer<RevokeKeyArgs>, Refusal> {
        let r = self.broker.revoke_key(args.event, args.kel).await?;
        Ok((render::kel_update("Revoked", &r), r.into()))
    }

    async fn get_client_keys(&self, args: GetClientKeysArgs) -> Result<Answer<GetClientKeysArgs>, Refusal> {
        let k = self.broker.client_keys(&args.client_id).await?;
        let md = format!(
            "`{}` ({}): {} key event(s), the last accepted {}.",
            k.client_id,
            k.status.as_str(),
            k.kel.len(),
            relative(now_ms(), *k.accepted_at.last().unwrap_or(&0))
        );
        Ok((md, k.into()))
    }

    async fn list_clients(&self, args: ListClientsArgs) -> Result<Answer<ListClientsArgs>, Refusal> {
        let (clients, next) = self
            .broker
            .list_clients(
                args.cursor.as_deref(),
                args.limit.as_deref(),
                &Filter::parse(
                    args.tag.as_deref().unwrap_or_default(),
                    args.protocol.as_deref().unwrap_or_default(),
                    args.status.as_deref().unwrap_or_default(),
                )
                .map_err(Refusal::invalid)?,
            )
            .await?;
        let md = render::client_list(&clients, next.as_deref(), now_ms());
        let clients = clients.into_iter().map(Into::into).collect();
        Ok((
            md,
            wire::ClientList {
                clients,
                next_cursor: next,
            },
        ))
    }
}

fn get_my_identity(_: GetMyIdentityArgs) -> Answer<GetMyIdentityArgs> {
    let md = "This server cannot tell you who you are: identity is a key pair on your machine, not something the server hands out.\n\n\
         - Your client_id is `my_id` in `mcp_recipients.json`; your keys are in its `key_file`. `mcpmsg whoami` shows both.\n\
         - The people you can message are the `recipients` of that file (`mcpmsg recipients list`).\n\
         - Create an identity with `mcpmsg init --id ID`. To message from a model, run the `mcpmsg bridge`, which signs and seals for you.";
    let out = wire::IdentityHelp {
        config_file: "mcp_recipients.json".into(),
        how_to: "mcpmsg whoami; mcpmsg init --id ID; mcpmsg bridge".into(),
        server: "mcpmsg-server".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    };
    (md.to_owned(), out)
}

/// Parses the arguments of tool `A` (an `invalid_argument` naming the
/// member at fault), runs `handle`, and renders its answer.
async fn run<A, F, Fut>(args: CallArgs<'_>, handle: F) -> Result<CallToolResult, Refusal>
where
    A: ToolArgs,
    F: FnOnce(A) -> Fut,
    Fut: Future<Output = Result<Answer<A>, Refusal>>,
{
    let args = match args {
        CallArgs::Map(map) => parse_args::<A>(Value::Object(map)),
        CallArgs::Text(text) => parse_args_text::<A>(text),
    }
    .map_err(|e| Refusal::invalid(e.0))?;
    let (markdown, out) = handle(args).await?;
    Ok(render::ok(markdown, &out))
}
