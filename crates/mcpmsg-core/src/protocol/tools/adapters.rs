//! Version adapters' tools (PROTOCOL §18f): a protocol's owner registers,
//! for a pair of its versions, a declarative transform (signed); anyone
//! lists a protocol's adapters with their signed registrations.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Hints, ToolArgs, ToolName};

signed_args! {
    /// The arguments of `register_adapter`.
    pub struct RegisterAdapterArgs {
        /// You: the protocol's owner or a co-owner.
        #[schemars(pattern(super::CLIENT_ID_PATTERN))]
        pub client_id: String,
        /// The protocol.
        #[schemars(pattern(crate::protocol::registry::NAME_PATTERN))]
        pub name: String,
        /// The registered version it reads.
        pub from: String,
        /// The registered version it writes.
        pub to: String,
        /// A JSON array of operations on JSON Pointers, applied in order:
        /// `{"op":"move","from":P,"path":P}` (rename or move),
        /// `{"op":"default","path":P,"value":V}` (set if absent),
        /// `{"op":"remove","path":P}` (drop).
        pub ops: String,
    }
    purpose "adapter", actor client_id, signed [client_id, name, from, to, ops]
}

/// The result of `register_adapter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AdapterRegistered {
    /// As registered.
    pub name: String,
    /// As registered.
    pub from: String,
    /// As registered.
    pub to: String,
    /// Server time of registration, Unix ms.
    pub registered_at: String,
}

/// The arguments of `list_adapters` (public).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListAdaptersArgs {
    /// The protocol.
    #[schemars(pattern(crate::protocol::registry::NAME_PATTERN))]
    pub name: String,
}

/// One adapter, as signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AdapterEntry {
    /// The signed `register_adapter` arguments.
    pub registration: RegisterAdapterArgs,
    /// Server time of registration, Unix ms.
    pub registered_at: String,
}

/// The result of `list_adapters`: every adapter of the protocol, by
/// `from` then `to` in semver order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AdapterList {
    /// The protocol.
    pub name: String,
    /// Its adapters.
    pub adapters: Vec<AdapterEntry>,
}

impl ToolArgs for RegisterAdapterArgs {
    const TOOL: ToolName = ToolName::RegisterAdapter;
    const HINTS: Hints = Hints {
        title: "Register a version adapter",
        read_only: false,
        destructive: false,
        idempotent: false,
        signed: true,
    };
    const DESCRIPTION: &'static str = "As a protocol's owner or co-owner, register how a body of one registered \
        version becomes one of another: a short list of move, default and remove operations on JSON Pointers. \
        Readers verify a message's signature first, then adapt a copy to the version they speak; an adapter for \
        a pair of versions is registered once.";
    type Output = AdapterRegistered;
}

impl ToolArgs for ListAdaptersArgs {
    const TOOL: ToolName = ToolName::ListAdapters;
    const HINTS: Hints = Hints {
        title: "List a protocol's adapters",
        read_only: true,
        destructive: false,
        idempotent: true,
        signed: false,
    };
    const DESCRIPTION: &'static str = "List the version adapters registered for a protocol, each with its signed \
        registration.";
    type Output = AdapterList;
}
