//! Every tool of PROTOCOL §5, once: its name, what a model is told about
//! it, its arguments and its result as Rust types. Serde gives their wire
//! form, schemars their JSON Schema (the server publishes it), and for a
//! signed tool the order of the fields under the signature is written in
//! the type's definition ([`signed_args!`]), so the server, the CLI, the
//! bridge, the bench and the tests cannot disagree about any of it.
//!
//! Adding a tool: add its arguments and result here, a [`ToolName`]
//! variant, and one function to the server's MCP adapter; the compiler
//! points at every other place (the adapter's dispatch and tool list match
//! on [`ToolName`] exhaustively).

#[macro_use]
mod signed;
mod adapters;
mod blocks;
mod broadcast;
mod identity;
mod messages;
mod pairing;
mod protocols;
mod rooms;
mod signals;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use adapters::{AdapterEntry, AdapterList, AdapterRegistered, ListAdaptersArgs, RegisterAdapterArgs};
pub use blocks::{BlockClientArgs, BlockList};
pub use broadcast::{BroadcastArgs, BroadcastDelivered, BroadcastKind, BroadcastResult};
pub use identity::{
    CheckinClientArgs, CheckinResult, ClientEntry, ClientKeysResult, ClientList, GetClientKeysArgs, GetInboxUriArgs,
    GetMyIdentityArgs, GetServerKeyArgs, HeartbeatArgs, HeartbeatResult, IdentityHelp, InboxUri, KelUpdate,
    ListClientsArgs, PresenceStatus, RevokeKeyArgs, RotateKeyArgs, Status,
};
pub use messages::{
    AckMessagesArgs, AckResult, GetMessagesArgs, InboxItem, Messages, SendAndWaitArgs, SendAndWaitResult, SendMessage,
    SendResult,
};
pub use pairing::{EnterQueueArgs, EnterQueueResult, LeaveQueueArgs, LeaveQueueResult};
pub use protocols::{
    CompatibilityMatrix, CompatibilityMatrixArgs, DeclareArgs, Declared, DiscoverProtocolsArgs, GetProtocolArgs,
    NegotiateArgs, ProtocolEntry, ProtocolInfo, ProtocolList, ProtocolRegistered, RegisterProtocolArgs,
};
pub use rooms::{
    ChangeRoomArgs, GetRoomLogArgs, ListRoomsArgs, RoomChange, RoomDelivered, RoomEntry, RoomList, RoomLog,
    RoomMessageKind, RoomSendResult, SendRoomMessageArgs, Skipped,
};
pub use signals::{SendSignalArgs, SignalDelivered, SignalKind, SignalSent, SIGNALS};
pub use signed::{SignedArgs, SignedField};

/// `client_id`: 1 to 64 of `[A-Za-z0-9._-]`, first alphanumeric.
pub const CLIENT_ID_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";
/// A kid: the first 32 hex characters of a key's fingerprint.
pub const KID_PATTERN: &str = "^[0-9a-f]{32}$";
/// A canonical decimal string.
pub const DECIMAL_PATTERN: &str = "^(0|[1-9][0-9]*)$";
/// base64url of 16 bytes (nonces, message ids).
pub const B64_16_PATTERN: &str = "^[A-Za-z0-9_-]{22}$";
/// base64url of 64 bytes (signatures).
pub const B64_64_PATTERN: &str = "^[A-Za-z0-9_-]{86}$";
/// Comma-separated message ids.
pub const MESSAGE_IDS_PATTERN: &str = "^[A-Za-z0-9_-]{22}(,[A-Za-z0-9_-]{22})*$";
/// Lowercase hex of 32 bytes (log heads).
pub const HEX_64_PATTERN: &str = "^[0-9a-f]{64}$";

/// Every tool's name: the server's dispatch and tool list match on it, so a
/// new variant is a compile error until both handle it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToolName {
    /// `checkin_client`
    CheckinClient,
    /// `send_message`
    SendMessage,
    /// `send_message_and_wait`
    SendMessageAndWait,
    /// `get_messages`
    GetMessages,
    /// `ack_messages`
    AckMessages,
    /// `rotate_key`
    RotateKey,
    /// `revoke_key`
    RevokeKey,
    /// `get_client_keys`
    GetClientKeys,
    /// `list_clients`
    ListClients,
    /// `get_my_identity`
    GetMyIdentity,
    /// `heartbeat`
    Heartbeat,
    /// `get_server_key`
    GetServerKey,
    /// `get_inbox_uri`
    GetInboxUri,
    /// `change_room`
    ChangeRoom,
    /// `get_room_log`
    GetRoomLog,
    /// `list_rooms`
    ListRooms,
    /// `send_room_message`
    SendRoomMessage,
    /// `enter_queue`
    EnterQueue,
    /// `leave_queue`
    LeaveQueue,
    /// `block_client`
    BlockClient,
    /// `send_signal`
    SendSignal,
    /// `register_protocol`
    RegisterProtocol,
    /// `get_protocol`
    GetProtocol,
    /// `discover_protocols`
    DiscoverProtocols,
    /// `declare_capabilities`
    DeclareCapabilities,
    /// `negotiate`
    Negotiate,
    /// `compatibility_matrix`
    CompatibilityMatrix,
    /// `broadcast`
    Broadcast,
    /// `register_adapter`
    RegisterAdapter,
    /// `list_adapters`
    ListAdapters,
}

impl ToolName {
    /// Every tool, in the order PROTOCOL §5 lists them.
    pub const ALL: [Self; 30] = [
        Self::CheckinClient,
        Self::SendMessage,
        Self::SendMessageAndWait,
        Self::GetMessages,
        Self::AckMessages,
        Self::RotateKey,
        Self::RevokeKey,
        Self::GetClientKeys,
        Self::ListClients,
        Self::GetMyIdentity,
        Self::Heartbeat,
        Self::GetServerKey,
        Self::GetInboxUri,
        Self::ChangeRoom,
        Self::GetRoomLog,
        Self::ListRooms,
        Self::SendRoomMessage,
        Self::EnterQueue,
        Self::LeaveQueue,
        Self::BlockClient,
        Self::SendSignal,
        Self::RegisterProtocol,
        Self::GetProtocol,
        Self::DiscoverProtocols,
        Self::DeclareCapabilities,
        Self::Negotiate,
        Self::CompatibilityMatrix,
        Self::Broadcast,
        Self::RegisterAdapter,
        Self::ListAdapters,
    ];

    /// The name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CheckinClient => "checkin_client",
            Self::SendMessage => "send_message",
            Self::SendMessageAndWait => "send_message_and_wait",
            Self::GetMessages => "get_messages",
            Self::AckMessages => "ack_messages",
            Self::RotateKey => "rotate_key",
            Self::RevokeKey => "revoke_key",
            Self::GetClientKeys => "get_client_keys",
            Self::ListClients => "list_clients",
            Self::GetMyIdentity => "get_my_identity",
            Self::Heartbeat => "heartbeat",
            Self::GetServerKey => "get_server_key",
            Self::GetInboxUri => "get_inbox_uri",
            Self::ChangeRoom => "change_room",
            Self::GetRoomLog => "get_room_log",
            Self::ListRooms => "list_rooms",
            Self::SendRoomMessage => "send_room_message",
            Self::EnterQueue => "enter_queue",
            Self::LeaveQueue => "leave_queue",
            Self::BlockClient => "block_client",
            Self::SendSignal => "send_signal",
            Self::RegisterProtocol => "register_protocol",
            Self::GetProtocol => "get_protocol",
            Self::DiscoverProtocols => "discover_protocols",
            Self::DeclareCapabilities => "declare_capabilities",
            Self::Negotiate => "negotiate",
            Self::CompatibilityMatrix => "compatibility_matrix",
            Self::Broadcast => "broadcast",
            Self::RegisterAdapter => "register_adapter",
            Self::ListAdapters => "list_adapters",
        }
    }

    /// Its title and annotations.
    pub const fn hints(self) -> Hints {
        match self {
            Self::CheckinClient => CheckinClientArgs::HINTS,
            Self::SendMessage => SendMessage::HINTS,
            Self::SendMessageAndWait => SendAndWaitArgs::HINTS,
            Self::GetMessages => GetMessagesArgs::HINTS,
            Self::AckMessages => AckMessagesArgs::HINTS,
            Self::RotateKey => RotateKeyArgs::HINTS,
            Self::RevokeKey => RevokeKeyArgs::HINTS,
            Self::GetClientKeys => GetClientKeysArgs::HINTS,
            Self::ListClients => ListClientsArgs::HINTS,
            Self::GetMyIdentity => GetMyIdentityArgs::HINTS,
            Self::Heartbeat => HeartbeatArgs::HINTS,
            Self::GetServerKey => GetServerKeyArgs::HINTS,
            Self::GetInboxUri => GetInboxUriArgs::HINTS,
            Self::ChangeRoom => ChangeRoomArgs::HINTS,
            Self::GetRoomLog => GetRoomLogArgs::HINTS,
            Self::ListRooms => ListRoomsArgs::HINTS,
            Self::SendRoomMessage => SendRoomMessageArgs::HINTS,
            Self::EnterQueue => EnterQueueArgs::HINTS,
            Self::LeaveQueue => LeaveQueueArgs::HINTS,
            Self::BlockClient => BlockClientArgs::HINTS,
            Self::SendSignal => SendSignalArgs::HINTS,
            Self::RegisterProtocol => RegisterProtocolArgs::HINTS,
            Self::GetProtocol => GetProtocolArgs::HINTS,
            Self::DiscoverProtocols => DiscoverProtocolsArgs::HINTS,
            Self::DeclareCapabilities => DeclareArgs::HINTS,
            Self::Negotiate => NegotiateArgs::HINTS,
            Self::CompatibilityMatrix => CompatibilityMatrixArgs::HINTS,
            Self::Broadcast => BroadcastArgs::HINTS,
            Self::RegisterAdapter => RegisterAdapterArgs::HINTS,
            Self::ListAdapters => ListAdaptersArgs::HINTS,
        }
    }

    /// The tool called `name`, if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// What an MCP client is told about a tool besides its schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hints {
    /// A short human title.
    pub title: &'static str,
    /// Changes nothing on the server.
    pub read_only: bool,
    /// May remove or end something.
    pub destructive: bool,
    /// Calling again with the same arguments changes nothing more.
    pub idempotent: bool,
    /// Needs the caller's signature (key_id, ts, nonce, sig).
    pub signed: bool,
}

/// A tool's arguments: the type that names the tool, with its result.
pub trait ToolArgs: Serialize + DeserializeOwned + JsonSchema + Send + 'static {
    /// Which tool these are the arguments of.
    const TOOL: ToolName;
    /// Title and annotations.
    const HINTS: Hints;
    /// What a model is told the tool does (no section numbers: a model
    /// cannot act on them).
    const DESCRIPTION: &'static str;
    /// The tool's `structuredContent` on success.
    type Output: Serialize + DeserializeOwned + JsonSchema + Send + 'static;
}

/// Arguments that do not have their protocol form, said the way PROTOCOL
/// §7 wants: naming the member and what it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ArgsError(pub String);

impl ArgsError {
    /// Rewords serde's message about the member at `path`: `unknown field
    /// `x`, expected `a` or `b`` becomes `unknown argument "x"; this tool
    /// takes a, b`; `missing field `sig`` becomes `sig: required`; `invalid
    /// type: integer `5`, expected a string` at `ts` becomes `ts: expected
    /// a string`. Names from the request are escaped: they reach a model.
    fn new(path: &str, serde: &str) -> Self {
        // Serde quotes names in backticks; the first may come from the
        // request, the rest are ours.
        let quoted = |s: &str| s.split('`').skip(1).step_by(2).map(str::to_owned).collect::<Vec<_>>();
        let at = |what: String| match path {
            "." | "" => what,
            p => format!("{}: {what}", crate::protocol::escape_inline(p, 128)),
        };
        if let Some(rest) = serde.strip_prefix("unknown field ") {
            let names = quoted(rest);
            let takes = match names.split_first() {
                Some((_, [])) | None => "this tool takes no arguments".to_owned(),
                Some((_, allowed)) => format!("this tool takes {}", allowed.join(", ")),
            };
            let unknown = crate::protocol::escape_inline(names.first().map_or("", String::as_str), 64);
            let within = path.rsplit_once('.').map_or("", |(p, _)| p);
            return Self(match within {
                "" => format!("unknown argument {unknown:?}; {takes}"),
                p => format!("{}: unknown member {unknown:?}", crate::protocol::escape_inline(p, 128)),
            });
        }
        if let Some(rest) = serde.strip_prefix("missing field ") {
            let name = quoted(rest).pop().unwrap_or_default();
            return Self(match path {
                "." | "" => format!("{name}: required"),
                p => format!("{}.{name}: required", crate::protocol::escape_inline(p, 128)),
            });
        }
        if let Some((_, expected)) = serde
            .strip_prefix("invalid type: ")
            .and_then(|r| r.split_once(", expected "))
        {
            return Self(at(format!("expected {expected}")));
        }
        Self(at(crate::protocol::escape_inline(serde, 300)))
    }
}

/// Parses any JSON into `T`, naming the member at fault as [`parse_args`]
/// does (for tools defined outside this module, such as the bridge's).
pub fn parse_json<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ArgsError> {
    parse(value)
}

fn parse<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ArgsError> {
    serde_path_to_error::deserialize(value).map_err(|e| ArgsError::new(&e.path().to_string(), &e.inner().to_string()))
}

/// Parses a tool's arguments, naming the member at fault on failure: an
/// unknown member, a missing one, or one of the wrong JSON type.
pub fn parse_args<A: ToolArgs>(args: serde_json::Value) -> Result<A, ArgsError> {
    parse(args)
}

/// Parses a tool's arguments from their JSON text, without building a
/// tree, naming the member at fault exactly as [`parse_args`] does (the
/// parser's "at line L column C" is left out, so both say the same).
pub fn parse_args_text<A: ToolArgs>(text: &str) -> Result<A, ArgsError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed: A = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let inner = e.inner();
        let mut message = inner.to_string();
        let at = format!(" at line {} column {}", inner.line(), inner.column());
        if inner.line() > 0 && message.ends_with(&at) {
            message.truncate(message.len() - at.len());
        }
        ArgsError::new(&e.path().to_string(), &message)
    })?;
    de.end().map_err(|e| ArgsError(format!("arguments: {e}")))?;
    Ok(parsed)
}

/// A tool's result read back by a client.
pub fn parse_output<A: ToolArgs>(structured: serde_json::Value) -> Result<A::Output, ArgsError> {
    parse(structured)
}

/// The `{"error": {...}}` of a refused call (PROTOCOL §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Refused {
    /// The code and what to do about it.
    pub error: RefusalBody,
}

/// The body of a refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RefusalBody {
    /// A PROTOCOL §7 code.
    pub code: String,
    /// What was wrong and how to fix it.
    pub message: String,
    /// For `rate_limited`: how long to wait, Unix-style milliseconds as a
    /// decimal string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<String>,
}

#[cfg(test)]
mod tests;
