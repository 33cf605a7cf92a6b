//! `send_message` arguments (PROTOCOL §5): signing, verifying, sealing, opening.

use super::sealed;
use super::tools::{SendMessage, SignedArgs};
use super::{decode_sig, message_id, FieldError};
use crate::crypto::seal::{self, OpenError, SealError};
use crate::crypto::{b64, SealingPublicKey, SealingSecret, SigningPublicKey, SigningSecret};

/// The content type of an unsealed message when none is given.
pub const DEFAULT_CONTENT_TYPE: &str = "text/markdown";

/// What a caller fills in to build a signed send.
#[derive(Debug, Clone, Copy)]
pub struct SendParts<'a> {
    /// The sending identity.
    pub sender_id: &'a str,
    /// The receiving identity.
    pub recipient_id: &'a str,
    /// The message_id this answers, if any.
    pub in_reply_to: Option<&'a str>,
    /// Unix milliseconds.
    pub ts: u64,
    /// A fresh nonce ([`super::new_nonce`]).
    pub nonce: &'a str,
}

impl SendMessage {
    /// A signed send of a cleartext message.
    pub fn sign(signer: &SigningSecret, parts: SendParts<'_>, content_type: Option<&str>, message: &str) -> Self {
        let mut send = Self {
            sender_id: parts.sender_id.to_owned(),
            recipient_id: parts.recipient_id.to_owned(),
            message: message.to_owned(),
            content_type: content_type.map(str::to_owned),
            in_reply_to: parts.in_reply_to.map(str::to_owned),
            key_id: signer.public().kid(),
            ts: parts.ts.to_string(),
            nonce: parts.nonce.to_owned(),
            sig: String::new(),
        };
        send.sig = b64::encode(&signer.sign(&send.sign_input()));
        send
    }

    /// Seals `plaintext` to `recipient_key`, then signs (encrypt, then sign:
    /// the signature covers the sealed body, PROTOCOL §6).
    pub fn seal_and_sign(
        signer: &SigningSecret,
        parts: SendParts<'_>,
        recipient_key: &SealingPublicKey,
        plaintext: &str,
    ) -> Result<Self, SealError> {
        Self::seal_and_sign_typed(signer, parts, recipient_key, plaintext, None)
    }

    /// [`SendMessage::seal_and_sign`], saying with `protocol`
    /// (`name@version`) that the plaintext is a typed body of it (§18d).
    pub fn seal_and_sign_typed(
        signer: &SigningSecret,
        parts: SendParts<'_>,
        recipient_key: &SealingPublicKey,
        plaintext: &str,
        protocol: Option<&str>,
    ) -> Result<Self, SealError> {
        let kid = recipient_key.kid();
        let ts = parts.ts.to_string();
        let aad = sealed::aad(parts.sender_id, parts.recipient_id, &kid, &ts, parts.nonce);
        let sealed = seal::seal(recipient_key, &aad, plaintext.as_bytes())?;
        let content_type = match protocol {
            Some(p) => format!("{}{}{p}", sealed::content_type(&kid), sealed::PROTOCOL_PARAM),
            None => sealed::content_type(&kid),
        };
        Ok(Self::sign(signer, parts, Some(&content_type), &b64::encode(&sealed)))
    }

    /// The raw signature, if `sig` is well formed.
    pub fn sig_bytes(&self) -> Result<[u8; 64], FieldError> {
        decode_sig("sig", &self.sig)
    }

    /// The message id this send gets: derived from its signature.
    pub fn message_id(&self) -> Result<String, FieldError> {
        self.sig_bytes().map(|s| message_id(&s))
    }

    /// Verifies the signature under `key` (strict).
    pub fn verify(&self, key: &SigningPublicKey) -> Result<(), VerifyError> {
        let sig = self.sig_bytes().map_err(VerifyError::Malformed)?;
        if self.key_id != key.kid() {
            return Err(VerifyError::WrongKey);
        }
        key.verify(&self.sign_input(), &sig)
            .map_err(|_| VerifyError::BadSignature)
    }

    /// The recipient kid if this message is sealed.
    pub fn sealed_kid(&self) -> Option<&str> {
        self.content_type.as_deref().and_then(sealed::sealed_kid)
    }

    /// Opens a sealed message with the recipient's secret. The AAD is
    /// rebuilt from this message's own members, so a message moved to
    /// another sender, recipient, time or nonce does not open.
    pub fn open(&self, secret: &SealingSecret) -> Result<String, OpenError> {
        let kid = self.sealed_kid().ok_or(OpenError)?;
        if kid != secret.public().kid() {
            return Err(OpenError);
        }
        let sealed = b64::decode(&self.message).map_err(|_| OpenError)?;
        let aad = sealed::aad(&self.sender_id, &self.recipient_id, kid, &self.ts, &self.nonce);
        let plain = seal::open(secret, &aad, &sealed)?;
        String::from_utf8(plain).map_err(|_| OpenError)
    }
}

/// Why a send's signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// `sig` is not b64 of 64 bytes.
    #[error(transparent)]
    Malformed(FieldError),
    /// `key_id` does not name the key it is checked against.
    #[error("key_id does not name the signing key it is checked against")]
    WrongKey,
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts<'a>(nonce: &'a str) -> SendParts<'a> {
        SendParts {
            sender_id: "alice",
            recipient_id: "bob",
            in_reply_to: None,
            ts: 1_700_000_000_000,
            nonce,
        }
    }

    #[test]
    fn signed_sends_verify_and_tampering_breaks_them() {
        let k = SigningSecret::from_seed(&[3; 32]);
        let nonce = super::super::new_nonce();
        let send = SendMessage::sign(&k, parts(&nonce), None, "hi");
        assert_eq!(send.verify(&k.public()), Ok(()));
        assert_eq!(send.message_id().unwrap().len(), 22);
        // Absent and empty optional fields sign the same; present ones differ.
        let mut empty = send.clone();
        empty.content_type = Some(String::new());
        assert_eq!(empty.verify(&k.public()), Ok(()));
        let mut typed = send.clone();
        typed.content_type = Some(DEFAULT_CONTENT_TYPE.into());
        assert_eq!(typed.verify(&k.public()), Err(VerifyError::BadSignature));
        let mut other = send.clone();
        other.recipient_id = "carol".into();
        assert_eq!(other.verify(&k.public()), Err(VerifyError::BadSignature));
        let k2 = SigningSecret::from_seed(&[4; 32]);
        assert_eq!(send.verify(&k2.public()), Err(VerifyError::WrongKey));
    }

    #[test]
    fn sealed_sends_open_only_as_sent() {
        let k = SigningSecret::from_seed(&[3; 32]);
        let bob = SealingSecret::from_bytes(&[5; 32]);
        let nonce = super::super::new_nonce();
        let send = SendMessage::seal_and_sign(&k, parts(&nonce), &bob.public(), "secret plan").unwrap();
        assert_eq!(send.verify(&k.public()), Ok(()));
        assert_eq!(send.sealed_kid(), Some(bob.public().kid().as_str()));
        assert!(!send.message.contains("secret"));
        assert_eq!(send.open(&bob).unwrap(), "secret plan");
        // Re-attributed to another sender: the AAD no longer matches.
        let mut moved = send.clone();
        moved.sender_id = "mallory".into();
        assert_eq!(moved.open(&bob), Err(OpenError));
        assert_eq!(send.open(&SealingSecret::from_bytes(&[6; 32])), Err(OpenError));
    }
}
