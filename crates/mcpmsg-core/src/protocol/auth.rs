//! The authentication fields every signed request carries (PROTOCOL §4).

use serde::Serialize;

use super::{new_nonce, now_ms, sign_input};
use crate::crypto::{b64, SigningSecret};

/// `key_id`, `ts`, `nonce` and `sig` of a signed request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Auth {
    /// Kid of the signing key.
    pub key_id: String,
    /// Unix ms.
    pub ts: String,
    /// Fresh nonce.
    pub nonce: String,
    /// Signature over the tool's SIGN_INPUT.
    pub sig: String,
}

impl Auth {
    /// Signs `purpose` over `fields` then `key_id, ts, nonce`, now, with a
    /// fresh nonce: the order of every signed tool but `send` (PROTOCOL §5).
    pub fn sign(key: &SigningSecret, purpose: &str, fields: &[&str]) -> Self {
        Self::sign_at(key, purpose, fields, now_ms())
    }

    /// As [`Auth::sign`], at time `ts`.
    pub fn sign_at(key: &SigningSecret, purpose: &str, fields: &[&str], ts: u64) -> Self {
        let (key_id, ts, nonce) = (key.public().kid(), ts.to_string(), new_nonce());
        let mut all = fields.to_vec();
        all.extend([key_id.as_str(), ts.as_str(), nonce.as_str()]);
        let sig = b64::encode(&key.sign(&sign_input(purpose, &all)));
        Self { key_id, ts, nonce, sig }
    }

    /// The four members as a JSON object, to extend with the tool's arguments.
    pub fn json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("strings serialise")
    }
}
