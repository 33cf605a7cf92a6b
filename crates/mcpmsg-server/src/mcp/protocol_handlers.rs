//! The protocol registry's tools (PROTOCOL §18): one small function each,
//! as in `handlers`.

use mcpmsg_core::protocol::escape_inline;
use mcpmsg_core::protocol::tools::{DiscoverProtocolsArgs, GetProtocolArgs, RegisterProtocolArgs};

use super::handlers::Answer;
use super::McpServer;
use crate::broker::Refusal;

impl McpServer {
    pub(super) async fn register_protocol(
        &self,
        args: RegisterProtocolArgs,
    ) -> Result<Answer<RegisterProtocolArgs>, Refusal> {
        let r = self.broker.register_protocol(args).await?;
        let md = format!(
            "Registered `{}@{}`; the name belongs to `{}`{}.",
            r.name,
            r.version,
            r.owner,
            if r.co_owners.is_empty() {
                String::new()
            } else {
                format!(" (co-owners {})", r.co_owners.join(", "))
            }
        );
        Ok((md, r))
    }

    pub(super) async fn get_protocol(&self, args: GetProtocolArgs) -> Result<Answer<GetProtocolArgs>, Refusal> {
        let p = self.broker.get_protocol(args).await?;
        let reg = &p.registration;
        let md = format!(
            "**`{}@{}`** ({}), registered by `{}`: {}\n\nSchema ({} bytes) in structuredContent.registration.schema.",
            reg.name,
            reg.version,
            reg.kinds,
            reg.client_id,
            escape_inline(&reg.description, 1024),
            reg.schema.len()
        );
        Ok((md, p))
    }

    pub(super) async fn discover_protocols(
        &self,
        args: DiscoverProtocolsArgs,
    ) -> Result<Answer<DiscoverProtocolsArgs>, Refusal> {
        let list = self.broker.discover_protocols(args).await?;
        let mut md = format!("**{} protocol version(s)**\n\n", list.protocols.len());
        for p in &list.protocols {
            md.push_str(&format!(
                "- `{}@{}` [{}]: {}\n",
                p.name,
                p.version,
                p.kinds.join(", "),
                escape_inline(&p.description, 200)
            ));
        }
        if let Some(next) = &list.next_cursor {
            md.push_str(&format!("\nMore: pass cursor `{next}`.\n"));
        }
        Ok((md, list))
    }
}
