//! Broadcast (PROTOCOL §18e): one signed send to every client that matches
//! a filter (a capability tag, a protocol range, a presence status), or,
//! sealed, to exactly the clients its key is wrapped for.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Hints, Skipped, ToolArgs, ToolName};

signed_args! {
    /// The arguments of `broadcast`.
    pub struct BroadcastArgs {
        /// You, the sender.
        #[schemars(pattern(super::CLIENT_ID_PATTERN))]
        pub sender_id: String,
        /// Only clients that declared this capability tag; empty: any.
        /// Unsealed only.
        pub tag: String,
        /// Only clients that declared a version of this protocol: `name`,
        /// or `name@range` with a semver range (`weather@^1.2`); empty: any.
        /// Unsealed only.
        pub protocol: String,
        /// Only clients whose presence is one of these, comma-separated
        /// from `active`, `idle`, `offline`; empty: any. Unsealed only.
        pub status: String,
        /// MIME type; `text/markdown` when empty. Sealed:
        /// `application/mcpmsg-broadcast-sealed`.
        pub content_type: String,
        /// The message_id this answers, if any; else empty.
        pub in_reply_to: String,
        /// The body: text, or sealed, base64url of the ChaCha20-Poly1305
        /// ciphertext under the message key.
        pub message: String,
        /// Sealed: the message key wrapped for each recipient,
        /// `client:kid:wrap` joined by commas in ascending client order;
        /// the server delivers to exactly these. Unsealed: empty.
        pub wraps: String,
    }
    purpose "broadcast", actor sender_id, signed [sender_id, tag, protocol, status, content_type, in_reply_to, message, wraps]
}

/// The result of `broadcast`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BroadcastResult {
    /// Derived from the signature, as for a 1:1 message.
    pub message_id: String,
    /// A retry of a broadcast already accepted: nothing new was queued.
    pub duplicate: bool,
    /// Server time of acceptance, Unix ms.
    pub received_at: String,
    /// When the copies expire unless delivered, Unix ms.
    pub expires_at: String,
    /// The clients it was queued for, in ascending order.
    pub delivered: Vec<String>,
    /// The clients that matched but did not get it, and why: `blocked`
    /// (they block you), `queue_full`, `store_full`.
    pub skipped: Vec<Skipped>,
}

/// Always `"broadcast"`: what tells a broadcast from a 1:1 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BroadcastKind {
    /// A broadcast.
    Broadcast,
}

/// A broadcast as delivered (`"kind": "broadcast"`): the signed send, the
/// client it was queued for, and the server's times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BroadcastDelivered {
    /// Always `broadcast`.
    pub kind: BroadcastKind,
    /// The message id.
    pub message_id: String,
    /// The client it was queued for (the server's word; not signed).
    pub recipient_id: String,
    /// The sender.
    pub sender_id: String,
    /// As signed.
    pub tag: String,
    /// As signed.
    pub protocol: String,
    /// As signed.
    pub status: String,
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

impl BroadcastDelivered {
    /// The signed send it carries, to verify.
    pub fn as_send(&self) -> BroadcastArgs {
        BroadcastArgs {
            sender_id: self.sender_id.clone(),
            tag: self.tag.clone(),
            protocol: self.protocol.clone(),
            status: self.status.clone(),
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

impl ToolArgs for BroadcastArgs {
    const TOOL: ToolName = ToolName::Broadcast;
    const HINTS: Hints = Hints {
        title: "Broadcast a message",
        read_only: false,
        destructive: false,
        idempotent: true,
        signed: true,
    };
    const DESCRIPTION: &'static str = "Queue one signed message for every client but you that matches a filter: a \
        capability tag, a protocol (name or name@semver-range) and presence statuses, as declared with \
        declare_capabilities. A sealed broadcast instead names its recipients by wrapping its key for each \
        (find them first with list_clients and the same filter) and goes to exactly those. The result lists who \
        got it and who was skipped, and why.";
    type Output = BroadcastResult;
}
