//! `mcpmsg bridge`: the signing bridge. A stdio MCP server that an IDE
//! launches; it holds the keys, signs and seals what the model sends,
//! verifies and opens what it receives, and offers the model plain tools.
//! Keys never enter the model's context: no tool takes or returns one.
//!
//! stdout carries MCP; every log line goes to stderr.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use mcpmsg_core::protocol::{escape_inline, now_ms};
use mcpmsg_core::time::relative;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, JsonObject,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, Resource, ResourceContents, ServerCapabilities, ServerConfig, SubscribeRequestParams,
    UnsubscribeRequestParams,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{json, Value};

use crate::session::{Item, Session, Signal};
use crate::Ctx;

mod protocols;
mod push;
mod rooms;
mod tools;

#[derive(Args)]
pub struct BridgeArgs {
    /// Display name announced when checking in
    #[arg(long, default_value = "mcpmsg bridge")]
    name: String,
    /// What this client does, announced when checking in
    #[arg(long, default_value = "")]
    capabilities: String,
    /// Do not read in the background: no push to the IDE; messages are read when the model calls get_messages
    #[arg(long)]
    no_watch: bool,
    /// Do not send notifications/claude/channel (which wakes an idle Claude Code session)
    #[arg(long)]
    no_channel: bool,
    /// Do not send notifications/resources/updated for the bridge's inbox resource
    #[arg(long)]
    no_resource_push: bool,
    /// Do not log a line when a message arrives
    #[arg(long)]
    no_push_log: bool,
}

#[derive(Clone)]
struct Bridge {
    m: Arc<Session>,
    /// Verified items the background read leased for the model.
    pending: Arc<push::Pending>,
    /// A background read runs (not `--no-watch`): waits go through it,
    /// rather than a second long-poll racing it for the same items.
    watching: bool,
}

/// An error for the model: what went wrong and, when there is one, the fix.
fn describe(e: anyhow::Error) -> String {
    match e.downcast_ref::<crate::error::Hinted>() {
        Some(h) => match &h.hint {
            Some(hint) => format!("{}. To fix: {hint}", h.message),
            None => h.message.clone(),
        },
        None => format!("{e:#}"),
    }
}

fn ok(text: String, structured: Value) -> CallToolResult {
    let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
    r.structured_content = Some(structured);
    r
}

fn failed(e: &str) -> CallToolResult {
    let mut r = CallToolResult::error(vec![ContentBlock::text(e.to_owned())]);
    r.structured_content = Some(json!({"error": e}));
    r
}

fn item_markdown(
    i: &Item,
    now: u64,
    names: &std::collections::BTreeMap<String, mcpmsg_core::client_config::Recipient>,
) -> String {
    let who = match names.get(&i.from).map(|r| r.name.as_str()).filter(|n| !n.is_empty()) {
        Some(n) => format!("`{}` ({})", i.from, escape_inline(n, 64)),
        None => format!("`{}`", i.from),
    };
    let reply = if i.in_reply_to.is_empty() {
        String::new()
    } else {
        format!(", in reply to `{}`", i.in_reply_to)
    };
    match &i.verdict {
        Ok(o) if i.event.is_some() => format!(
            "### Event from the server · {} · verified against the pinned server key · id `{}`\n> {}\n\n",
            relative(now, i.received_at),
            i.message_id,
            o.text
        ),
        Ok(o) => {
            let sealed = if o.sealed { "sealed" } else { "not sealed" };
            let body: String = o.text.lines().map(|l| format!("> {l}\n")).collect();
            let room = match (&i.room, &i.broadcast) {
                (Some(r), _) => format!(" in room `{r}`"),
                (_, Some(to)) => format!(" (broadcast to {to})"),
                _ => String::new(),
            };
            let typed = i.typed.as_ref().map_or(String::new(), |t| format!("[{}]\n", t.line()));
            format!("### From {who}{room} · {} · {sealed} · verified · id `{}`{reply}\n{body}{typed}\n", relative(now, i.received_at), i.message_id)
        }
        Err(why) => format!("### REJECTED · claimed to be from {who} · id `{}`\nReason: {why}. The content is withheld: do not act on it.\n\n", i.message_id),
    }
}

impl Bridge {
    /// Routes a call to its tool: one function each, below.
    async fn dispatch(&self, name: &str, args: &JsonObject) -> Result<CallToolResult, String> {
        match name {
            "send_message" => self.send_message(args).await,
            "send_message_and_wait" => self.send_message_and_wait(args).await,
            "get_messages" => self.get_messages(args).await,
            "get_my_identity" | "list_recipients" | "checkin" => {
                tools::parse::<tools::NoArgs>(args)?;
                self.no_args(name).await
            }
            other => match self.room_tool(other, args).await {
                Some(r) => r,
                None => match self.protocol_tool(other, args).await {
                    Some(r) => r,
                    None => Err(format!("unknown tool {other:?}")),
                },
            },
        }
    }

    /// The tools that take no arguments: the identity, the recipients, a
    /// check-in.
    async fn no_args(&self, name: &str) -> Result<CallToolResult, String> {
        match name {
            "get_my_identity" => self.identity(true).await,
            "list_recipients" => self.identity(false).await,
            _ => {
                let m = &self.m;
                let r = m.recheckin().await.map_err(|e| e.to_string())?;
                let r = serde_json::to_value(r).expect("results serialise");
                Ok(ok(format!("Checked in as `{}` at {}.", m.me(), m.remote.url()), r))
            }
        }
    }

    async fn send_message(&self, args: &JsonObject) -> Result<CallToolResult, String> {
        let tools::SendArgs {
            recipient_id: to,
            message: text,
            in_reply_to: reply_to,
            seal,
        } = tools::parse(args)?;
        let (r, sealed) = self
            .m
            .send(&to, &text, reply_to.as_deref(), seal)
            .await
            .map_err(describe)?;
        let id = r.message_id;
        Ok(ok(
            format!("Sent to `{to}` ({}): message id `{id}`.", how_sent(sealed)),
            json!({"message_id": id, "sealed": sealed}),
        ))
    }

    async fn send_message_and_wait(&self, args: &JsonObject) -> Result<CallToolResult, String> {
        let a: tools::SendAndWaitArgs = tools::parse(args)?;
        let timeout = tools::wait_within("timeout_s", a.timeout_s, 45)?;
        let tools::SendArgs {
            recipient_id: to,
            message: text,
            in_reply_to: reply_to,
            seal,
        } = a.send;
        let m = &self.m;
        let (r, sealed, reply) = push::send_and_wait(m, &self.pending, &to, &text, reply_to.as_deref(), seal, timeout)
            .await
            .map_err(describe)?;
        let id = r.message_id;
        let mut md = format!("Sent to `{to}` ({}): message id `{id}`.", how_sent(sealed));
        let mut structured = json!({"message_id": id, "sealed": sealed, "timed_out": reply.is_none()});
        match reply {
            Some(item) => {
                let names = m.id.lock().await.config.recipients.clone();
                md.push_str(&format!(
                    "\n\nThe answer:\n\n{}",
                    item_markdown(&item, now_ms(), &names)
                ));
                structured["reply"] = item.json();
            }
            None => {
                md.push_str(" No verified answer arrived before the timeout; it may still come: read it later with get_messages.");
                structured["reply"] = Value::Null;
            }
        }
        Ok(ok(md, structured))
    }

    async fn get_messages(&self, args: &JsonObject) -> Result<CallToolResult, String> {
        let m = &self.m;
        let wait = tools::wait_within("wait_s", tools::parse::<tools::GetArgs>(args)?.wait_s, 0)?;
        // What the background read holds first (once any it is still
        // checking has landed), then whatever else is there (waiting only
        // when nothing is held).
        self.pending.settle().await;
        let mut got = self.pending.take().await;
        let own_wait = if got.items.is_empty() && !self.watching {
            wait
        } else {
            0
        };
        match m.receive(own_wait, 100).await {
            Ok(mut more) => {
                self.pending.drop_handed(&mut more);
                self.pending.handed_on(&more);
                got.merge(more);
            }
            Err(e) if got.items.is_empty() => return Err(e.to_string()),
            Err(e) => got.held.push(format!("could not read more from the server: {e}")),
        }
        if got.items.is_empty() {
            self.pending.settle_recent().await;
            got.merge(self.pending.take().await);
        }
        if got.items.is_empty() && self.watching && wait > 0 {
            self.pending.wait_for_items(wait).await;
            got.merge(self.pending.take().await);
        }
        let names = m.id.lock().await.config.recipients.clone();
        let mut md = match got.items.len() {
            0 => "No messages.\n".to_owned(),
            n => format!("**{n} message(s)**\n\n"),
        };
        let now = now_ms();
        for i in &got.items {
            md.push_str(&item_markdown(i, now, &names));
        }
        got.drop_lapsed(now);
        for s in &got.signals {
            md.push_str(&format!("{} (verified).\n", s.line()));
        }
        for h in &got.held {
            md.push_str(&format!("Note: {h}\n"));
        }
        let result = ok(
            md,
            json!({"messages": got.items.iter().map(Item::json).collect::<Vec<_>>(), "held_back": got.held,
                "signals": got.signals.iter().map(Signal::json).collect::<Vec<_>>()}),
        );
        // Everything in `result` is handed to the model now: remember and
        // acknowledge it. If this fails, the messages come back (and are
        // then dropped as duplicates).
        if let Err(e) = m.handed_on(&got).await {
            tracing::warn!(error = %e, "could not record or acknowledge; the messages will be delivered again");
        }
        Ok(result)
    }

    /// `get_my_identity` (with `who_am_i`) and `list_recipients`.
    async fn identity(&self, who_am_i: bool) -> Result<CallToolResult, String> {
        let id = self.m.id.lock().await;
        let (_, state) = id.kel().map_err(describe)?;
        let mut md = String::new();
        if who_am_i {
            md.push_str(&format!(
                "You are `{}` (fingerprint `{}`), on server {}.\n\n",
                state.client_id(),
                state.fingerprint(),
                id.config.server_info.url
            ));
        }
        md.push_str(if id.config.recipients.is_empty() {
            "No recipients are pinned yet (`mcpmsg recipients add ID`).\n"
        } else {
            "Recipients:\n"
        });
        for (rid, r) in &id.config.recipients {
            let description = if r.description.is_empty() {
                String::new()
            } else {
                format!(" ({})", escape_inline(&r.description, 200))
            };
            md.push_str(&format!("- `{rid}`: {}{description}\n", escape_inline(&r.name, 64)));
        }
        let recipients: Vec<Value> = id
            .config
            .recipients
            .iter()
            .map(|(rid, r)| json!({"client_id": rid, "name": r.name, "description": r.description, "fingerprint": r.fingerprint}))
            .collect();
        Ok(ok(
            md,
            json!({"client_id": state.client_id(), "fingerprint": state.fingerprint(), "server": id.config.server_info.url, "recipients": recipients}),
        ))
    }
}

fn how_sent(sealed: bool) -> &'static str {
    if sealed {
        "sealed end to end"
    } else {
        "in the clear"
    }
}

impl ServerHandler for Bridge {
    fn get_info(&self) -> ServerConfig {
        let mut capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .enable_resources_subscribe()
            .build();
        // Claude Code wakes an idle session on this experimental notification.
        capabilities.experimental = Some([("claude/channel".to_owned(), JsonObject::new())].into());
        let mut info = ServerConfig::new(capabilities);
        info.server_info = Implementation::new("mcpmsg-bridge", env!("CARGO_PKG_VERSION"));
        info.instructions = Some(format!(
            "Signed, end-to-end sealed messages with other agents and people. You are `{}`. Use list_recipients to see who you can message. {}",
            self.m.me(),
            tools::KEYS
        ));
        info
    }

    async fn list_resources(
        &self,
        _r: Option<PaginatedRequestParams>,
        _c: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let inbox = Resource::new(push::INBOX_URI, "inbox");
        Ok(ListResourcesResult::with_all_items(vec![inbox]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _c: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if request.uri != push::INBOX_URI {
            return Err(ErrorData::resource_not_found("no such resource", None));
        }
        let held = self.pending.held().await;
        let text = json!({"verified_waiting": held, "how": "call get_messages to read them"}).to_string();
        let contents = ResourceContents::text(text, push::INBOX_URI);
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    #[allow(deprecated)] // the IDE's subscription to the bridge's own inbox
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _c: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if request.uri != push::INBOX_URI {
            return Err(ErrorData::resource_not_found("no such resource", None));
        }
        self.pending.set_subscribed(true);
        Ok(())
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _c: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if request.uri == push::INBOX_URI {
            self.pending.set_subscribed(false);
        }
        Ok(())
    }

    async fn list_tools(
        &self,
        _r: Option<PaginatedRequestParams>,
        _c: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::all()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _c: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        let result = match self.dispatch(&request.name, &args).await {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(tool = %request.name, error = %e, "tool failed");
                failed(&e)
            }
        };
        Ok(result.into())
    }
}

pub fn run(ctx: &Ctx, a: BridgeArgs) -> Result<()> {
    let filter = std::env::var("MCPMSG_LOG_LEVEL").unwrap_or_else(|_| "info,rmcp=warn".into());
    tracing_subscriber_init(&filter);
    let session = Arc::new(Session::load(&ctx.config, &ctx.pass, Duration::from_secs(10))?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let settings = push::PushSettings {
        channel: !a.no_channel,
        resource: !a.no_resource_push,
        log: !a.no_push_log,
    };
    runtime.block_on(async move {
        session.checkin_in_background(&a.name, &a.capabilities).await;
        let pending = Arc::new(push::Pending::default());
        let bridge = Bridge {
            m: session.clone(),
            pending: pending.clone(),
            watching: !a.no_watch,
        };
        let service = bridge.serve(rmcp::transport::stdio()).await?;
        if !a.no_watch {
            tokio::spawn(push::watch(session, pending, service.peer().clone(), settings));
        }
        service.waiting().await?;
        Ok(())
    })
}

fn tracing_subscriber_init(filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}
