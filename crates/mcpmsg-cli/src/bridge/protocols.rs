//! The bridge's protocol tools (PROTOCOL §18), for the model: discover
//! registered protocols, read one (its signed registration verified by the
//! bridge against the registrant's key log), negotiate with a peer, send a
//! typed message (checked against its verified schema before signing), and
//! broadcast.

use mcpmsg_core::protocol::escape_inline;
use mcpmsg_core::protocol::tools::DiscoverProtocolsArgs;
use rmcp::model::{CallToolResult, JsonObject};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{describe, ok, tools, Bridge};

/// `discover_protocols`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct DiscoverArgs {
    /// Only this protocol name.
    #[serde(default)]
    pub name: Option<String>,
    /// Only versions in this semver range, such as ^1.2.
    #[serde(default)]
    pub range: Option<String>,
    /// Only protocols with this tag.
    #[serde(default)]
    pub tag: Option<String>,
}

/// `get_protocol`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct GetProtocolArgs {
    /// The protocol's name.
    pub name: String,
    /// A version or a semver range (default: the highest version).
    #[serde(default)]
    pub version: Option<String>,
}

/// `negotiate`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct NegotiateArgs {
    /// The other client's id.
    pub peer: String,
}

/// `send_typed`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct SendTypedArgs {
    /// The recipient's client id.
    pub to: String,
    /// The registered protocol version, name@version (such as code_review@1.1.0).
    pub protocol: String,
    /// The body: a JSON value matching that version's schema.
    pub body: serde_json::Value,
    /// Seal it (default: sealed when the recipient is pinned); false sends it in the clear so the server checks it too.
    #[serde(default)]
    pub seal: Option<bool>,
}

/// `broadcast`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct BroadcastArgs {
    /// The message (for `typed`: JSON text of the body).
    pub text: String,
    /// Only clients that declared this capability tag.
    #[serde(default)]
    pub tag: Option<String>,
    /// Only clients that declared this protocol: name or name@range (such as code_review@^1).
    #[serde(default)]
    pub protocol: Option<String>,
    /// Only clients whose presence is one of: active, idle, offline (comma-separated).
    #[serde(default)]
    pub status: Option<String>,
    /// Send `text` as a typed body of this registered version (name@version); checked first.
    #[serde(default)]
    pub typed: Option<String>,
    /// Seal it to each matching client's verified key (default false).
    #[serde(default)]
    pub seal: bool,
}

/// The protocol tools' descriptions, for `tools::all`.
pub(super) fn all() -> Vec<rmcp::model::Tool> {
    use tools::tool;
    vec![
        tool::<DiscoverArgs>("discover_protocols", "List registered message protocols (name, version, kinds, tags, description), optionally one name, a semver range or a tag.".into()),
        tool::<GetProtocolArgs>("get_protocol", "Read a registered protocol version with its JSON Schema; the bridge checks that its registrant signed it.".into()),
        tool::<NegotiateArgs>("negotiate", "What you and another client can use together: per protocol both declared, the version to use; what only one speaks; capability tags in common.".into()),
        tool::<SendTypedArgs>("send_typed", "Send a typed message: a JSON body of a registered protocol version. The bridge checks it against the version's verified schema before signing; it goes unsealed so the server checks it too.".into()),
        tool::<BroadcastArgs>("broadcast", "Send one signed message to every client that declared a capability tag or a protocol (optionally only those active or idle). Optionally typed, or sealed to each matching client's verified key. The result lists who got it and who was skipped, and why.".into()),
    ]
}

impl Bridge {
    /// Routes a protocol tool; `None` for another tool.
    pub(super) async fn protocol_tool(&self, name: &str, args: &JsonObject) -> Option<Result<CallToolResult, String>> {
        Some(match name {
            "discover_protocols" => self.discover(args).await,
            "get_protocol" => self.get_protocol(args).await,
            "negotiate" => self.negotiate(args).await,
            "send_typed" => self.send_typed(args).await,
            "broadcast" => self.broadcast(args).await,
            _ => return None,
        })
    }

    async fn discover(&self, args: &JsonObject) -> Result<CallToolResult, String> {
        let a: DiscoverArgs = tools::parse(args)?;
        let page = self
            .m
            .discover(DiscoverProtocolsArgs {
                name: a.name,
                range: a.range,
                tag: a.tag,
                ..Default::default()
            })
            .await
            .map_err(describe)?;
        let mut md = format!("**{} protocol version(s)**\n\n", page.protocols.len());
        for p in &page.protocols {
            md.push_str(&format!(
                "- `{}@{}` [{}] by `{}`: {}\n",
                p.name,
                p.version,
                p.kinds.join(", "),
                p.registered_by,
                escape_inline(&p.description, 200)
            ));
        }
        Ok(ok(md, serde_json::to_value(page).expect("results serialise")))
    }

    async fn get_protocol(&self, args: &JsonObject) -> Result<CallToolResult, String> {
        let a: GetProtocolArgs = tools::parse(args)?;
        let p = self.m.protocol(&a.name, a.version.as_deref()).await.map_err(describe)?;
        let reg = &p.registration;
        let md = format!(
            "`{}@{}` (verified: signed by its registrant `{}`): {}\n\nJSON Schema:\n\n```json\n{}\n```",
            reg.name,
            reg.version,
            reg.client_id,
            escape_inline(&reg.description, 1024),
            reg.schema.replace("```", "\\u0060\\u0060\\u0060")
        );
        Ok(ok(md, serde_json::to_value(&p).expect("results serialise")))
    }

    async fn negotiate(&self, args: &JsonObject) -> Result<CallToolResult, String> {
        let a: NegotiateArgs = tools::parse(args)?;
        let n = self.m.negotiate(&a.peer).await.map_err(describe)?;
        let mut md = format!("**You and `{}`**\n", a.peer);
        for p in &n.protocols {
            match &p.version {
                Some(v) => md.push_str(&format!("- `{}`: use {v}\n", p.name)),
                None => md.push_str(&format!("- `{}`: no compatible version\n", p.name)),
            }
        }
        md.push_str(&format!("- tags in common: {}\n", n.tags_both.join(", ")));
        Ok(ok(md, serde_json::to_value(&n).expect("results serialise")))
    }

    async fn send_typed(&self, args: &JsonObject) -> Result<CallToolResult, String> {
        let a: SendTypedArgs = tools::parse(args)?;
        let body = a.body.to_string();
        let (r, sealed) = self
            .m
            .send_typed(&a.to, &a.protocol, &body, None, a.seal)
            .await
            .map_err(describe)?;
        let md = format!(
            "Sent a typed `{}` message to `{}` (checked against its schema; {}): message id `{}`.",
            escape_inline(&a.protocol, 140),
            a.to,
            if sealed {
                "sealed"
            } else {
                "not sealed, so the server checked it too"
            },
            r.message_id
        );
        Ok(ok(md, serde_json::to_value(&r).expect("results serialise")))
    }

    async fn broadcast(&self, args: &JsonObject) -> Result<CallToolResult, String> {
        let a: BroadcastArgs = tools::parse(args)?;
        let filter = [
            a.tag.as_deref().unwrap_or_default(),
            a.protocol.as_deref().unwrap_or_default(),
            a.status.as_deref().unwrap_or_default(),
        ];
        let r = if a.seal {
            self.m.broadcast_sealed(filter, &a.text, a.typed.as_deref()).await
        } else {
            let content_type = match &a.typed {
                Some(p) => self.m.typed_content_type(p, &a.text).await.map_err(describe)?,
                None => "text/markdown".to_owned(),
            };
            self.m.broadcast(filter, &content_type, &a.text).await
        }
        .map_err(describe)?;
        let skipped: Vec<String> = r
            .skipped
            .iter()
            .map(|s| format!("`{}` ({})", s.member, s.reason))
            .collect();
        let md = format!(
            "Broadcast `{}`{}: delivered to {} client(s){}.",
            r.message_id,
            if a.seal { " (sealed)" } else { "" },
            r.delivered.len(),
            if skipped.is_empty() {
                String::new()
            } else {
                format!("; skipped {}", skipped.join(", "))
            }
        );
        Ok(ok(md, serde_json::to_value(&r).expect("results serialise")))
    }
}
