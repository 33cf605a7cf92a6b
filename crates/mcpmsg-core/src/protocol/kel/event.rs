//! KEL event objects: their JSON form, signing input, hash and construction.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::crypto::{b64, SigningPublicKey};
use crate::crypto::{hex, SealingPublicKey, SigningSecret};
use crate::protocol::{decode_sig, sign_input, FieldError};

/// An inception or rotation: the keys that hold from this event on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Establishment {
    /// The identity.
    pub client_id: String,
    /// Position in the log, decimal from `"0"`.
    pub seq: String,
    /// Hash of event `seq - 1`; empty for inception.
    pub prev: String,
    /// The signing key from this event on (`ed25519:...`).
    pub signing_key: String,
    /// The sealing key from this event on (`x25519:...`).
    pub sealing_key: String,
    /// Fingerprint of the next signing key (pre-rotation commitment).
    pub next_key_digest: String,
    /// Unix milliseconds.
    pub ts: String,
    /// b64 of the Ed25519 signature by `signing_key`.
    pub sig: String,
}

/// A revocation: ends the identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    /// The identity.
    pub client_id: String,
    /// Position in the log.
    pub seq: String,
    /// Hash of event `seq - 1`.
    pub prev: String,
    /// The current signing key or the committed next key.
    pub signer_key: String,
    /// `superseded`, `compromised` or `retired`.
    pub reason: String,
    /// Unix milliseconds.
    pub ts: String,
    /// b64 of the Ed25519 signature by `signer_key`.
    pub sig: String,
}

/// One KEL event, tagged by its `type` member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    /// Seq 0: the identity's first keys.
    Inception(Establishment),
    /// A move to the committed next key.
    Rotation(Establishment),
    /// The end of the identity.
    Revocation(Revocation),
}

/// Why a revocation was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Replaced by another identity.
    Superseded,
    /// A key was exposed.
    Compromised,
    /// No longer used.
    Retired,
}

impl Reason {
    /// The wire form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Superseded => "superseded",
            Self::Compromised => "compromised",
            Self::Retired => "retired",
        }
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Superseded, Self::Compromised, Self::Retired]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

impl Event {
    /// The `type` member.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Inception(_) => "inception",
            Self::Rotation(_) => "rotation",
            Self::Revocation(_) => "revocation",
        }
    }

    /// The `client_id` member.
    pub fn client_id(&self) -> &str {
        match self {
            Self::Inception(e) | Self::Rotation(e) => &e.client_id,
            Self::Revocation(r) => &r.client_id,
        }
    }

    /// The `seq` member, as sent.
    pub fn seq(&self) -> &str {
        match self {
            Self::Inception(e) | Self::Rotation(e) => &e.seq,
            Self::Revocation(r) => &r.seq,
        }
    }

    /// The `prev` member.
    pub fn prev(&self) -> &str {
        match self {
            Self::Inception(e) | Self::Rotation(e) => &e.prev,
            Self::Revocation(r) => &r.prev,
        }
    }

    /// The `ts` member.
    pub fn ts(&self) -> &str {
        match self {
            Self::Inception(e) | Self::Rotation(e) => &e.ts,
            Self::Revocation(r) => &r.ts,
        }
    }

    /// The `sig` member.
    pub fn sig(&self) -> &str {
        match self {
            Self::Inception(e) | Self::Rotation(e) => &e.sig,
            Self::Revocation(r) => &r.sig,
        }
    }

    /// The key that signed the event (`signing_key` or `signer_key`).
    pub fn signer(&self) -> &str {
        match self {
            Self::Inception(e) | Self::Rotation(e) => &e.signing_key,
            Self::Revocation(r) => &r.signer_key,
        }
    }

    /// SIGN_INPUT of the event: purpose and fields in PROTOCOL §3 order.
    pub fn sign_input(&self) -> Vec<u8> {
        match self {
            Self::Inception(e) | Self::Rotation(e) => sign_input(
                self.kind(),
                &[
                    &e.client_id,
                    &e.seq,
                    &e.prev,
                    &e.signing_key,
                    &e.sealing_key,
                    &e.next_key_digest,
                    &e.ts,
                ],
            ),
            Self::Revocation(r) => sign_input(
                "revocation",
                &[&r.client_id, &r.seq, &r.prev, &r.signer_key, &r.reason, &r.ts],
            ),
        }
    }

    /// The raw signature bytes, if `sig` is well formed.
    pub fn sig_bytes(&self) -> Result<[u8; 64], FieldError> {
        decode_sig("sig", self.sig())
    }

    /// Event hash: lowercase hex of SHA-256(SIGN_INPUT || 64 signature bytes).
    pub fn hash(&self) -> Result<String, FieldError> {
        let sig = self.sig_bytes()?;
        let mut h = Sha256::new();
        h.update(self.sign_input());
        h.update(sig);
        Ok(hex(&h.finalize()))
    }

    /// A signed inception (seq 0).
    pub fn inception(
        client_id: &str,
        signer: &SigningSecret,
        sealing_key: &SealingPublicKey,
        next_key: &SigningPublicKey,
        ts: u64,
    ) -> Self {
        Self::establish(true, client_id, 0, "", signer, sealing_key, next_key, ts)
    }

    /// A signed rotation to `signer`, which must be the committed next key
    /// (the caller's state decides seq and prev; [`super::KelState::apply`]
    /// checks the commitment).
    #[allow(clippy::too_many_arguments)]
    pub fn rotation(
        client_id: &str,
        seq: u64,
        prev: &str,
        signer: &SigningSecret,
        sealing_key: &SealingPublicKey,
        next_key: &SigningPublicKey,
        ts: u64,
    ) -> Self {
        Self::establish(false, client_id, seq, prev, signer, sealing_key, next_key, ts)
    }

    #[allow(clippy::too_many_arguments)]
    fn establish(
        inception: bool,
        client_id: &str,
        seq: u64,
        prev: &str,
        signer: &SigningSecret,
        sealing_key: &SealingPublicKey,
        next_key: &SigningPublicKey,
        ts: u64,
    ) -> Self {
        let body = Establishment {
            client_id: client_id.to_owned(),
            seq: seq.to_string(),
            prev: prev.to_owned(),
            signing_key: signer.public().as_str().to_owned(),
            sealing_key: sealing_key.as_str().to_owned(),
            next_key_digest: next_key.fingerprint(),
            ts: ts.to_string(),
            sig: String::new(),
        };
        let mut event = if inception {
            Self::Inception(body)
        } else {
            Self::Rotation(body)
        };
        event.sign_with(signer);
        event
    }

    /// A signed revocation by `signer` (the current or committed next key).
    pub fn revocation(client_id: &str, seq: u64, prev: &str, signer: &SigningSecret, reason: Reason, ts: u64) -> Self {
        let mut event = Self::Revocation(Revocation {
            client_id: client_id.to_owned(),
            seq: seq.to_string(),
            prev: prev.to_owned(),
            signer_key: signer.public().as_str().to_owned(),
            reason: reason.as_str().to_owned(),
            ts: ts.to_string(),
            sig: String::new(),
        });
        event.sign_with(signer);
        event
    }

    fn sign_with(&mut self, signer: &SigningSecret) {
        let sig = b64::encode(&signer.sign(&self.sign_input()));
        match self {
            Self::Inception(e) | Self::Rotation(e) => e.sig = sig,
            Self::Revocation(r) => r.sig = sig,
        }
    }
}
