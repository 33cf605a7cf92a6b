//! Signing and sealing keys, their texts, fingerprints and kids (PROTOCOL §1).
//!
//! Public keys are parsed once into types that are known to be valid: an
//! Ed25519 key that is canonically encoded and not of small order, an X25519
//! key that is not of small order. Secrets have no `Debug` or `Display` and
//! are zeroized on drop (by the dalek types they wrap, or by `Zeroizing`).

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::{OsRng, TryRngCore};
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey as XPublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::b64;

const ED25519_PREFIX: &str = "ed25519:";
const X25519_PREFIX: &str = "x25519:";

/// Why a key text or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text does not start with the expected algorithm prefix.
    #[error("expected a key of the form '{prefix}<base64url of 32 bytes>'")]
    Prefix {
        /// The prefix that was expected, e.g. `ed25519:`.
        prefix: &'static str,
    },
    /// The base64url part is malformed or not 32 bytes.
    #[error("key is not base64url of 32 bytes: {0}")]
    Encoding(#[from] b64::B64Error),
    /// Not a valid curve point, or not its canonical encoding.
    #[error("not a canonically encoded curve point")]
    NotCanonical,
    /// A small-order (weak) public key, refused at registration (PROTOCOL §2).
    #[error("weak (small-order) public key refused")]
    Weak,
    /// The signature does not verify under `verify_strict`.
    #[error("signature does not verify")]
    BadSignature,
}

/// SHA-256 of the UTF-8 key text, lowercase hex: the key's fingerprint.
pub fn fingerprint(key_text: &str) -> String {
    hex(&Sha256::digest(key_text.as_bytes()))
}

/// The key id: the first 32 hex characters of the fingerprint.
pub fn kid(key_text: &str) -> String {
    let mut fp = fingerprint(key_text);
    fp.truncate(32);
    fp
}

/// True when `s` has the form of a fingerprint: 64 lowercase hex characters.
pub fn is_fingerprint(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

/// Fills a buffer from the operating system's CSPRNG.
///
/// # Panics
/// If the OS cannot supply randomness; there is no safe way to go on.
pub fn random_bytes<const N: usize>() -> Zeroizing<[u8; N]> {
    let mut buf = Zeroizing::new([0u8; N]);
    OsRng
        .try_fill_bytes(buf.as_mut())
        .expect("the operating system's random number generator failed");
    buf
}

/// A validated Ed25519 public key, carried with its canonical text.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningPublicKey {
    key: VerifyingKey,
    text: String,
}

impl SigningPublicKey {
    /// Parses `ed25519:<b64>`, refusing non-canonical and weak keys.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let body = text
            .strip_prefix(ED25519_PREFIX)
            .ok_or(KeyError::Prefix { prefix: ED25519_PREFIX })?;
        let bytes = b64::decode_array::<32>(body)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::NotCanonical)?;
        // Decompression accepts some non-canonical y encodings; recompressing
        // must give back the same bytes, so each key has one text.
        if key.to_edwards().compress().to_bytes() != bytes {
            return Err(KeyError::NotCanonical);
        }
        if key.is_weak() {
            return Err(KeyError::Weak);
        }
        Ok(Self {
            key,
            text: text.to_owned(),
        })
    }

    fn from_key(key: VerifyingKey) -> Self {
        let text = format!("{ED25519_PREFIX}{}", b64::encode(key.as_bytes()));
        Self { key, text }
    }

    /// The key text, `ed25519:<b64>`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The fingerprint of the key text.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.text)
    }

    /// The key id of the key text.
    pub fn kid(&self) -> String {
        kid(&self.text)
    }

    /// Verifies with `verify_strict` (small-order or non-canonical R and A refused).
    pub fn verify(&self, message: &[u8], sig: &[u8; 64]) -> Result<(), KeyError> {
        let sig = Signature::from_bytes(sig);
        self.key
            .verify_strict(message, &sig)
            .map_err(|_| KeyError::BadSignature)
    }
}

impl fmt::Debug for SigningPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for SigningPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A validated X25519 public key for sealing, carried with its text.
#[derive(Clone, PartialEq, Eq)]
pub struct SealingPublicKey {
    bytes: [u8; 32],
    text: String,
}

impl SealingPublicKey {
    /// Parses `x25519:<b64>`, refusing small-order points.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let body = text
            .strip_prefix(X25519_PREFIX)
            .ok_or(KeyError::Prefix { prefix: X25519_PREFIX })?;
        let bytes = b64::decode_array::<32>(body)?;
        // A clamped scalar is a multiple of the cofactor, so the shared secret
        // with a small-order point is the identity: `was_contributory` is false
        // exactly for the weak keys (RFC 7748 §6.1).
        let probe = StaticSecret::from(*random_bytes::<32>());
        if !probe.diffie_hellman(&XPublicKey::from(bytes)).was_contributory() {
            return Err(KeyError::Weak);
        }
        Ok(Self {
            bytes,
            text: text.to_owned(),
        })
    }

    fn from_bytes(bytes: [u8; 32]) -> Self {
        let text = format!("{X25519_PREFIX}{}", b64::encode(&bytes));
        Self { bytes, text }
    }

    /// The key text, `x25519:<b64>`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The key id of the key text (names the key in sealed content types).
    pub fn kid(&self) -> String {
        kid(&self.text)
    }
}

impl fmt::Debug for SealingPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for SealingPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// An Ed25519 signing key. No `Debug`, no `Display`; zeroized on drop.
pub struct SigningSecret {
    key: SigningKey,
}

impl SigningSecret {
    /// A fresh key from the OS CSPRNG.
    pub fn generate() -> Self {
        Self::from_seed(&random_bytes::<32>())
    }

    /// The key for a 32-byte seed (RFC 8032 §5.1.5).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// The seed, for writing to a key file.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }

    /// The public key.
    pub fn public(&self) -> SigningPublicKey {
        SigningPublicKey::from_key(self.key.verifying_key())
    }

    /// Signs `message` (pure Ed25519, RFC 8032).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

/// An X25519 sealing secret. No `Debug`, no `Display`; zeroized on drop.
pub struct SealingSecret {
    secret: StaticSecret,
}

impl SealingSecret {
    /// A fresh key from the OS CSPRNG, generated apart from any signing key
    /// (PROTOCOL §1: never convert one kind into the other).
    pub fn generate() -> Self {
        Self::from_bytes(&random_bytes::<32>())
    }

    /// The secret for 32 bytes (clamped when used, RFC 7748 §5).
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self {
            secret: StaticSecret::from(*bytes),
        }
    }

    /// The secret bytes, for a key file or the HPKE private key.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    /// The public key.
    pub fn public(&self) -> SealingPublicKey {
        SealingPublicKey::from_bytes(XPublicKey::from(&self.secret).to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_texts_round_trip_and_fingerprints_are_sha256_hex() {
        let s = SigningSecret::from_seed(&[7; 32]);
        let p = s.public();
        assert_eq!(SigningPublicKey::parse(p.as_str()).unwrap(), p);
        assert!(is_fingerprint(&p.fingerprint()));
        assert_eq!(p.kid(), p.fingerprint()[..32]);
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            fingerprint("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let x = SealingSecret::from_bytes(&[9; 32]).public();
        assert_eq!(SealingPublicKey::parse(x.as_str()).unwrap(), x);
    }

    #[test]
    fn refuses_wrong_prefix_and_encoding() {
        let p = SigningSecret::from_seed(&[1; 32]).public();
        let body = &p.as_str()["ed25519:".len()..];
        assert!(matches!(
            SigningPublicKey::parse(&format!("x25519:{body}")),
            Err(KeyError::Prefix { .. })
        ));
        assert!(matches!(
            SigningPublicKey::parse(&format!("ed25519:{body}=")),
            Err(KeyError::Encoding(_))
        ));
        assert!(matches!(
            SealingPublicKey::parse(p.as_str()),
            Err(KeyError::Prefix { .. })
        ));
    }

    #[test]
    fn refuses_weak_and_non_canonical_ed25519_keys() {
        // The identity point (0, 1): small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let t = format!("ed25519:{}", b64::encode(&identity));
        assert_eq!(SigningPublicKey::parse(&t), Err(KeyError::Weak));
        // y = p + 1 encodes the same point as y = 1 but is not canonical.
        let mut p_plus_1 = [0xffu8; 32];
        p_plus_1[0] = 0xee;
        p_plus_1[31] = 0x7f;
        let t = format!("ed25519:{}", b64::encode(&p_plus_1));
        assert_eq!(SigningPublicKey::parse(&t), Err(KeyError::NotCanonical));
    }

    #[test]
    fn refuses_small_order_x25519_keys() {
        // Zero and one are of small order on Curve25519 (RFC 7748 §6.1 notes).
        for point in [[0u8; 32], {
            let mut one = [0u8; 32];
            one[0] = 1;
            one
        }] {
            let t = format!("x25519:{}", b64::encode(&point));
            assert_eq!(SealingPublicKey::parse(&t), Err(KeyError::Weak));
        }
    }
}
