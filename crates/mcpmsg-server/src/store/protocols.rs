//! What the stores keep for the protocol registry (PROTOCOL §18): per
//! name, its owner and co-owners and every registered version, as signed.
//!
//! One step registers, atomically on every store, by one rule
//! ([`decide`]): a new name belongs to its registrant; an existing one
//! takes versions from its owner or a co-owner, and only the owner changes
//! the co-owners; a name@version is registered once.

use serde::{Deserialize, Serialize};

use mcpmsg_core::protocol::tools::{RegisterAdapterArgs, RegisterProtocolArgs};

/// One registered version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolRecord {
    /// The `register_protocol` arguments, as signed.
    pub registration: RegisterProtocolArgs,
    /// Server time of registration, Unix ms.
    pub registered_at: u64,
}

/// Who may register versions of a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameOwner {
    /// The first registrant.
    pub owner: String,
    /// Those the owner listed last.
    pub co_owners: Vec<String>,
}

/// Registers `record` (see [`decide`]).
#[derive(Debug, Clone, Copy)]
pub struct ProtocolRegister<'a> {
    /// The version to register.
    pub record: &'a ProtocolRecord,
    /// The co-owners it asks for (the owner's list replaces the last).
    pub co_owners: &'a [String],
    /// Names in the registry, at most.
    pub max_names: usize,
    /// Versions of one name, at most.
    pub max_versions: usize,
}

/// What a registration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterOutcome {
    /// Registered; the name's owners after.
    Registered(NameOwner),
    /// That name@version exists.
    Exists,
    /// The registrant may not register versions of the name (or, as a
    /// co-owner, tried to change the co-owners).
    NotOwner(NameOwner),
    /// The registry holds its most names.
    NamesFull,
    /// The name holds its most versions.
    VersionsFull,
}

/// The rule both stores follow: given the name's owners (if it exists),
/// whether the version exists, how many versions and names there are,
/// what registering `step` does (before it is written).
pub fn decide(
    owners: Option<&NameOwner>,
    version_exists: bool,
    versions: usize,
    names: usize,
    step: ProtocolRegister<'_>,
) -> RegisterOutcome {
    let me = &step.record.registration.client_id;
    let wanted = NameOwner {
        owner: me.clone(),
        co_owners: step.co_owners.to_vec(),
    };
    let Some(owners) = owners else {
        return if names >= step.max_names {
            RegisterOutcome::NamesFull
        } else {
            RegisterOutcome::Registered(wanted)
        };
    };
    let is_owner = &owners.owner == me;
    if !is_owner && (!owners.co_owners.contains(me) || !step.co_owners.is_empty()) {
        return RegisterOutcome::NotOwner(owners.clone());
    }
    if version_exists {
        return RegisterOutcome::Exists;
    }
    if versions >= step.max_versions {
        return RegisterOutcome::VersionsFull;
    }
    RegisterOutcome::Registered(if is_owner { wanted } else { owners.clone() })
}

impl NameOwner {
    /// Whether `client_id` may add to the name: its owner or a co-owner.
    pub fn admits(&self, client_id: &str) -> bool {
        self.owner == client_id || self.co_owners.iter().any(|c| c == client_id)
    }
}

/// One registered adapter (PROTOCOL §18f), as signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterRecord {
    /// The `register_adapter` arguments, as signed.
    pub registration: RegisterAdapterArgs,
    /// Server time of registration, Unix ms.
    pub registered_at: u64,
}

/// Registers an adapter, in one step with the check that its registrant
/// owns or co-owns the name (so a co-owner the owner just dropped cannot
/// slip one in), once per (from, to), at most `max` per name.
#[derive(Debug, Clone, Copy)]
pub struct AdapterRegister<'a> {
    /// The adapter.
    pub record: &'a AdapterRecord,
    /// Adapters of one name, at most.
    pub max: usize,
}

/// What an adapter registration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdapterOutcome {
    /// Registered.
    Registered,
    /// The name is not registered.
    UnknownName,
    /// The registrant neither owns nor co-owns the name.
    NotOwner(NameOwner),
    /// An adapter for that (from, to) exists.
    Exists,
    /// The name holds its most adapters.
    Full,
}

/// The field an adapter is kept under: `<from>><to>`.
pub fn adapter_field(r: &RegisterAdapterArgs) -> String {
    format!("{}>{}", r.from, r.to)
}
