//! The protocol registry's tools (PROTOCOL §18): register a version of a
//! message protocol (signed), read one, and discover them (public).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Hints, ToolArgs, ToolName};

signed_args! {
    /// The arguments of `register_protocol`. Every member is signed, the
    /// schema as the exact text given.
    pub struct RegisterProtocolArgs {
        /// You: the name's owner, or a co-owner it lists; anyone for a new name.
        #[schemars(pattern(super::CLIENT_ID_PATTERN))]
        pub client_id: String,
        /// The protocol's name: lowercase letters, digits and _, a letter first.
        #[schemars(pattern(crate::protocol::registry::NAME_PATTERN))]
        pub name: String,
        /// A semver version such as 1.2.0; a name@version is registered once.
        pub version: String,
        /// A JSON Schema (draft 2020-12) of the message body, as JSON text.
        pub schema: String,
        /// Comma-separated, at least one of point_to_point, broadcast,
        /// request_response, streaming.
        pub kinds: String,
        /// What the protocol is for (at most 1024 printable characters).
        pub description: String,
        /// Comma-separated tags of a-z, 0-9 and - (may be empty).
        pub tags: String,
        /// Comma-separated client ids that may also register versions of the
        /// name (the owner's list replaces the last; a co-owner leaves it
        /// empty).
        pub co_owners: String,
    }
    purpose "protocol", actor client_id, signed [client_id, name, version, schema, kinds, description, tags, co_owners]
}

/// The result of `register_protocol`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProtocolRegistered {
    /// As registered.
    pub name: String,
    /// As registered.
    pub version: String,
    /// Who owns the name (its first registrant).
    pub owner: String,
    /// Who else may register versions of it.
    pub co_owners: Vec<String>,
    /// Server time of registration, Unix ms.
    pub registered_at: String,
}

/// The arguments of `get_protocol` (public).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetProtocolArgs {
    /// The protocol's name.
    #[schemars(pattern(crate::protocol::registry::NAME_PATTERN))]
    pub name: String,
    /// A version, or a semver range such as ^1.2 (the highest matching);
    /// absent: the highest version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// One registered version, with the registration as signed (so anyone can
/// check who registered this schema).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProtocolInfo {
    /// The signed `register_protocol` arguments.
    pub registration: RegisterProtocolArgs,
    /// Server time of registration, Unix ms.
    pub registered_at: String,
    /// Who owns the name now.
    pub owner: String,
    /// Its co-owners now.
    pub co_owners: Vec<String>,
}

/// The arguments of `discover_protocols` (public; every filter optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoverProtocolsArgs {
    /// Only this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only versions in this semver range, such as ^1.2 or >=1.0, <3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
    /// Only protocols with this tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The next_cursor of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Most entries on this page (default and most 100), decimal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(super::DECIMAL_PATTERN))]
    pub limit: Option<String>,
}

/// One version in a discovery page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProtocolEntry {
    /// The name.
    pub name: String,
    /// The version.
    pub version: String,
    /// Its capability kinds.
    pub kinds: Vec<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its description.
    pub description: String,
    /// Who registered this version.
    pub registered_by: String,
}

/// The result of `discover_protocols`: by name, then version (semver order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProtocolList {
    /// This page.
    pub protocols: Vec<ProtocolEntry>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl ToolArgs for RegisterProtocolArgs {
    const TOOL: ToolName = ToolName::RegisterProtocol;
    const HINTS: Hints = Hints {
        title: "Register a message protocol version",
        read_only: false,
        destructive: false,
        idempotent: false,
        signed: true,
    };
    const DESCRIPTION: &'static str = "Register a version of a message protocol: a name, a semver version and a JSON \
        Schema (draft 2020-12) of its message bodies. A name belongs to its first registrant, who may list co-owners; \
        a name@version is registered once and never changes.";
    type Output = ProtocolRegistered;
}

impl ToolArgs for GetProtocolArgs {
    const TOOL: ToolName = ToolName::GetProtocol;
    const HINTS: Hints = Hints {
        title: "Read a protocol version",
        read_only: true,
        destructive: false,
        idempotent: true,
        signed: false,
    };
    const DESCRIPTION: &'static str = "Read a registered protocol version (or the highest in a semver range, or the \
        highest of all): its schema, kinds, tags, description and the signed registration.";
    type Output = ProtocolInfo;
}

impl ToolArgs for DiscoverProtocolsArgs {
    const TOOL: ToolName = ToolName::DiscoverProtocols;
    const HINTS: Hints = Hints {
        title: "Discover protocols",
        read_only: true,
        destructive: false,
        idempotent: true,
        signed: false,
    };
    const DESCRIPTION: &'static str = "List registered protocol versions, optionally only one name, a semver range \
        or a tag, a page at a time.";
    type Output = ProtocolList;
}

signed_args! {
    /// The arguments of `declare_capabilities`: replaces what the caller
    /// declared before.
    pub struct DeclareArgs {
        /// You.
        #[schemars(pattern(super::CLIENT_ID_PATTERN))]
        pub client_id: String,
        /// Comma-separated capability tags of a-z, 0-9 and - (may be empty).
        pub tags: String,
        /// Comma-separated name@version of registered protocols you speak
        /// (may be empty).
        pub protocols: String,
    }
    purpose "declare", actor client_id, signed [client_id, tags, protocols]
}

/// The result of `declare_capabilities`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Declared {
    /// As declared.
    pub tags: Vec<String>,
    /// As declared.
    pub protocols: Vec<String>,
    /// Server time, Unix ms.
    pub declared_at: String,
}

/// The arguments of `negotiate` (public).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NegotiateArgs {
    /// One client.
    #[schemars(pattern(super::CLIENT_ID_PATTERN))]
    pub a: String,
    /// The other.
    #[schemars(pattern(super::CLIENT_ID_PATTERN))]
    pub b: String,
}

/// The arguments of `compatibility_matrix` (public).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompatibilityMatrixArgs {
    /// Comma-separated client ids, 2 to the server's limit.
    pub client_ids: String,
}

/// The result of `compatibility_matrix`: every pair, in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CompatibilityMatrix {
    /// The clients, as given.
    pub clients: Vec<String>,
    /// One negotiation per pair (i < j).
    pub pairs: Vec<crate::protocol::negotiate::Negotiation>,
}

impl ToolArgs for DeclareArgs {
    const TOOL: ToolName = ToolName::DeclareCapabilities;
    const HINTS: Hints = Hints {
        title: "Declare what you speak",
        read_only: false,
        destructive: false,
        idempotent: true,
        signed: true,
    };
    const DESCRIPTION: &'static str = "Declare your capability tags and the registered protocol versions \
        (name@version) you speak, replacing your last declaration; list_clients shows them and filters by them.";
    type Output = Declared;
}

impl ToolArgs for NegotiateArgs {
    const TOOL: ToolName = ToolName::Negotiate;
    const HINTS: Hints = Hints {
        title: "Negotiate protocol versions",
        read_only: true,
        destructive: false,
        idempotent: true,
        signed: false,
    };
    const DESCRIPTION: &'static str = "For two clients, from what they declared: per protocol both speak, the \
        highest version they can use together (same major version), what only one speaks, and their tags in \
        common and apart.";
    type Output = crate::protocol::negotiate::Negotiation;
}

impl ToolArgs for CompatibilityMatrixArgs {
    const TOOL: ToolName = ToolName::CompatibilityMatrix;
    const HINTS: Hints = Hints {
        title: "Compatibility matrix",
        read_only: true,
        destructive: false,
        idempotent: true,
        signed: false,
    };
    const DESCRIPTION: &'static str = "negotiate for every pair of a set of clients.";
    type Output = CompatibilityMatrix;
}
