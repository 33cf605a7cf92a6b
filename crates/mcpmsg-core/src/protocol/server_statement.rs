//! What the server says on its own, signed with the server key (PROTOCOL
//! §12): its published key, and its acceptance of a message.
//!
//! Server statements use the signing input of §2 with purposes of their
//! own (`"server-accept"`), so no client request can ever be mistaken for
//! one, nor one for a request: the purposes differ, and so do the keys.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{decode_sig, sign_input, FieldError};
use crate::crypto::{b64, SigningPublicKey, SigningSecret};

/// The purpose of an acceptance.
pub const ACCEPT_PURPOSE: &str = "server-accept";

/// The server's signed acceptance of a message: a sender can prove what
/// the server accepted, for whom, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Acceptance {
    /// The message accepted.
    pub message_id: String,
    /// Its sender.
    pub sender_id: String,
    /// Its recipient.
    pub recipient_id: String,
    /// When the server accepted it, Unix ms.
    pub received_at: String,
    /// When it expires unless delivered, Unix ms.
    pub expires_at: String,
    /// Kid of the server key that signed this.
    pub server_kid: String,
    /// base64url Ed25519 signature by the server key over
    /// SIGN_INPUT("server-accept", message_id, sender_id, recipient_id,
    /// received_at, expires_at, server_kid).
    pub server_sig: String,
}

impl Acceptance {
    /// The bytes the server signs.
    pub fn sign_input(&self) -> Vec<u8> {
        sign_input(
            ACCEPT_PURPOSE,
            &[
                &self.message_id,
                &self.sender_id,
                &self.recipient_id,
                &self.received_at,
                &self.expires_at,
                &self.server_kid,
            ],
        )
    }

    /// An acceptance signed with `server_key`.
    pub fn sign(
        server_key: &SigningSecret,
        message_id: &str,
        sender_id: &str,
        recipient_id: &str,
        received_at: u64,
        expires_at: u64,
    ) -> Self {
        let mut a = Self {
            message_id: message_id.to_owned(),
            sender_id: sender_id.to_owned(),
            recipient_id: recipient_id.to_owned(),
            received_at: received_at.to_string(),
            expires_at: expires_at.to_string(),
            server_kid: server_key.public().kid(),
            server_sig: String::new(),
        };
        a.server_sig = b64::encode(&server_key.sign(&a.sign_input()));
        a
    }

    /// Checks the signature against the pinned server key (strict).
    pub fn verify(&self, server_key: &SigningPublicKey) -> Result<(), StatementError> {
        let sig = decode_sig("server_sig", &self.server_sig).map_err(StatementError::Malformed)?;
        if self.server_kid != server_key.kid() {
            return Err(StatementError::OtherKey);
        }
        server_key
            .verify(&self.sign_input(), &sig)
            .map_err(|_| StatementError::BadSignature)
    }
}

/// The purpose of an event.
pub const EVENT_PURPOSE: &str = "server-event";

/// Most members of an event's `data`, and the longest name and value.
pub const MAX_EVENT_DATA: (usize, usize, usize) = (32, 64, 4096);

/// Always `"event"`: what tells an event from a message in an inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// An item the server says on its own.
    Event,
}

/// An event in a client's inbox (PROTOCOL §14): what the server says on its
/// own (a pairing happened, a partner left, a message died), signed with
/// the server key. Leased, acknowledged (by `event_id`), expired and counted
/// like a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerEvent {
    /// Always `"event"`.
    pub kind: EventKind,
    /// Its type, e.g. `chatroom.found`.
    pub event: String,
    /// base64url of 16 random bytes; acknowledge it like a message_id.
    pub event_id: String,
    /// Whose inbox it is in.
    pub recipient_id: String,
    /// When the server made it, Unix ms.
    pub at: String,
    /// When it expires unless delivered, Unix ms.
    pub expires_at: String,
    /// Its members, every one a string.
    pub data: std::collections::BTreeMap<String, String>,
    /// Kid of the server key that signed it.
    pub server_kid: String,
    /// base64url Ed25519 signature by the server key over
    /// SIGN_INPUT("server-event", event, event_id, recipient_id, at,
    /// expires_at, server_kid, then each data member's name and value in
    /// ascending byte order of the names).
    pub server_sig: String,
}

impl ServerEvent {
    /// The bytes the server signs.
    pub fn sign_input(&self) -> Vec<u8> {
        let mut fields: Vec<&str> = vec![
            &self.event,
            &self.event_id,
            &self.recipient_id,
            &self.at,
            &self.expires_at,
            &self.server_kid,
        ];
        // A BTreeMap iterates in ascending byte order of its keys.
        for (name, value) in &self.data {
            fields.push(name);
            fields.push(value);
        }
        sign_input(EVENT_PURPOSE, &fields)
    }

    /// An event for `recipient_id`, signed with `server_key`.
    pub fn sign(
        server_key: &SigningSecret,
        event: &str,
        event_id: &str,
        recipient_id: &str,
        (at, expires_at): (u64, u64),
        data: std::collections::BTreeMap<String, String>,
    ) -> Self {
        let mut e = Self {
            kind: EventKind::Event,
            event: event.to_owned(),
            event_id: event_id.to_owned(),
            recipient_id: recipient_id.to_owned(),
            at: at.to_string(),
            expires_at: expires_at.to_string(),
            data,
            server_kid: server_key.public().kid(),
            server_sig: String::new(),
        };
        e.server_sig = b64::encode(&server_key.sign(&e.sign_input()));
        e
    }

    /// Checks the signature against the pinned server key (strict), and
    /// that the event is for `me`.
    pub fn verify(&self, server_key: &SigningPublicKey, me: &str) -> Result<(), StatementError> {
        let sig = decode_sig("server_sig", &self.server_sig).map_err(StatementError::Malformed)?;
        if self.recipient_id != me {
            return Err(StatementError::NotForMe);
        }
        if self.server_kid != server_key.kid() {
            return Err(StatementError::OtherKey);
        }
        server_key
            .verify(&self.sign_input(), &sig)
            .map_err(|_| StatementError::BadSignature)
    }
}

/// Why a server statement was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    /// A member does not have its form.
    #[error(transparent)]
    Malformed(FieldError),
    /// Signed by another key than the pinned one.
    #[error("signed by another server key than the one pinned")]
    OtherKey,
    /// The signature does not verify.
    #[error("the server's signature does not verify")]
    BadSignature,
    /// Addressed to another client.
    #[error("addressed to another client")]
    NotForMe,
}

/// What a server publishes about itself: at `/.well-known/mcpmsg` and by
/// the public tool `get_server_key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ServerKeyInfo {
    /// The server key, `ed25519:` and base64url of 32 bytes.
    pub server_key: String,
    /// SHA-256 of `server_key` in lowercase hex: what a person compares.
    pub fingerprint: String,
    /// Kid of the server key (the fingerprint's first 32 characters).
    pub server_kid: String,
    /// The mcpmsg protocol versions this server speaks.
    pub protocol_versions: Vec<String>,
    /// Limits a client needs to know.
    pub limits: ServerLimits,
}

/// The operator's limits that shape what a client should do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ServerLimits {
    /// Largest accepted |server time - ts|, seconds.
    pub max_skew_s: u64,
    /// How long a message is kept unless delivered, seconds.
    pub message_ttl_s: u64,
    /// Largest message body (sealed: of its plaintext), bytes.
    pub max_message_bytes: u64,
    /// Longest wait of a read, seconds.
    pub max_wait_s: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_verifies_only_as_signed_and_for_its_recipient() {
        let key = SigningSecret::generate();
        let data = [
            ("partner_id".to_owned(), "bob".to_owned()),
            ("room_id".into(), "r1".into()),
        ]
        .into();
        let e = ServerEvent::sign(
            &key,
            "chatroom.found",
            "AAAAAAAAAAAAAAAAAAAAAA",
            "alice",
            (10, 20),
            data,
        );
        assert_eq!(e.verify(&key.public(), "alice"), Ok(()));
        assert_eq!(e.verify(&key.public(), "bob"), Err(StatementError::NotForMe));
        let mut t = e.clone();
        t.data.insert("partner_id".into(), "mallory".into());
        assert_eq!(t.verify(&key.public(), "alice"), Err(StatementError::BadSignature));
        let mut t = e.clone();
        t.data.insert("extra".into(), "x".into());
        assert_eq!(t.verify(&key.public(), "alice"), Err(StatementError::BadSignature));
        let mut t = e.clone();
        t.event = "partner.disconnected".into();
        assert_eq!(t.verify(&key.public(), "alice"), Err(StatementError::BadSignature));
        // Member names and values cannot trade places across a boundary.
        let a = ServerEvent::sign(
            &key,
            "x",
            "AAAAAAAAAAAAAAAAAAAAAA",
            "alice",
            (1, 2),
            [("ab".into(), "c".into())].into(),
        );
        let b = ServerEvent::sign(
            &key,
            "x",
            "AAAAAAAAAAAAAAAAAAAAAA",
            "alice",
            (1, 2),
            [("a".into(), "bc".into())].into(),
        );
        assert_ne!(a.sign_input(), b.sign_input());
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["kind"], "event");
    }

    #[test]
    fn an_acceptance_verifies_only_as_signed() {
        let key = SigningSecret::generate();
        let a = Acceptance::sign(&key, "AAAAAAAAAAAAAAAAAAAAAA", "alice", "bob", 10, 20);
        assert_eq!(a.verify(&key.public()), Ok(()));
        let other = SigningSecret::generate();
        assert_eq!(a.verify(&other.public()), Err(StatementError::OtherKey));
        for tamper in [
            |a: &mut Acceptance| a.recipient_id = "eve".into(),
            |a: &mut Acceptance| a.received_at = "11".into(),
            |a: &mut Acceptance| a.expires_at = "99".into(),
            |a: &mut Acceptance| a.sender_id = "mallory".into(),
        ] {
            let mut t = a.clone();
            tamper(&mut t);
            assert_eq!(t.verify(&key.public()), Err(StatementError::BadSignature));
        }
        let mut forged = a.clone();
        forged.server_kid = other.public().kid();
        forged.server_sig = b64::encode(&other.sign(&forged.sign_input()));
        assert_eq!(forged.verify(&key.public()), Err(StatementError::OtherKey));
    }
}
