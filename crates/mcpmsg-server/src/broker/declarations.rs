//! Declarations and negotiation (PROTOCOL §18b, §18c): a client declares
//! its capability tags and the registered protocol versions it speaks;
//! anyone can ask what two clients (or a set) can use together. The rules
//! are `mcpmsg_core::protocol::negotiate`'s, so a client can recompute.

use std::collections::BTreeMap;

use mcpmsg_core::protocol::negotiate::{negotiate, parse_declared, Declaration, Negotiation};
use mcpmsg_core::protocol::registry::{parse_tags, Version};
use mcpmsg_core::protocol::tools::{CompatibilityMatrix, DeclareArgs, Declared};
use mcpmsg_core::protocol::{check_client_id, now_ms, ErrorCode};

use super::auth::Against;
use super::{Broker, Refusal};

impl Broker {
    /// `declare_capabilities`: every protocol version must be registered.
    pub async fn declare(&self, args: DeclareArgs) -> Result<Declared, Refusal> {
        check_client_id("client_id", &args.client_id)?;
        let tags = parse_tags(&args.tags).map_err(Refusal::invalid)?;
        let protocols = parse_declared(&args.protocols).map_err(Refusal::invalid)?;
        let now = self.accept_request(&args, Against::Stored, now_ms()).await?;
        // One read per name, however many of its versions are declared.
        let mut by_name: BTreeMap<&str, Vec<&Version>> = BTreeMap::new();
        for (n, v) in &protocols {
            by_name.entry(n.as_str()).or_default().push(v);
        }
        for (name, versions) in by_name {
            let registered = self.store.protocol(name).await?.map(|(_, vs)| vs).unwrap_or_default();
            for v in versions {
                if !registered
                    .iter()
                    .any(|r| Version::parse(&r.registration.version).is_ok_and(|w| w == *v))
                {
                    return Err(Refusal::new(
                        ErrorCode::UnknownProtocol,
                        format!("protocols: {name}@{v} is not registered; declare only registered versions (discover_protocols)"),
                    ));
                }
            }
        }
        let declared = Declaration {
            tags,
            protocols: protocols.iter().map(|(n, v)| format!("{n}@{v}")).collect(),
        };
        self.store.declare(&args.client_id, &declared).await?;
        Ok(Declared {
            tags: declared.tags,
            protocols: declared.protocols,
            declared_at: now.to_string(),
        })
    }

    /// What each of `ids` declared (an empty declaration for none).
    pub async fn declared(&self, ids: &[&str]) -> Result<Vec<Declaration>, Refusal> {
        Ok(self
            .store
            .declarations(ids)
            .await?
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect())
    }

    /// `negotiate`: between two registered clients.
    pub async fn negotiate(&self, a: &str, b: &str) -> Result<Negotiation, Refusal> {
        check_client_id("a", a)?;
        check_client_id("b", b)?;
        for c in [a, b] {
            self.known_client(c).await?;
        }
        let d = self.declared(&[a, b]).await?;
        Ok(negotiate(a, &d[0], b, &d[1]))
    }

    /// `compatibility_matrix`: every pair of 2 to `--max-matrix-clients`.
    pub async fn compatibility_matrix(&self, client_ids: &str) -> Result<CompatibilityMatrix, Refusal> {
        let max = self.config.max_matrix_clients;
        let ids: Vec<&str> = client_ids.split(',').collect();
        let distinct = ids.iter().enumerate().all(|(i, c)| !ids[..i].contains(c));
        if !(2..=max).contains(&ids.len()) || !distinct {
            return Err(Refusal::invalid(format!(
                "client_ids: 2 to {max} distinct client ids, comma-separated (--max-matrix-clients)"
            )));
        }
        for c in &ids {
            check_client_id("client_ids", c)?;
            self.known_client(c).await?;
        }
        let d = self.declared(&ids).await?;
        let mut pairs = Vec::new();
        for i in 0..ids.len() {
            for j in i + 1..ids.len() {
                pairs.push(negotiate(ids[i], &d[i], ids[j], &d[j]));
            }
        }
        Ok(CompatibilityMatrix {
            clients: ids.iter().map(|c| (*c).to_owned()).collect(),
            pairs,
        })
    }

    async fn known_client(&self, c: &str) -> Result<(), Refusal> {
        match self.store.recent_identity(c).await? {
            Some(_) => Ok(()),
            None => Err(Refusal::new(
                ErrorCode::UnknownRecipient,
                format!("{c} is not registered"),
            )),
        }
    }
}
