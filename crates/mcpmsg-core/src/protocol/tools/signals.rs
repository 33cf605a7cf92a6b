//! Ephemeral signals (PROTOCOL §15d): "typing" and "stopped" in a room,
//! pushed to the other members, replacing the sender's previous signal
//! there, short-lived, and never counted against a queue.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Hints, Skipped, ToolArgs, ToolName};

/// The signals there are.
pub const SIGNALS: [&str; 2] = ["typing", "stopped"];

signed_args! {
    /// The arguments of `send_signal`.
    pub struct SendSignalArgs {
        /// You, a member of the room.
        #[schemars(pattern(super::CLIENT_ID_PATTERN))]
        pub sender_id: String,
        /// The room.
        #[schemars(pattern(super::B64_16_PATTERN))]
        pub room_id: String,
        /// `typing` or `stopped`.
        #[schemars(extend("enum" = ["typing", "stopped"]))]
        pub signal: String,
    }
    purpose "signal", actor sender_id, signed [sender_id, room_id, signal]
}

/// The result of `send_signal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SignalSent {
    /// The members it was left for.
    pub delivered: Vec<String>,
    /// The members it was not left for, and why (`signals_full`: they hold
    /// the most signals the server keeps for one client).
    pub skipped: Vec<Skipped>,
    /// When it lapses unless replaced, Unix ms.
    pub expires_at: String,
}

/// Always `"signal"`: what tells a signal from a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// An ephemeral signal.
    Signal,
}

/// A signal as delivered (`"kind": "signal"`): what its sender signed and
/// the server's times. It has no message id: it is never leased or
/// acknowledged, and reading it removes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalDelivered {
    /// Always `signal`.
    pub kind: SignalKind,
    /// The member it was left for (the server's word; not signed).
    pub recipient_id: String,
    /// As signed.
    pub sender_id: String,
    /// As signed.
    pub room_id: String,
    /// As signed: `typing` or `stopped`.
    pub signal: String,
    /// Kid of the signing key.
    pub key_id: String,
    /// As signed.
    pub ts: String,
    /// As signed.
    pub nonce: String,
    /// The sender's signature (purpose `signal`).
    pub sig: String,
    /// Server time of acceptance, Unix ms.
    pub received_at: String,
    /// When it lapses, Unix ms.
    pub expires_at: String,
}

impl SignalDelivered {
    /// The arguments as their sender signed them, to verify.
    pub fn as_signed(&self) -> SendSignalArgs {
        SendSignalArgs {
            sender_id: self.sender_id.clone(),
            room_id: self.room_id.clone(),
            signal: self.signal.clone(),
            key_id: self.key_id.clone(),
            ts: self.ts.clone(),
            nonce: self.nonce.clone(),
            sig: self.sig.clone(),
        }
    }
}

impl ToolArgs for SendSignalArgs {
    const TOOL: ToolName = ToolName::SendSignal;
    const HINTS: Hints = Hints {
        title: "Signal typing in a room",
        read_only: false,
        destructive: false,
        idempotent: true,
        signed: true,
    };
    const DESCRIPTION: &'static str = "Tell the other members of a room that you are typing (\"typing\") or have \
        stopped (\"stopped\"). A signal replaces your previous one there, lapses after a few seconds, and never \
        counts against anyone's queue; send \"typing\" again every few seconds while you type.";
    type Output = SignalSent;
}
