//! The MCP adapter: parses tool arguments, calls the broker, renders the
//! result. Nothing else: every rule lives in [`crate::broker`].
//!
//! Arguments are parsed into their core types here rather than through
//! rmcp's `Parameters<T>`: a wrong type or an unknown argument must come
//! back as an `isError` result with `[invalid_argument]` naming the field
//! (PROTOCOL §7), not as an opaque JSON-RPC error.

mod handlers;
mod protocol_handlers;
mod push;
mod render;
mod room_handlers;
mod tools;

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, JsonObject, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities,
    ServerConfig, SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::broker::Broker;
use mcpmsg_core::protocol::check_client_id;
use mcpmsg_core::protocol::tools::ToolName;

pub use render::relative;

/// The MCP server handler. One per session with `--sessions` (its
/// `resources/subscribe` subscriptions live and end with it), one per
/// request without; the broker is shared.
pub struct McpServer {
    broker: Arc<Broker>,
    sessions: bool,
    subscriptions: push::SessionSubscriptions,
}

impl McpServer {
    /// A handler over `broker`; `sessions` says whether the transport keeps
    /// sessions (and so a stream to push on).
    pub fn new(broker: Arc<Broker>, sessions: bool) -> Self {
        Self {
            broker,
            sessions,
            subscriptions: Default::default(),
        }
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
fn actor(tool: ToolName, map: &JsonObject) -> String {
    let v = match tool {
        ToolName::SendMessage | ToolName::SendMessageAndWait => map.get("sender_id"),
        ToolName::RotateKey | ToolName::RevokeKey => map.get("event").and_then(|e| e.get("client_id")),
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
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .enable_resources_subscribe()
            .build();
        let mut info = ServerConfig::new(capabilities);
        info.server_info = Implementation::new("mcpmsg-server", env!("CARGO_PKG_VERSION"));
        info.instructions = Some(
            "Signed messaging between MCP clients. Every send is signed with the sender's Ed25519 key and checked here; \
             a model cannot sign, so use the `mcpmsg bridge` tools, which hold the keys on the user's machine."
                .into(),
        );
        info
    }

    /// Inboxes are private: none is listed. A client learns its own URI
    /// from the signed `get_inbox_uri`.
    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::default())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        Ok(self.read_inbox(&request.uri).await?.into())
    }

    fn accepted_subscription_filter(&self, requested: &SubscriptionFilter) -> Option<SubscriptionFilter> {
        Some(self.accepted_inboxes(requested))
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        self.listen_inboxes(context).await
    }

    #[allow(deprecated)] // the 2025-11-25 path, kept for session clients
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.subscribe_inbox(request.uri, context.peer)
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.unsubscribe_inbox(&request.uri);
        Ok(())
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
        let Some(tool) = ToolName::parse(&request.name) else {
            return Err(ErrorData::invalid_params(
                format!("unknown tool {:?}", request.name.as_ref()),
                None,
            ));
        };
        let map = request.arguments.unwrap_or_default();
        Ok(self.call(tool, CallArgs::Map(map), peer_ip(&context)).await.into())
    }
}

/// A call's arguments: the map rmcp parsed, or the JSON text the fast path
/// took from the request body (parsed straight into the tool's type).
pub(crate) enum CallArgs<'a> {
    /// From rmcp.
    Map(JsonObject),
    /// From the fast path: the `arguments` object's text.
    Text(&'a str),
}

impl McpServer {
    /// One tool call, whoever carried it: the rate gates, the tool, and a
    /// refusal logged and rendered.
    pub(crate) async fn call(
        &self,
        tool: ToolName,
        args: CallArgs<'_>,
        peer: Option<std::net::IpAddr>,
    ) -> rmcp::model::CallToolResult {
        // Who acts, for the log line of a refusal: read from the text only
        // then, so an accepted fast-path call builds no map at all.
        let (map_actor, text) = match &args {
            CallArgs::Map(map) => (Some(actor(tool, map)), None),
            CallArgs::Text(t) => (None, Some(*t)),
        };
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
            Ok(()) => self.dispatch(tool, args).await,
            Err(limited) => Err(limited),
        };
        match outcome {
            Ok(r) => r,
            Err(refusal) => {
                let client_id = map_actor.unwrap_or_else(|| {
                    let map = serde_json::from_str::<JsonObject>(text.unwrap_or_default()).unwrap_or_default();
                    actor(tool, &map)
                });
                tracing::info!(tool = tool.as_str(), code = refusal.code.as_str(), client_id = %client_id, "refused");
                if let (Some(ip), false) = (peer, anonymous) {
                    if refusal.code != mcpmsg_core::protocol::ErrorCode::RateLimited {
                        self.broker.refused_call(ip);
                    }
                }
                render::refused(&refusal)
            }
        }
    }
}
