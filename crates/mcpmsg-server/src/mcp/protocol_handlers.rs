//! The protocol registry's tools (PROTOCOL §18): one small function each,
//! as in `handlers`.

use mcpmsg_core::protocol::escape_inline;
use mcpmsg_core::protocol::negotiate::Negotiation;
use mcpmsg_core::protocol::tools::{
    CompatibilityMatrixArgs, DeclareArgs, DiscoverProtocolsArgs, GetProtocolArgs, ListAdaptersArgs, NegotiateArgs,
    RegisterAdapterArgs, RegisterProtocolArgs,
};

use super::handlers::Answer;
use super::McpServer;
use crate::broker::Refusal;

impl McpServer {
    pub(super) async fn register_adapter(
        &self,
        args: RegisterAdapterArgs,
    ) -> Result<Answer<RegisterAdapterArgs>, Refusal> {
        let r = self.broker.register_adapter(args).await?;
        let md = format!(
            "Registered an adapter of `{}` from {} to {}: readers of {} can now read {} messages (after verifying them).",
            r.name, r.from, r.to, r.to, r.from
        );
        Ok((md, r))
    }

    pub(super) async fn list_adapters(&self, args: ListAdaptersArgs) -> Result<Answer<ListAdaptersArgs>, Refusal> {
        let list = self.broker.list_adapters(&args.name).await?;
        let mut md = format!("**{} adapter(s) of `{}`**\n", list.adapters.len(), list.name);
        for a in &list.adapters {
            md.push_str(&format!(
                "- {} → {}, by `{}`\n",
                escape_inline(&a.registration.from, 64),
                escape_inline(&a.registration.to, 64),
                a.registration.client_id
            ));
        }
        Ok((md, list))
    }

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

    pub(super) async fn declare_capabilities(&self, args: DeclareArgs) -> Result<Answer<DeclareArgs>, Refusal> {
        let d = self.broker.declare(args).await?;
        let md = format!(
            "Declared tags [{}] and protocols [{}]; list_clients shows them.",
            d.tags.join(", "),
            d.protocols.join(", ")
        );
        Ok((md, d))
    }

    pub(super) async fn negotiate(&self, args: NegotiateArgs) -> Result<Answer<NegotiateArgs>, Refusal> {
        let n = self.broker.negotiate(&args.a, &args.b).await?;
        Ok((negotiation_markdown(&n), n))
    }

    pub(super) async fn compatibility_matrix(
        &self,
        args: CompatibilityMatrixArgs,
    ) -> Result<Answer<CompatibilityMatrixArgs>, Refusal> {
        let m = self.broker.compatibility_matrix(&args.client_ids).await?;
        let md = m.pairs.iter().map(negotiation_markdown).collect::<Vec<_>>().join("\n");
        Ok((md, m))
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

/// One negotiation in words.
fn negotiation_markdown(n: &Negotiation) -> String {
    let mut md = format!("**`{}` and `{}`**\n", n.a, n.b);
    for p in &n.protocols {
        match &p.version {
            Some(v) => md.push_str(&format!("- `{}`: use {v}\n", p.name)),
            None => md.push_str(&format!(
                "- `{}`: no compatible version ({} against {})\n",
                p.name,
                p.a_speaks.join(", "),
                p.b_speaks.join(", ")
            )),
        }
    }
    if !n.only_a.is_empty() || !n.only_b.is_empty() {
        md.push_str(&format!(
            "- only `{}`: {}; only `{}`: {}\n",
            n.a,
            n.only_a.join(", "),
            n.b,
            n.only_b.join(", ")
        ));
    }
    md.push_str(&format!("- tags in common: {}\n", n.tags_both.join(", ")));
    md
}
