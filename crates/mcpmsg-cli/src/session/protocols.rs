//! The protocol registry as a client (PROTOCOL §18): registering signed,
//! and reading a version with its registration verified against the
//! registrant's key log, so the schema shown is the one it signed.

use mcpmsg_core::protocol::negotiate::Negotiation;
use mcpmsg_core::protocol::registry::verify_registration;
use mcpmsg_core::protocol::tools::{
    AdapterRegistered, DeclareArgs, Declared, DiscoverProtocolsArgs, GetProtocolArgs, NegotiateArgs, ProtocolInfo,
    ProtocolList, ProtocolRegistered, RegisterAdapterArgs, RegisterProtocolArgs,
};

use super::*;
use crate::error::verify_failed;

/// What a registration says besides name and version.
pub struct Registration<'a> {
    pub schema: &'a str,
    pub kinds: &'a str,
    pub description: &'a str,
    pub tags: &'a str,
    pub co_owners: &'a str,
}

impl Session {
    /// Registers `name@version` as this identity.
    pub async fn register_protocol(
        &self,
        name: &str,
        version: &str,
        r: Registration<'_>,
    ) -> Result<ProtocolRegistered> {
        Ok(self
            .signed(|| RegisterProtocolArgs {
                client_id: self.me.clone(),
                name: name.to_owned(),
                version: version.to_owned(),
                schema: r.schema.to_owned(),
                kinds: r.kinds.to_owned(),
                description: r.description.to_owned(),
                tags: r.tags.to_owned(),
                co_owners: r.co_owners.to_owned(),
                ..Default::default()
            })
            .await?)
    }

    /// A version (or the highest in a range, or the highest), its
    /// registration verified against the registrant's log (pinned on first
    /// sight, as a room member is).
    pub async fn protocol(&self, name: &str, version: Option<&str>) -> Result<ProtocolInfo> {
        let info = self
            .remote
            .call(|| GetProtocolArgs {
                name: name.to_owned(),
                version: version.map(str::to_owned),
            })
            .await?;
        let reg = &info.registration;
        if reg.name != name {
            return Err(verify_failed(format!("asked for {name}, the server answered {}", reg.name)).into());
        }
        let (state, at) = self
            .member_log(&reg.client_id)
            .await
            .map_err(|t| anyhow::anyhow!(t.text()))?;
        let registrant = SenderLog {
            state: &state,
            accepted_at: Some(&at),
        };
        let registered_at = info.registered_at.parse().unwrap_or(0);
        verify_registration(reg, registered_at, &registrant, self.rules).map_err(|e| {
            verify_failed(format!(
                "the registration of {name}@{} does not verify against {}'s key log: {e}",
                reg.version, reg.client_id
            ))
        })?;
        Ok(info)
    }

    /// Registers an adapter of `name` from one version to another.
    pub async fn register_adapter(&self, name: &str, from: &str, to: &str, ops: &str) -> Result<AdapterRegistered> {
        Ok(self
            .signed(|| RegisterAdapterArgs {
                client_id: self.me.clone(),
                name: name.to_owned(),
                from: from.to_owned(),
                to: to.to_owned(),
                ops: ops.to_owned(),
                ..Default::default()
            })
            .await?)
    }

    /// Declares this identity's tags and protocol versions.
    /// Kept beside the configuration too: typed messages are read in the
    /// versions declared here.
    pub async fn declare(&self, tags: &str, protocols: &str) -> Result<Declared> {
        let d: Declared = self
            .signed(|| DeclareArgs {
                client_id: self.me.clone(),
                tags: tags.to_owned(),
                protocols: protocols.to_owned(),
                ..Default::default()
            })
            .await?;
        self.remember_declared(&d.protocols)?;
        Ok(d)
    }

    /// What this identity and `peer` can use together, as the server
    /// computes it from both declarations.
    pub async fn negotiate(&self, peer: &str) -> Result<Negotiation> {
        Ok(self
            .remote
            .call(|| NegotiateArgs {
                a: self.me.clone(),
                b: peer.to_owned(),
            })
            .await?)
    }

    /// One page of discovery.
    pub async fn discover(&self, args: DiscoverProtocolsArgs) -> Result<ProtocolList> {
        Ok(self.remote.call(|| args.clone()).await?)
    }
}
