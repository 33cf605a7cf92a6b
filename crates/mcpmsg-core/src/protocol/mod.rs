//! The wire encodings of PROTOCOL §1, §2, §4, §5 and §7.
//!
//! What exactly is signed lives here, in one function ([`sign_input`]), so
//! the server, the CLI and the bridge cannot disagree about it.

pub mod adapt;
mod auth;
pub mod broadcast;
mod error;
mod fields;
pub mod kel;
pub mod negotiate;
pub mod registry;
pub mod room;
pub mod sealed;
mod send;
pub mod server_statement;
mod text;
pub mod tools;

pub use auth::Auth;
pub use error::ErrorCode;
pub use fields::{
    check_client_id, check_message_id, check_nonce, decode_sig, message_id, new_nonce, now_ms, parse_decimal, parse_ts,
    FieldError,
};
pub use send::{SendParts, VerifyError, DEFAULT_CONTENT_TYPE};
pub use text::{escape_inline, is_invisible, is_printable, neutralise};
pub use tools::{SendMessage, SignedArgs};

/// The domain separator that starts every signing input.
pub const DOMAIN: &[u8] = b"mcpmsg-v1";

/// `SIGN_INPUT = "mcpmsg-v1" || 0x00 || lp(purpose) || lp(f1) || ... || lp(fn)`
/// (PROTOCOL §2), where `lp(x)` is the 4-byte big-endian length of `x`
/// followed by `x`. The same construction is the sealing AAD with purpose
/// `"seal"` (PROTOCOL §6).
///
/// # Panics
/// If a field is 4 GiB or longer; every caller bounds its inputs far below.
pub fn sign_input(purpose: &str, fields: &[&str]) -> Vec<u8> {
    let len = DOMAIN.len() + 1 + 4 + purpose.len() + fields.iter().map(|f| 4 + f.len()).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(DOMAIN);
    out.push(0);
    for part in std::iter::once(purpose).chain(fields.iter().copied()) {
        let n = u32::try_from(part.len()).expect("signed field shorter than 4 GiB");
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_input_is_length_prefixed_and_ordered() {
        let got = sign_input("get", &["a", "", "bc"]);
        let mut want = b"mcpmsg-v1\0".to_vec();
        want.extend_from_slice(&[0, 0, 0, 3]);
        want.extend_from_slice(b"get");
        want.extend_from_slice(&[0, 0, 0, 1, b'a', 0, 0, 0, 0, 0, 0, 0, 2, b'b', b'c']);
        assert_eq!(got, want);
        // Moving a byte across a field boundary changes the input.
        assert_ne!(sign_input("get", &["ab", "c"]), sign_input("get", &["a", "bc"]));
    }
}
