//! The bracketed error codes of PROTOCOL §7.

use std::fmt;

/// A refusal code. Its text form is what goes between the brackets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// A field is missing, of the wrong form, or out of range.
    InvalidArgument,
    /// The signature does not verify.
    BadSignature,
    /// `ts` is outside the skew window.
    StaleTimestamp,
    /// `(client_id, nonce)` was already used.
    Replay,
    /// The acting client is not registered.
    UnknownClient,
    /// The recipient never checked in.
    UnknownRecipient,
    /// Signed by a key that a rotation replaced.
    KeySuperseded,
    /// The identity was revoked.
    Revoked,
    /// The client id is registered with another log.
    AlreadyRegistered,
    /// A submitted log forks from or rolls back the stored one.
    KelConflict,
    /// Closed enrollment: the client id or key is not in the keys file.
    NotEnrolled,
    /// The recipient's queue is full.
    QueueFull,
    /// The message is over the size limit.
    TooLarge,
    /// Too many requests.
    RateLimited,
    /// The server cannot serve the call now (for example its store is down).
    Unavailable,
    /// The room does not exist (or never did for this caller).
    UnknownRoom,
    /// The caller is not a member of the room (or, for a statement, has not
    /// the right the statement needs).
    NotMember,
    /// The room's membership changed since the epoch the request names:
    /// fetch the log again (get_room_log), verify it, and re-seal.
    StaleEpoch,
    /// The room holds its most members, or the client its most rooms.
    RoomFull,
    /// The recipient blocks the sender (PROTOCOL §17).
    Blocked,
    /// That name@version is registered already: versions never change
    /// (PROTOCOL §18).
    ProtocolExists,
    /// The protocol name belongs to another client.
    NotOwner,
    /// The JSON Schema is refused (not JSON, too large or deep, or by the
    /// compiler, whose reason is given).
    InvalidSchema,
    /// No such protocol (or no version in the range).
    UnknownProtocol,
    /// A typed message's body does not match its protocol's schema.
    SchemaMismatch,
}

impl ErrorCode {
    /// Every code, in the order PROTOCOL §7 lists them.
    pub const ALL: [ErrorCode; 25] = [
        Self::InvalidArgument,
        Self::BadSignature,
        Self::StaleTimestamp,
        Self::Replay,
        Self::UnknownClient,
        Self::UnknownRecipient,
        Self::KeySuperseded,
        Self::Revoked,
        Self::AlreadyRegistered,
        Self::KelConflict,
        Self::NotEnrolled,
        Self::QueueFull,
        Self::TooLarge,
        Self::RateLimited,
        Self::Unavailable,
        Self::UnknownRoom,
        Self::NotMember,
        Self::StaleEpoch,
        Self::RoomFull,
        Self::Blocked,
        Self::ProtocolExists,
        Self::NotOwner,
        Self::InvalidSchema,
        Self::UnknownProtocol,
        Self::SchemaMismatch,
    ];

    /// The code as it appears on the wire, e.g. `bad_signature`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidArgument => "invalid_argument",
            Self::BadSignature => "bad_signature",
            Self::StaleTimestamp => "stale_timestamp",
            Self::Replay => "replay",
            Self::UnknownClient => "unknown_client",
            Self::UnknownRecipient => "unknown_recipient",
            Self::KeySuperseded => "key_superseded",
            Self::Revoked => "revoked",
            Self::AlreadyRegistered => "already_registered",
            Self::KelConflict => "kel_conflict",
            Self::NotEnrolled => "not_enrolled",
            Self::QueueFull => "queue_full",
            Self::TooLarge => "too_large",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::UnknownRoom => "unknown_room",
            Self::NotMember => "not_member",
            Self::StaleEpoch => "stale_epoch",
            Self::RoomFull => "room_full",
            Self::Blocked => "blocked",
            Self::ProtocolExists => "protocol_exists",
            Self::NotOwner => "not_owner",
            Self::InvalidSchema => "invalid_schema",
            Self::UnknownProtocol => "unknown_protocol",
            Self::SchemaMismatch => "schema_mismatch",
        }
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
        }
        assert_eq!(ErrorCode::parse("nope"), None);
    }
}
