//! The message tools: send, send and wait, read, acknowledge.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Hints, ToolArgs, ToolName};
use crate::inbox::Delivered;
use crate::protocol::server_statement::{Acceptance, ServerEvent};

signed_args! {
    /// The arguments of `send_message`, as they travel.
    ///
    /// `content_type` and `in_reply_to` are optional on the wire; an absent
    /// one is signed as the empty string (PROTOCOL §2).
    pub struct SendMessage {
        /// Your client_id (my_id in mcp_recipients.json).
        #[schemars(pattern(super::CLIENT_ID_PATTERN))]
        pub sender_id: String,
        /// The recipient's client_id: a key of `recipients` in
        /// mcp_recipients.json, or from list_clients.
        #[schemars(pattern(super::CLIENT_ID_PATTERN))]
        pub recipient_id: String,
        /// The message: markdown text, or, sealed end to end, base64url(enc ||
        /// ct) of HPKE to the recipient's sealing key.
        pub message: String,
        /// MIME type; `text/markdown` when left out. Sealed:
        /// `application/mcpmsg-sealed; kid=<recipient sealing kid>`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub content_type: Option<String>,
        /// The message_id this answers, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(pattern(super::B64_16_PATTERN))]
        pub in_reply_to: Option<String>,
    }
    purpose "send", actor sender_id, signed [sender_id, recipient_id, content_type, in_reply_to, message]
}

signed_args! {
    /// The arguments of `send_message_and_wait`: those of `send_message`
    /// (signed exactly the same way) and how long to wait.
    pub struct SendAndWaitArgs {
        /// Your client_id (my_id in mcp_recipients.json).
        #[schemars(pattern(super::CLIENT_ID_PATTERN))]
        pub sender_id: String,
        /// The recipient's client_id.
        #[schemars(pattern(super::CLIENT_ID_PATTERN))]
        pub recipient_id: String,
        /// The message, as for send_message.
        pub message: String,
        /// MIME type, as for send_message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub content_type: Option<String>,
        /// The message_id this answers, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(pattern(super::B64_16_PATTERN))]
        pub in_reply_to: Option<String>,
        /// Seconds to wait for the reply (default 45, at most 50). Not signed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(max = 50))]
        pub timeout_s: Option<u64>,
    }
    purpose "send", actor sender_id, signed [sender_id, recipient_id, content_type, in_reply_to, message]
}

impl SendAndWaitArgs {
    /// A signed send and the wait after it.
    pub fn new(send: SendMessage, timeout_s: Option<u64>) -> Self {
        Self {
            sender_id: send.sender_id,
            recipient_id: send.recipient_id,
            message: send.message,
            content_type: send.content_type,
            in_reply_to: send.in_reply_to,
            timeout_s,
            key_id: send.key_id,
            ts: send.ts,
            nonce: send.nonce,
            sig: send.sig,
        }
    }

    /// The send, and the wait.
    pub fn into_parts(self) -> (SendMessage, Option<u64>) {
        let send = SendMessage {
            sender_id: self.sender_id,
            recipient_id: self.recipient_id,
            message: self.message,
            content_type: self.content_type,
            in_reply_to: self.in_reply_to,
            key_id: self.key_id,
            ts: self.ts,
            nonce: self.nonce,
            sig: self.sig,
        };
        (send, self.timeout_s)
    }
}

/// The result of `send_message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SendResult {
    /// Derived from the signature (PROTOCOL §5).
    pub message_id: String,
    /// A retry of a send the server had already accepted: nothing new was
    /// queued.
    pub duplicate: bool,
    /// Server time of acceptance, Unix ms.
    pub received_at: String,
    /// When the message expires unless delivered, Unix ms.
    pub expires_at: String,
    /// The same facts signed by the server key, for the sender to keep as
    /// proof of what the server accepted.
    pub acceptance: Acceptance,
}

/// The result of `send_message_and_wait`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SendAndWaitResult {
    /// The id of the message sent.
    pub message_id: String,
    /// A retry of an accepted send, which does not wait (A4).
    pub duplicate: bool,
    /// No reply arrived in time.
    pub timed_out: bool,
    /// The reply, removed from the sender's queue.
    pub reply: Option<Delivered>,
}

signed_args! {
    /// The arguments of `get_messages`; an absent optional one is signed as
    /// the empty string.
    pub struct GetMessagesArgs {
        /// Your client_id.
        #[schemars(pattern(super::CLIENT_ID_PATTERN))]
        pub client_id: String,
        /// Most messages to return, "1" to "1000" (default "100").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(pattern(super::DECIMAL_PATTERN))]
        pub max: Option<String>,
        /// Seconds to wait for a first message, "0" to "50" (default "0":
        /// return at once).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(pattern(super::DECIMAL_PATTERN))]
        pub wait_s: Option<String>,
        /// "auto" (default): returned messages are removed. "manual": they
        /// are leased and come back unless ack_messages removes them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(extend("enum" = ["auto", "manual"]))]
        pub ack: Option<String>,
    }
    purpose "get", actor client_id, signed [client_id, max, wait_s, ack]
}

/// An item of an inbox (PROTOCOL §14): an event (`"kind": "event"`), a
/// room message (`"kind": "room_message"`, §15), a signal (`"kind":
/// "signal"`, §15d), a broadcast (`"kind": "broadcast"`, §18e) or a message (the v1 object, which has no `kind`).
/// Clients that use no new feature never get any of the first three.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum InboxItem {
    /// What the server says on its own, signed with the server key.
    Event(ServerEvent),
    /// A message to a room, as signed by its sender.
    RoomMessage(super::RoomDelivered),
    /// A member's typing signal, as signed by it.
    Signal(super::SignalDelivered),
    /// A broadcast, as signed by its sender.
    Broadcast(super::BroadcastDelivered),
    /// A message, as signed by its sender.
    Message(Delivered),
}

/// The result of `get_messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Messages {
    /// Oldest first.
    pub messages: Vec<InboxItem>,
}

signed_args! {
    /// The arguments of `ack_messages`.
    pub struct AckMessagesArgs {
        /// Your client_id.
        #[schemars(pattern(super::CLIENT_ID_PATTERN))]
        pub client_id: String,
        /// Comma-separated message_ids from get_messages, no spaces.
        #[schemars(pattern(super::MESSAGE_IDS_PATTERN))]
        pub message_ids: String,
    }
    purpose "ack", actor client_id, signed [client_id, message_ids]
}

/// The result of `ack_messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AckResult {
    /// The ids removed.
    pub acked: Vec<String>,
    /// Ids not leased in the queue (already removed, expired, or never
    /// queued).
    pub unknown: Vec<String>,
}

impl ToolArgs for SendMessage {
    const TOOL: ToolName = ToolName::SendMessage;
    const HINTS: Hints = Hints {
        title: "Send a message",
        read_only: false,
        destructive: false,
        idempotent: true,
        signed: true,
    };
    const DESCRIPTION: &'static str = "Queue a signed message for another client and return its message_id at once. \
        A message not collected within the server's message lifetime expires.";
    type Output = SendResult;
}

impl ToolArgs for SendAndWaitArgs {
    const TOOL: ToolName = ToolName::SendMessageAndWait;
    const HINTS: Hints = Hints {
        title: "Send and wait for the answer",
        read_only: false,
        destructive: false,
        idempotent: false,
        signed: true,
    };
    const DESCRIPTION: &'static str = "Send a signed message, then wait up to timeout_s for the recipient's answer \
        in your own queue, preferring a reply to this message, and remove it. A timeout is reported plainly, not as \
        an error; a retried (duplicate) send does not wait.";
    type Output = SendAndWaitResult;
}

impl ToolArgs for GetMessagesArgs {
    const TOOL: ToolName = ToolName::GetMessages;
    const HINTS: Hints = Hints {
        title: "Read messages",
        read_only: false,
        destructive: false,
        idempotent: false,
        signed: true,
    };
    const DESCRIPTION: &'static str = "Collect messages sent to you, oldest first, optionally waiting for the first \
        to arrive. Each carries its sender's signature, to verify against the sender's key event log \
        (get_client_keys).";
    type Output = Messages;
}

impl ToolArgs for AckMessagesArgs {
    const TOOL: ToolName = ToolName::AckMessages;
    const HINTS: Hints = Hints {
        title: "Acknowledge messages",
        read_only: false,
        destructive: true,
        idempotent: true,
        signed: true,
    };
    const DESCRIPTION: &'static str = "Remove messages you read with ack=\"manual\" once you have handled them.";
    type Output = AckResult;
}
