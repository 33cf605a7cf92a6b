//! Version adapters (PROTOCOL §18f): `register_adapter` (signed, by the
//! protocol's owner or a co-owner, checked in the store's step) and
//! `list_adapters` (public). The operations' rules are
//! `mcpmsg_core::protocol::adapt`'s, so a reader applies exactly what was
//! checked here.

use mcpmsg_core::protocol::adapt::parse_ops;
use mcpmsg_core::protocol::registry::{check_name, parse_version, Version};
use mcpmsg_core::protocol::tools::{AdapterEntry, AdapterList, AdapterRegistered, RegisterAdapterArgs};
use mcpmsg_core::protocol::{check_client_id, now_ms, ErrorCode};

use super::auth::Against;
use super::{Broker, Refusal};
use crate::store::{AdapterOutcome, AdapterRecord, AdapterRegister};

impl Broker {
    /// `register_adapter`: checks every field, authenticates, checks both
    /// versions are registered, and registers in one store step.
    pub async fn register_adapter(&self, args: RegisterAdapterArgs) -> Result<AdapterRegistered, Refusal> {
        check_client_id("client_id", &args.client_id)?;
        check_name("name", &args.name).map_err(Refusal::invalid)?;
        let from = parse_version("from", &args.from).map_err(Refusal::invalid)?;
        let to = parse_version("to", &args.to).map_err(Refusal::invalid)?;
        if from == to {
            return Err(Refusal::invalid("to: a version other than from"));
        }
        parse_ops(&args.ops).map_err(Refusal::invalid)?;
        let now = self.accept_request(&args, Against::Stored, now_ms()).await?;
        // Versions are never removed: checked here, they stay registered.
        let versions = self
            .store
            .protocol(&args.name)
            .await?
            .map(|(_, vs)| vs)
            .unwrap_or_default();
        let mut registrants = Vec::new();
        for v in [&from, &to] {
            let Some(r) = versions
                .iter()
                .find(|r| Version::parse(&r.registration.version).is_ok_and(|w| w == *v))
            else {
                return Err(Refusal::new(
                    ErrorCode::UnknownProtocol,
                    format!(
                        "{}@{v} is not registered; an adapter joins two registered versions",
                        args.name
                    ),
                ));
            };
            let who = r.registration.client_id.as_str();
            if !registrants.contains(&who) {
                registrants.push(who);
            }
        }
        // Readers trust an adapter signed by whoever signed one of the two
        // versions it joins (they can check that themselves); refused here
        // rather than registered and then ignored by every reader.
        if !registrants.contains(&args.client_id.as_str()) {
            return Err(Refusal::new(
                ErrorCode::NotOwner,
                format!(
                    "an adapter of {} from {from} to {to} is registered by whoever registered one of the two versions ({})",
                    args.name,
                    registrants.join(" or ")
                ),
            ));
        }
        let (name, from_s, to_s) = (args.name.clone(), args.from.clone(), args.to.clone());
        let record = AdapterRecord {
            registration: args,
            registered_at: now,
        };
        let step = AdapterRegister {
            record: &record,
            max: self.config.max_adapters,
        };
        match self.store.register_adapter(step).await? {
            AdapterOutcome::Registered => Ok(AdapterRegistered {
                name,
                from: from_s,
                to: to_s,
                registered_at: now.to_string(),
            }),
            AdapterOutcome::UnknownName => Err(Refusal::new(
                ErrorCode::UnknownProtocol,
                format!("{name} is not registered"),
            )),
            AdapterOutcome::NotOwner(o) => Err(Refusal::new(
                ErrorCode::NotOwner,
                format!(
                    "{name} belongs to {} (co-owners: {}); only they register its adapters",
                    o.owner,
                    if o.co_owners.is_empty() {
                        "none".to_owned()
                    } else {
                        o.co_owners.join(", ")
                    }
                ),
            )),
            AdapterOutcome::Exists => Err(Refusal::new(
                ErrorCode::ProtocolExists,
                format!("an adapter of {name} from {from_s} to {to_s} is registered already; adapters never change"),
            )),
            AdapterOutcome::Full => Err(Refusal::new(
                ErrorCode::TooLarge,
                format!(
                    "{name} has its most adapters, {} (--max-adapters)",
                    self.config.max_adapters
                ),
            )),
        }
    }

    /// `list_adapters`: by `from`, then `to`, in semver order.
    pub async fn list_adapters(&self, name: &str) -> Result<AdapterList, Refusal> {
        check_name("name", name).map_err(Refusal::invalid)?;
        if self.store.protocol(name).await?.is_none() {
            return Err(Refusal::new(
                ErrorCode::UnknownProtocol,
                format!("{name} is not registered; discover_protocols lists what is"),
            ));
        }
        let mut all = self.store.adapters(name).await?;
        let key = |r: &AdapterRecord| {
            let v = |s: &str| Version::parse(s).unwrap_or_else(|_| Version::new(0, 0, 0));
            (v(&r.registration.from), v(&r.registration.to))
        };
        all.sort_by_key(key);
        Ok(AdapterList {
            name: name.to_owned(),
            adapters: all
                .into_iter()
                .map(|r| AdapterEntry {
                    registration: r.registration,
                    registered_at: r.registered_at.to_string(),
                })
                .collect(),
        })
    }
}
