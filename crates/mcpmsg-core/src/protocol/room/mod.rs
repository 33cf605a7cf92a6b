//! Rooms (PROTOCOL §15): a hash-chained log of membership statements, each
//! signed by the member who acted, and messages sent to every member.
//!
//! The server and every member read the same log with the same rules
//! ([`RoomState`]); a member also checks each statement's signature against
//! the signer's own key event log ([`verify_log`]), so a member the server
//! wrote into its copy of the log without a valid join signed by that member
//! after a valid invitation (a "ghost") is refused by every client, which
//! then seals to nobody it has not verified.

mod log;
pub(crate) mod sealed;
mod verify;

use sha2::{Digest, Sha256};

use crate::crypto::hex;
use crate::protocol::tools::{ChangeRoomArgs, SignedArgs};
use crate::protocol::{decode_sig, message_id, FieldError};

pub use log::{RoomError, RoomRule, RoomState};
pub use sealed::{format_wraps, parse_wraps, RoomSealParts, Wrap, SEALED_CONTENT_TYPE, WRAP_INFO};
pub(crate) use verify::{check_copy, check_signed as check_signed_by};
pub use verify::{check_message, check_signal, verify_log, OpenedRoomMessage, Trust, VerifiedRoom, SIGNAL_MAX_AGE_MS};

/// Longest room title, in characters.
pub const MAX_TITLE_CHARS: usize = 128;

/// What a membership statement does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Starts the log; its signer is the owner and first member.
    Create,
    /// A member invites a client; adds nobody.
    Invite,
    /// An invited client joins: only its own signature adds it.
    Join,
    /// A member leaves.
    Leave,
    /// The owner removes a member.
    Remove,
    /// Starts a pen-pal room of the two clients the pairing queue matched:
    /// signed by the server key, with both `enter_queue` requests as
    /// consent (PROTOCOL §16).
    Pair,
}

impl Op {
    /// The op named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "create" => Self::Create,
            "invite" => Self::Invite,
            "join" => Self::Join,
            "leave" => Self::Leave,
            "remove" => Self::Remove,
            "pair" => Self::Pair,
            _ => return None,
        })
    }

    /// Its wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Invite => "invite",
            Self::Join => "join",
            Self::Leave => "leave",
            Self::Remove => "remove",
            Self::Pair => "pair",
        }
    }

    /// Whether it changes who is a member (and so the epoch).
    pub const fn changes_membership(self) -> bool {
        !matches!(self, Self::Invite)
    }
}

/// The hash of a statement, which the next one names as `prev`: lowercase
/// hex of SHA-256(SIGN_INPUT || the 64 raw signature bytes), as for a key
/// event (PROTOCOL §3).
pub fn statement_hash(s: &ChangeRoomArgs) -> Result<String, FieldError> {
    let sig = decode_sig("sig", &s.sig)?;
    let mut h = Sha256::new();
    h.update(s.sign_input());
    h.update(sig);
    Ok(hex(&h.finalize()))
}

/// The id of the room a `create` statement starts: base64url of the first
/// 16 bytes of SHA-256 of its signature, as a message id is derived.
pub fn room_id_of(create: &ChangeRoomArgs) -> Result<String, FieldError> {
    decode_sig("sig", &create.sig).map(|sig| message_id(&sig))
}

/// A statement for `op` at the end of a log whose state is `at` (`None`
/// for `create`), to be signed by `client_id`.
pub fn statement(at: Option<&RoomState>, op: Op, client_id: &str, member: &str, title: &str) -> ChangeRoomArgs {
    ChangeRoomArgs {
        op: op.as_str().to_owned(),
        room_id: at.map(|s| s.room_id().to_owned()).unwrap_or_default(),
        seq: at.map_or(0, RoomState::len).to_string(),
        prev: at.map(|s| s.head().to_owned()).unwrap_or_default(),
        client_id: client_id.to_owned(),
        member: member.to_owned(),
        title: title.to_owned(),
        ..ChangeRoomArgs::default()
    }
}

#[cfg(test)]
mod tests;
