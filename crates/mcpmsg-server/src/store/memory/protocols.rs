//! The protocol registry in the memory store (see `store::protocols`).

use std::collections::BTreeMap;

use mcpmsg_core::protocol::negotiate::Declaration;

use crate::store::{
    adapter_field, decide, AdapterOutcome, AdapterRecord, AdapterRegister, NameOwner, ProtocolRecord, ProtocolRegister,
    RegisterOutcome,
};

/// Names in byte order, each with its owners and versions. Bounded by the
/// broker's limits on names and versions per name.
#[derive(Default)]
pub(super) struct Registry {
    names: BTreeMap<String, (NameOwner, Vec<ProtocolRecord>)>,
    /// What each client declared: one per registered identity at most.
    pub(super) declared: std::collections::HashMap<String, Declaration>,
    /// Per name, its adapters by `<from>><to>`; bounded per name.
    adapters: std::collections::HashMap<String, BTreeMap<String, AdapterRecord>>,
}

impl Registry {
    pub(super) fn register(&mut self, step: ProtocolRegister<'_>) -> RegisterOutcome {
        let reg = &step.record.registration;
        let entry = self.names.get(&reg.name);
        let outcome = decide(
            entry.map(|(o, _)| o),
            entry.is_some_and(|(_, vs)| vs.iter().any(|v| v.registration.version == reg.version)),
            entry.map_or(0, |(_, vs)| vs.len()),
            self.names.len(),
            step,
        );
        if let RegisterOutcome::Registered(owners) = &outcome {
            let slot = self
                .names
                .entry(reg.name.clone())
                .or_insert_with(|| (owners.clone(), Vec::new()));
            slot.0 = owners.clone();
            slot.1.push(step.record.clone());
        }
        outcome
    }

    pub(super) fn register_adapter(&mut self, step: AdapterRegister<'_>) -> AdapterOutcome {
        let reg = &step.record.registration;
        let Some((owners, _)) = self.names.get(&reg.name) else {
            return AdapterOutcome::UnknownName;
        };
        if !owners.admits(&reg.client_id) {
            return AdapterOutcome::NotOwner(owners.clone());
        }
        let of_name = self.adapters.entry(reg.name.clone()).or_default();
        let field = adapter_field(reg);
        if of_name.contains_key(&field) {
            return AdapterOutcome::Exists;
        }
        if of_name.len() >= step.max {
            return AdapterOutcome::Full;
        }
        of_name.insert(field, step.record.clone());
        AdapterOutcome::Registered
    }

    pub(super) fn adapters(&self, name: &str) -> Vec<AdapterRecord> {
        self.adapters
            .get(name)
            .map(|a| a.values().cloned().collect())
            .unwrap_or_default()
    }

    pub(super) fn get(&self, name: &str) -> Option<(NameOwner, Vec<ProtocolRecord>)> {
        self.names.get(name).cloned()
    }

    pub(super) fn names_after(&self, after: &str, limit: usize) -> Vec<String> {
        use std::ops::Bound::{Excluded, Unbounded};
        let from = if after.is_empty() { Unbounded } else { Excluded(after) };
        self.names
            .range::<str, _>((from, Unbounded))
            .take(limit)
            .map(|(n, _)| n.clone())
            .collect()
    }
}
