//! The identity tools: check-in, key events, the key directory, the client
//! list, and how identity works.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Hints, ToolArgs, ToolName};
use crate::protocol::kel::Event;

signed_args! {
    /// The arguments of `checkin_client`. `kel` is not signed: every event
    /// in it signs itself.
    pub struct CheckinClientArgs {
        /// Your client_id (my_id in mcp_recipients.json).
        #[schemars(pattern(super::CLIENT_ID_PATTERN))]
        pub client_id: String,
        /// A display name for this client, e.g. "Alice's Claude Code": at most
        /// 64 printable characters.
        pub name: String,
        /// What this client can do or is working on: at most 512 printable
        /// characters.
        pub capabilities: String,
        /// Your full key event log, as `mcpmsg kel` prints it. Required on
        /// the first check-in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub kel: Option<Vec<Event>>,
    }
    purpose "checkin", actor client_id, signed [client_id, name, capabilities]
}

/// The result of `checkin_client`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CheckinResult {
    /// The identity.
    pub client_id: String,
    /// This call created the identity.
    pub registered: bool,
    /// Seq of the stored log's head, decimal.
    pub kel_seq: String,
    /// Hash of the stored log's head.
    #[schemars(pattern(super::HEX_64_PATTERN))]
    pub kel_head: String,
}

/// The arguments of `rotate_key`: the event signs itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKeyArgs {
    /// The rotation event, as `mcpmsg rotate` makes it.
    pub event: Event,
}

/// The arguments of `revoke_key`: the event signs itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeKeyArgs {
    /// The revocation event, as `mcpmsg revoke` makes it.
    pub event: Event,
    /// The whole log ending in the event, so a server that forgot the
    /// identity stores it revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kel: Option<Vec<Event>>,
}

/// The result of `rotate_key` and `revoke_key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KelUpdate {
    /// The identity.
    pub client_id: String,
    /// Seq of the new head, decimal.
    pub kel_seq: String,
    /// Hash of the new head.
    #[schemars(pattern(super::HEX_64_PATTERN))]
    pub kel_head: String,
    /// Server time the event took effect, Unix ms.
    pub accepted_at: String,
}

/// The arguments of `get_client_keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetClientKeysArgs {
    /// The client_id whose keys you want.
    #[schemars(pattern(super::CLIENT_ID_PATTERN))]
    pub client_id: String,
}

/// An identity's status (A1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Its current key acts for it.
    Active,
    /// Its current key revoked itself: only the next key can act (recover
    /// or end it).
    Suspended,
    /// Ended for good.
    Revoked,
}

/// The result of `get_client_keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClientKeysResult {
    /// The identity.
    pub client_id: String,
    /// Its key event log.
    pub kel: Vec<Event>,
    /// The server time each event was accepted, Unix ms.
    pub accepted_at: Vec<String>,
    /// Not active (the v1 member; `status` says which).
    pub revoked: bool,
    /// Active, suspended or revoked.
    pub status: Status,
}

/// The arguments of `list_clients`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListClientsArgs {
    /// The next_cursor of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(super::CLIENT_ID_PATTERN))]
    pub cursor: Option<String>,
    /// Most clients on this page (default and most: the server's page size,
    /// 100 unless changed), decimal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(super::DECIMAL_PATTERN))]
    pub limit: Option<String>,
    /// Only clients that declared this capability tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Only clients that declared a version of this protocol: a name, or
    /// name@range such as code_review@^1.2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Only clients whose presence is one of these, comma-separated from
    /// active, idle, offline (as broadcast's status filter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// One registered client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClientEntry {
    /// The identity.
    pub client_id: String,
    /// From its last check-in.
    pub name: String,
    /// From its last check-in.
    pub capabilities: String,
    /// Kid of its current signing key.
    pub signing_kid: String,
    /// Its last check-in, Unix ms.
    pub last_checkin: String,
    /// Not active.
    pub revoked: bool,
    /// Active, suspended or revoked.
    pub status: Status,
    /// Whether it is there: by the time since its last signed call.
    pub presence: PresenceStatus,
    /// Its last signed call, Unix ms; null if none was seen.
    pub last_seen: Option<String>,
    /// The capability tags it declared (absent if none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The protocol versions (name@version) it declared (absent if none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protocols: Vec<String>,
}

/// Whether a client is there, by the time since its last signed call
/// (thresholds set by the operator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PresenceStatus {
    /// A signed call within the idle threshold.
    Active,
    /// Silent past the idle threshold.
    Idle,
    /// Silent past the offline threshold, or never seen.
    Offline,
}

impl PresenceStatus {
    /// As results say it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Idle => "idle",
            Self::Offline => "offline",
        }
    }
}

signed_args! {
    /// The arguments of `heartbeat`.
    pub struct HeartbeatArgs {
        /// Your client_id.
        #[schemars(pattern(super::CLIENT_ID_PATTERN))]
        pub client_id: String,
    }
    purpose "heartbeat", actor client_id, signed [client_id]
}

/// The result of `heartbeat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HeartbeatResult {
    /// The identity.
    pub client_id: String,
    /// Its presence now: active.
    pub presence: PresenceStatus,
    /// This call, Unix ms.
    pub last_seen: String,
}

impl ToolArgs for HeartbeatArgs {
    const TOOL: ToolName = ToolName::Heartbeat;
    const HINTS: Hints = Hints {
        title: "Heartbeat",
        read_only: false,
        destructive: false,
        idempotent: true,
        signed: true,
    };
    const DESCRIPTION: &'static str = "Say that this client is still here, for an idle client that makes no other         call: every signed call counts, this one does nothing else. list_clients shows each client as active, idle         or offline.";
    type Output = HeartbeatResult;
}

/// The result of `list_clients`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClientList {
    /// One page, ordered by client_id.
    pub clients: Vec<ClientEntry>,
    /// Pass back as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

signed_args! {
    /// The arguments of `get_inbox_uri`.
    pub struct GetInboxUriArgs {
        /// Your client_id.
        #[schemars(pattern(super::CLIENT_ID_PATTERN))]
        pub client_id: String,
    }
    purpose "inbox", actor client_id, signed [client_id]
}

/// The result of `get_inbox_uri`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InboxUri {
    /// The inbox as an MCP resource: `mcpmsg://inbox/<client_id>?token=<22
    /// base64url characters>`. The token is a secret: whoever holds the URI
    /// can watch when items arrive (never what they are).
    pub uri: String,
}

impl ToolArgs for GetInboxUriArgs {
    const TOOL: ToolName = ToolName::GetInboxUri;
    const HINTS: Hints = Hints {
        title: "Get my inbox's resource URI",
        read_only: true,
        destructive: false,
        idempotent: true,
        signed: true,
    };
    const DESCRIPTION: &'static str = "The URI of your inbox as an MCP resource, to subscribe to: the server \
        sends notifications/resources/updated for it when an item arrives (through subscriptions/listen, or \
        resources/subscribe on a session). The notification only says \"look now\": read with get_messages. \
        The URI carries a secret token; keep it to yourself.";
    type Output = InboxUri;
}

/// `get_server_key` takes no arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetServerKeyArgs {}

impl ToolArgs for GetServerKeyArgs {
    const TOOL: ToolName = ToolName::GetServerKey;
    const HINTS: Hints = Hints {
        title: "Get the server's key",
        read_only: true,
        destructive: false,
        idempotent: true,
        signed: false,
    };
    const DESCRIPTION: &'static str = "Public: the key this server signs its own statements with (what it \
        accepted, and events it reports), its fingerprint, and the limits a client needs. Clients pin it on first \
        contact, like a recipient's key, and check every server statement against it.";
    type Output = crate::protocol::server_statement::ServerKeyInfo;
}

/// `get_my_identity` takes no arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetMyIdentityArgs {}

/// The result of `get_my_identity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IdentityHelp {
    /// Where a client's identity is configured.
    pub config_file: String,
    /// The commands that show or make one.
    pub how_to: String,
    /// The server's name.
    pub server: String,
    /// The server's version.
    pub version: String,
}

impl ToolArgs for CheckinClientArgs {
    const TOOL: ToolName = ToolName::CheckinClient;
    const HINTS: Hints = Hints {
        title: "Check in",
        read_only: false,
        destructive: false,
        idempotent: true,
        signed: true,
    };
    const DESCRIPTION: &'static str = "Register this client, or announce that it is online. The first check-in \
        must include `kel`, the full key event log, to register the identity; later ones may include it to push key \
        events made offline.";
    type Output = CheckinResult;
}

impl ToolArgs for RotateKeyArgs {
    const TOOL: ToolName = ToolName::RotateKey;
    const HINTS: Hints = Hints {
        title: "Rotate keys",
        read_only: false,
        destructive: true,
        idempotent: false,
        signed: false,
    };
    const DESCRIPTION: &'static str = "Append a rotation event to an identity's key event log: the committed next \
        key becomes current, and lifts a suspension. The event signs itself; make it with `mcpmsg rotate`.";
    type Output = KelUpdate;
}

impl ToolArgs for RevokeKeyArgs {
    const TOOL: ToolName = ToolName::RevokeKey;
    const HINTS: Hints = Hints {
        title: "Revoke keys",
        read_only: false,
        destructive: true,
        idempotent: true,
        signed: false,
    };
    const DESCRIPTION: &'static str = "Append a revocation event: signed by the current key it suspends the \
        identity (the next key can recover it); signed by the committed next key it ends the identity for good. \
        Every request signed by its keys is refused from then on. `kel`, the whole log ending in the event, lets a \
        server that forgot the identity store it revoked. Make it with `mcpmsg revoke`.";
    type Output = KelUpdate;
}

impl ToolArgs for GetClientKeysArgs {
    const TOOL: ToolName = ToolName::GetClientKeys;
    const HINTS: Hints = Hints {
        title: "Get a client's keys",
        read_only: true,
        destructive: false,
        idempotent: true,
        signed: false,
    };
    const DESCRIPTION: &'static str = "Public: an identity's key event log with the time the server accepted each \
        event and its status, to verify its messages or seal to its current sealing key.";
    type Output = ClientKeysResult;
}

impl ToolArgs for ListClientsArgs {
    const TOOL: ToolName = ToolName::ListClients;
    const HINTS: Hints = Hints {
        title: "List clients",
        read_only: true,
        destructive: false,
        idempotent: true,
        signed: false,
    };
    const DESCRIPTION: &'static str = "Public: one page of the registered client ids with names, capabilities, \
        current signing kid, last check-in and status. Pass next_cursor back as cursor for the next page. An \
        operator may turn this off.";
    type Output = ClientList;
}

impl ToolArgs for GetMyIdentityArgs {
    const TOOL: ToolName = ToolName::GetMyIdentity;
    const HINTS: Hints = Hints {
        title: "How identity works",
        read_only: true,
        destructive: false,
        idempotent: true,
        signed: false,
    };
    const DESCRIPTION: &'static str = "How identity works here: your client_id and keys live in \
        mcp_recipients.json and your key file on your machine, which the `mcpmsg` CLI manages; this server cannot \
        tell you who you are.";
    type Output = IdentityHelp;
}

impl From<crate::protocol::kel::KelStatus> for Status {
    fn from(s: crate::protocol::kel::KelStatus) -> Self {
        use crate::protocol::kel::KelStatus;
        match s {
            KelStatus::Active => Self::Active,
            KelStatus::Suspended { .. } => Self::Suspended,
            KelStatus::Revoked { .. } => Self::Revoked,
        }
    }
}
