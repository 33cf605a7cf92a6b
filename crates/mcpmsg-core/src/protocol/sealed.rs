//! What a sealed message binds and how it is labelled (PROTOCOL §6): the
//! AAD handed to `crypto::seal` as bytes, and the `content_type` that names
//! the recipient's sealing kid.

use super::sign_input;

const CONTENT_TYPE_PREFIX: &str = "application/mcpmsg-sealed; kid=";

/// `aad = "mcpmsg-v1" || 0x00 || lp("seal") || lp(sender_id) || lp(recipient_id)
/// || lp(kid) || lp(ts) || lp(nonce)`.
pub fn aad(sender_id: &str, recipient_id: &str, kid: &str, ts: &str, nonce: &str) -> Vec<u8> {
    sign_input("seal", &[sender_id, recipient_id, kid, ts, nonce])
}

/// The `content_type` of a message sealed to the key with this kid.
pub fn content_type(kid: &str) -> String {
    format!("{CONTENT_TYPE_PREFIX}{kid}")
}

/// What a sealed content type may end with to say the plaintext is a typed
/// body of a registered protocol version (PROTOCOL §18d):
/// `; protocol=<name>@<version>`.
pub const PROTOCOL_PARAM: &str = "; protocol=";

/// A content type without a trailing [`PROTOCOL_PARAM`], and that
/// parameter's value if it had one.
pub fn split_protocol(content_type: &str) -> (&str, Option<&str>) {
    match content_type.rfind(PROTOCOL_PARAM) {
        Some(at) => (&content_type[..at], Some(&content_type[at + PROTOCOL_PARAM.len()..])),
        None => (content_type, None),
    }
}

/// The recipient kid named by a sealed `content_type` (which may end with
/// [`PROTOCOL_PARAM`]), or `None` when it is not that of a sealed message.
pub fn sealed_kid(content_type: &str) -> Option<&str> {
    let kid = split_protocol(content_type).0.strip_prefix(CONTENT_TYPE_PREFIX)?;
    (kid.len() == 32 && kid.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then_some(kid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::seal::{open, seal, OpenError};
    use crate::crypto::SealingSecret;

    #[test]
    fn the_aad_binds_sender_and_recipient() {
        let r = SealingSecret::generate();
        let kid = r.public().kid();
        let a = aad("alice", "bob", &kid, "1700000000000", "AAAAAAAAAAAAAAAAAAAAAA");
        let sealed = seal(&r.public(), &a, b"hello").unwrap();
        assert_eq!(open(&r, &a, &sealed).unwrap(), b"hello");
        let other = aad("mallory", "bob", &kid, "1700000000000", "AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(open(&r, &other, &sealed), Err(OpenError));
    }

    #[test]
    fn sealed_content_types() {
        let kid = "0123456789abcdef0123456789abcdef";
        assert_eq!(sealed_kid(&content_type(kid)), Some(kid));
        assert_eq!(sealed_kid("text/markdown"), None);
        assert_eq!(sealed_kid("application/mcpmsg-sealed; kid=0123"), None);
        assert_eq!(sealed_kid(&content_type(&kid.to_uppercase())), None);
        let typed = format!("{}; protocol=code_review@1.0.0", content_type(kid));
        assert_eq!(sealed_kid(&typed), Some(kid));
        assert_eq!(split_protocol(&typed).1, Some("code_review@1.0.0"));
    }
}
