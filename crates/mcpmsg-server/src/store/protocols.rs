//! What the stores keep for the protocol registry (PROTOCOL §18): per
//! name, its owner and co-owners and every registered version, as signed.
//!
//! One step registers, atomically on every store, by one rule
//! ([`decide`]): a new name belongs to its registrant; an existing one
//! takes versions from its owner or a co-owner, and only the owner changes
//! the co-owners; a name@version is registered once.

use serde::{Deserialize, Serialize};

use mcpmsg_core::protocol::tools::RegisterProtocolArgs;

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
