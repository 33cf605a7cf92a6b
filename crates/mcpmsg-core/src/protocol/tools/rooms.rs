//! The room tools (PROTOCOL §15): change a room's membership by a signed
//! statement, read its log, list your rooms, send to a room.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Hints, ToolArgs, ToolName};

signed_args! {
    /// A membership statement: the arguments of `change_room`, and, once
    /// accepted, an entry of the room's log exactly as it was signed. Every
    /// member is present; one that does not apply to `op` is the empty
    /// string.
    pub struct ChangeRoomArgs {
        /// `create`, `invite`, `join`, `leave` or `remove` (`pair` starts a
        /// pen-pal room, signed by the server key; no client sends one).
        #[schemars(extend("enum" = ["create", "invite", "join", "leave", "remove"]))]
        pub op: String,
        /// The room: empty for `create` (the id is derived from this
        /// statement's signature), else the room's id.
        pub room_id: String,
        /// This statement's place in the log: "0" for `create`, else the
        /// number of statements before it.
        #[schemars(pattern(super::DECIMAL_PATTERN))]
        pub seq: String,
        /// The hash of the statement before it (lowercase hex); empty for
        /// `create`.
        pub prev: String,
        /// You: the member who acts, and whose key signs.
        #[schemars(pattern(super::CLIENT_ID_PATTERN))]
        pub client_id: String,
        /// `invite` and `remove`: the client invited or removed. Else empty.
        pub member: String,
        /// `create`: the room's title (at most 128 printable characters).
        /// Else empty.
        pub title: String,
    }
    purpose "room", actor client_id, signed [op, room_id, seq, prev, client_id, member, title]
}

/// The result of `change_room`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RoomChange {
    /// The room (for `create`: its new id).
    pub room_id: String,
    /// The seq of the accepted statement.
    pub seq: String,
    /// The hash of the accepted statement: the log's new head.
    pub head: String,
    /// Membership changes so far, this one included.
    pub epoch: String,
    /// Server time of acceptance, Unix ms.
    pub accepted_at: String,
}

signed_args! {
    /// The arguments of `get_room_log`.
    pub struct GetRoomLogArgs {
        /// You: a member of the room or a client invited to it.
        #[schemars(pattern(super::CLIENT_ID_PATTERN))]
        pub client_id: String,
        /// The room.
        pub room_id: String,
    }
    purpose "room-log", actor client_id, signed [client_id, room_id]
}

/// The result of `get_room_log`: the whole membership log, to verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RoomLog {
    /// The room.
    pub room_id: String,
    /// Every statement, oldest first, as signed.
    pub statements: Vec<ChangeRoomArgs>,
    /// Server time each statement was accepted, Unix ms; one per statement.
    pub accepted_at: Vec<String>,
    /// The server's reading of the log, for convenience only: a client
    /// verifies the statements and derives these itself.
    pub members: Vec<String>,
    /// The server's reading of the epoch.
    pub epoch: String,
    /// A pen-pal room (its first statement is a `pair`): the two
    /// `enter_queue` requests that consented to it, as signed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consents: Vec<super::EnterQueueArgs>,
}

signed_args! {
    /// The arguments of `list_rooms`.
    pub struct ListRoomsArgs {
        /// You.
        #[schemars(pattern(super::CLIENT_ID_PATTERN))]
        pub client_id: String,
    }
    purpose "rooms", actor client_id, signed [client_id]
}

/// One room in `list_rooms`: the server's reading of its log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RoomEntry {
    /// The room.
    pub room_id: String,
    /// Its title, as its creator signed it.
    pub title: String,
    /// Its creator, who may remove members.
    pub owner: String,
    /// Its members.
    pub members: Vec<String>,
    /// Its epoch.
    pub epoch: String,
}

/// The result of `list_rooms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RoomList {
    /// The rooms you are a member of, by room id.
    pub rooms: Vec<RoomEntry>,
}

signed_args! {
    /// The arguments of `send_room_message`.
    pub struct SendRoomMessageArgs {
        /// You: a member of the room.
        #[schemars(pattern(super::CLIENT_ID_PATTERN))]
        pub sender_id: String,
        /// The room.
        pub room_id: String,
        /// The epoch of the membership the message was made for.
        #[schemars(pattern(super::DECIMAL_PATTERN))]
        pub epoch: String,
        /// MIME type; `text/markdown` when empty. Sealed:
        /// `application/mcpmsg-room-sealed`.
        pub content_type: String,
        /// The message_id this answers, if any; else empty.
        pub in_reply_to: String,
        /// The body: text, or sealed, base64url of the ChaCha20-Poly1305
        /// ciphertext under the message key.
        pub message: String,
        /// Sealed: the message key wrapped for each other member,
        /// `member:kid:wrap` joined by commas in ascending member order.
        /// Unsealed: empty.
        pub wraps: String,
    }
    purpose "room-send", actor sender_id, signed [sender_id, room_id, epoch, content_type, in_reply_to, message, wraps]
}

/// Why a member did not get a room message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Skipped {
    /// The member.
    pub member: String,
    /// `queue_full`: its queue, or the sender's share of it, is full.
    pub reason: String,
}

/// The result of `send_room_message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RoomSendResult {
    /// Derived from the signature, as for a 1:1 message.
    pub message_id: String,
    /// A retry of a send already accepted: nothing new was queued.
    pub duplicate: bool,
    /// Server time of acceptance, Unix ms.
    pub received_at: String,
    /// When the copies expire unless delivered, Unix ms.
    pub expires_at: String,
    /// The members it was queued for.
    pub delivered: Vec<String>,
    /// The members it was not queued for, and why.
    pub skipped: Vec<Skipped>,
}

/// Always `"room_message"`: what tells a room message from a 1:1 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoomMessageKind {
    /// A message sent to a room.
    RoomMessage,
}

/// A room message as delivered (`"kind": "room_message"`): the signed
/// envelope, the member it was queued for, and the server's times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoomDelivered {
    /// Always `room_message`.
    pub kind: RoomMessageKind,
    /// The message id.
    pub message_id: String,
    /// The member who queued it for you (the server's word; not signed).
    pub recipient_id: String,
    /// The sender.
    pub sender_id: String,
    /// As signed.
    pub room_id: String,
    /// As signed.
    pub epoch: String,
    /// As signed.
    pub content_type: String,
    /// As signed.
    pub in_reply_to: String,
    /// As signed.
    pub message: String,
    /// As signed.
    pub wraps: String,
    /// Kid of the signing key.
    pub key_id: String,
    /// Sender's time.
    pub ts: String,
    /// Request nonce.
    pub nonce: String,
    /// Signature.
    pub sig: String,
    /// Server time of acceptance, Unix ms.
    pub received_at: String,
    /// Expiry, Unix ms.
    pub expires_at: String,
}

impl RoomDelivered {
    /// The signed send it carries, to verify.
    pub fn as_send(&self) -> SendRoomMessageArgs {
        SendRoomMessageArgs {
            sender_id: self.sender_id.clone(),
            room_id: self.room_id.clone(),
            epoch: self.epoch.clone(),
            content_type: self.content_type.clone(),
            in_reply_to: self.in_reply_to.clone(),
            message: self.message.clone(),
            wraps: self.wraps.clone(),
            key_id: self.key_id.clone(),
            ts: self.ts.clone(),
            nonce: self.nonce.clone(),
            sig: self.sig.clone(),
        }
    }
}

impl ToolArgs for ChangeRoomArgs {
    const TOOL: ToolName = ToolName::ChangeRoom;
    const HINTS: Hints = Hints {
        title: "Change a room's membership",
        read_only: false,
        destructive: true,
        idempotent: false,
        signed: true,
    };
    const DESCRIPTION: &'static str = "Append a signed membership statement to a room's log: create a room, \
        invite a client (any member may), join a room you were invited to (only you can), leave, or remove a \
        member (the owner). The statement names the log's current seq and head; a stale one is refused.";
    type Output = RoomChange;
}

impl ToolArgs for GetRoomLogArgs {
    const TOOL: ToolName = ToolName::GetRoomLog;
    const HINTS: Hints = Hints {
        title: "Read a room's membership log",
        read_only: true,
        destructive: false,
        idempotent: true,
        signed: true,
    };
    const DESCRIPTION: &'static str = "Return every signed membership statement of a room you are a member of or \
        invited to, for you to verify against each signer's key event log before you seal to its members.";
    type Output = RoomLog;
}

impl ToolArgs for ListRoomsArgs {
    const TOOL: ToolName = ToolName::ListRooms;
    const HINTS: Hints = Hints {
        title: "List my rooms",
        read_only: true,
        destructive: false,
        idempotent: true,
        signed: true,
    };
    const DESCRIPTION: &'static str = "List the rooms you are a member of, with their titles, members and epochs.";
    type Output = RoomList;
}

impl ToolArgs for SendRoomMessageArgs {
    const TOOL: ToolName = ToolName::SendRoomMessage;
    const HINTS: Hints = Hints {
        title: "Send to a room",
        read_only: false,
        destructive: false,
        idempotent: true,
        signed: true,
    };
    const DESCRIPTION: &'static str = "Queue a signed message for every other member of a room, made for the \
        room's current epoch. A sealed one must wrap its key for exactly the other members under their current \
        sealing keys.";
    type Output = RoomSendResult;
}
