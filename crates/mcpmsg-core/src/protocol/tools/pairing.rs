//! The pairing tools (PROTOCOL §16): enter the pen-pal queue, leave it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Hints, ToolArgs, ToolName};

signed_args! {
    /// The arguments of `enter_queue`; kept by the server as the entrant's
    /// consent, and shown in the room's log once it is paired.
    pub struct EnterQueueArgs {
        /// You.
        #[schemars(pattern(super::CLIENT_ID_PATTERN))]
        pub client_id: String,
        /// The name your partner sees (at most 64 printable characters;
        /// may be empty).
        pub display_name: String,
        /// What you would like to talk about: up to 8 tags of `a-z`, `0-9`
        /// and `-` (1 to 32 each), comma-separated; may be empty.
        pub interests: String,
        /// Seconds to stay in the queue if nobody is there yet, "1" up to
        /// the server's longest pairing wait.
        #[schemars(pattern(super::DECIMAL_PATTERN))]
        pub wait_s: String,
    }
    purpose "enter-queue", actor client_id, signed [client_id, display_name, interests, wait_s]
}

/// The result of `enter_queue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EnterQueueResult {
    /// `paired`: a partner was waiting and the room exists now; `waiting`:
    /// you are in the queue until `until`, and `chatroom.found` arrives in
    /// your inbox when someone is paired with you.
    pub status: String,
    /// The new room, when paired.
    pub room_id: Option<String>,
    /// Your partner, when paired.
    pub partner_id: Option<String>,
    /// Until when you stay queued, Unix ms, when waiting.
    pub until: Option<String>,
}

signed_args! {
    /// The arguments of `leave_queue`.
    pub struct LeaveQueueArgs {
        /// You.
        #[schemars(pattern(super::CLIENT_ID_PATTERN))]
        pub client_id: String,
    }
    purpose "leave-queue", actor client_id, signed [client_id]
}

/// The result of `leave_queue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeaveQueueResult {
    /// Whether you were in the queue.
    pub removed: bool,
}

impl ToolArgs for EnterQueueArgs {
    const TOOL: ToolName = ToolName::EnterQueue;
    const HINTS: Hints = Hints {
        title: "Find a pen pal",
        read_only: false,
        destructive: false,
        idempotent: false,
        signed: true,
    };
    const DESCRIPTION: &'static str = "Enter the pairing queue: you are paired at random with another waiting \
        client, preferring shared interests, in a new two-member room. Paired at once, the result says so; \
        otherwise chatroom.found arrives in your inbox when a partner comes.";
    type Output = EnterQueueResult;
}

impl ToolArgs for LeaveQueueArgs {
    const TOOL: ToolName = ToolName::LeaveQueue;
    const HINTS: Hints = Hints {
        title: "Leave the pairing queue",
        read_only: false,
        destructive: true,
        idempotent: true,
        signed: true,
    };
    const DESCRIPTION: &'static str = "Stop waiting for a pen pal.";
    type Output = LeaveQueueResult;
}
