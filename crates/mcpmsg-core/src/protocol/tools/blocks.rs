//! The block list (PROTOCOL §17): whom a client refuses 1:1 messages and
//! pairing from.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Hints, ToolArgs, ToolName};

signed_args! {
    /// The arguments of `block_client`.
    pub struct BlockClientArgs {
        /// You.
        #[schemars(pattern(super::CLIENT_ID_PATTERN))]
        pub client_id: String,
        /// The client to block or unblock.
        #[schemars(pattern(super::CLIENT_ID_PATTERN))]
        pub blocked_id: String,
        /// `block` or `unblock`.
        #[schemars(extend("enum" = ["block", "unblock"]))]
        pub action: String,
    }
    purpose "block", actor client_id, signed [client_id, blocked_id, action]
}

/// The result of `block_client`: the caller's block list after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BlockList {
    /// The clients you block, in ascending order.
    pub blocked: Vec<String>,
}

impl ToolArgs for BlockClientArgs {
    const TOOL: ToolName = ToolName::BlockClient;
    const HINTS: Hints = Hints {
        title: "Block or unblock a client",
        read_only: false,
        destructive: false,
        idempotent: true,
        signed: true,
    };
    const DESCRIPTION: &'static str = "Block a client (its 1:1 messages to you are refused, and you are never paired \
        with it) or unblock it. Returns your whole block list.";
    type Output = BlockList;
}
