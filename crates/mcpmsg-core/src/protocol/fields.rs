//! Field rules of PROTOCOL §1 and the message id of §5.

use sha2::{Digest, Sha256};

use crate::crypto::{b64, random_bytes};

/// A field that does not have its protocol form. The message names the
/// field and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {expected}")]
pub struct FieldError {
    /// The argument or member name.
    pub field: &'static str,
    /// What the protocol expects of it.
    pub expected: &'static str,
}

impl FieldError {
    /// A new error for `field`.
    pub const fn new(field: &'static str, expected: &'static str) -> Self {
        Self { field, expected }
    }
}

/// `client_id`: 1 to 64 of `[A-Za-z0-9._-]`, first alphanumeric.
pub fn check_client_id(field: &'static str, id: &str) -> Result<(), FieldError> {
    let bytes = id.as_bytes();
    let ok = (1..=64).contains(&bytes.len())
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            "1 to 64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit",
        ))
    }
}

/// A canonical decimal: ASCII digits, no sign, no leading zeros, fits u64.
pub fn parse_decimal(field: &'static str, s: &str) -> Result<u64, FieldError> {
    parse_canonical(field, s, "a decimal number: digits only, no sign or leading zeros")
}

/// `ts`: Unix milliseconds, decimal ASCII, no sign, no leading zeros.
pub fn parse_ts(field: &'static str, ts: &str) -> Result<u64, FieldError> {
    parse_canonical(
        field,
        ts,
        "Unix time in milliseconds as decimal digits, no sign or leading zeros",
    )
}

fn parse_canonical(field: &'static str, s: &str, expected: &'static str) -> Result<u64, FieldError> {
    let canonical =
        !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if !canonical {
        return Err(FieldError::new(field, expected));
    }
    s.parse().map_err(|_| FieldError::new(field, expected))
}

/// `nonce`: base64url of exactly 16 bytes (22 characters).
pub fn check_nonce(field: &'static str, nonce: &str) -> Result<(), FieldError> {
    b64::decode_array::<16>(nonce)
        .map(drop)
        .map_err(|_| FieldError::new(field, "base64url (no padding) of 16 random bytes, 22 characters"))
}

/// `sig`: base64url of exactly 64 bytes.
pub fn decode_sig(field: &'static str, sig: &str) -> Result<[u8; 64], FieldError> {
    b64::decode_array::<64>(sig)
        .map_err(|_| FieldError::new(field, "base64url (no padding) of a 64-byte Ed25519 signature"))
}

/// A message id: base64url of 16 bytes.
pub fn check_message_id(field: &'static str, id: &str) -> Result<(), FieldError> {
    b64::decode_array::<16>(id)
        .map(drop)
        .map_err(|_| FieldError::new(field, "a message_id: base64url of 16 bytes, 22 characters"))
}

/// A fresh nonce: base64url of 16 random bytes.
pub fn new_nonce() -> String {
    b64::encode(random_bytes::<16>().as_ref())
}

/// `message_id = b64(first 16 bytes of SHA-256(the 64 raw signature bytes))`.
pub fn message_id(sig: &[u8; 64]) -> String {
    b64::encode(&Sha256::digest(sig)[..16])
}

/// The current Unix time in milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids() {
        for ok in ["a", "A9", "alice-laptop", "b.c_d-e", &"x".repeat(64)] {
            assert_eq!(check_client_id("client_id", ok), Ok(()), "{ok}");
        }
        for bad in ["", "-a", ".a", "_a", "a b", "a/b", "é", &"x".repeat(65)] {
            assert!(check_client_id("client_id", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_ts("ts", "0"), Ok(0));
        assert_eq!(parse_ts("ts", "1700000000000"), Ok(1_700_000_000_000));
        for bad in ["", "01", "+1", "-1", "1.0", " 1", "1e3", "99999999999999999999"] {
            assert_eq!(parse_ts("ts", bad).unwrap_err().field, "ts", "{bad} must be refused");
        }
    }

    #[test]
    fn nonces_and_ids() {
        let n = new_nonce();
        assert_eq!(n.len(), 22);
        assert_eq!(check_nonce("nonce", &n), Ok(()));
        assert!(check_nonce("nonce", "AAAA").is_err());
        assert!(check_nonce("nonce", &format!("{n}==")).is_err());
        let id = message_id(&[0; 64]);
        assert_eq!(id.len(), 22);
        assert_eq!(check_message_id("message_id", &id), Ok(()));
        assert_ne!(new_nonce(), n);
    }
}
