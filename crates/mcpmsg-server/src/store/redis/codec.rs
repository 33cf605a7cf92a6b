//! The Redis store's byte layouts: a queued message as one compact binary
//! entry, and a used nonce's record.
//!
//! Redis memory per queued message is mostly the message itself, so it is
//! kept as raw bytes rather than text: ids, nonce, key id and signature are
//! fixed-size binary (56 bytes fewer than their base64 and hex forms), times
//! are 48-bit integers. Every member reaches the store in its protocol form
//! (PROTOCOL §1; the broker checks them), so decoding gives back the exact
//! strings that were signed; a member in any other form is refused rather
//! than stored differently.
//!
//! A message entry, big-endian integers:
//!
//! | bytes | member |
//! |---|---|
//! | 6 | `received_at` |
//! | 4 | `expires_at - received_at` |
//! | 16 | `message_id` |
//! | 1 | length of `sender_id` (0 to 64: 0 for the server's own events), plus 0x80 when `in_reply_to` is set |
//! | n | `sender_id` |
//! | 0 or 16 | `in_reply_to` |
//! | 6 | `ts` |
//! | 16 | `key_id` |
//! | 16 | `nonce` |
//! | 64 | `sig` |
//! | 1 + n | `content_type`: its length and bytes; 255 alone for `text/markdown` |
//! | rest | `message` |
//!
//! The scripts read the first five rows (see `redis_scripts`); the rest is
//! opaque to them.

use super::{NonceRecord, StoreError, StoredMessage};
use mcpmsg_core::crypto::b64;

const MARKDOWN: &str = "text/markdown";
const MARKDOWN_CODE: u8 = 255;
const MAX_U48: u64 = (1 << 48) - 1;

fn bad(what: &str) -> StoreError {
    StoreError(format!("redis: {what}"))
}

/// The 16 raw bytes of a message id or nonce in its protocol form.
pub(super) fn raw16(text: &str) -> Option<[u8; 16]> {
    b64::decode_array::<16>(text).ok()
}

fn raw_kid(kid: &str) -> Option<[u8; 16]> {
    if kid.len() != 32 || !kid.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in kid.as_bytes().chunks(2).enumerate() {
        let hex = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(hex, 16).ok()?;
    }
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `ts` as an integer, only when the decimal text is canonical (so it
/// comes back byte for byte).
fn canonical_ts(ts: &str) -> Option<u64> {
    let n: u64 = ts.parse().ok()?;
    (n.to_string() == ts && n <= MAX_U48).then_some(n)
}

fn put48(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes()[2..]);
}

/// Encodes a message for the queue list.
pub(super) fn encode_message(m: &StoredMessage) -> Result<Vec<u8>, StoreError> {
    let form = |member: &str| bad(&format!("message {member} is not in its protocol form"));
    let id = raw16(&m.message_id).ok_or_else(|| form("message_id"))?;
    let irt = match m.in_reply_to.as_str() {
        "" => None,
        s => Some(raw16(s).ok_or_else(|| form("in_reply_to"))?),
    };
    let ts = canonical_ts(&m.ts).ok_or_else(|| form("ts"))?;
    let kid = raw_kid(&m.key_id).ok_or_else(|| form("key_id"))?;
    let nonce = raw16(&m.nonce).ok_or_else(|| form("nonce"))?;
    let sig = b64::decode_array::<64>(&m.sig).map_err(|_| form("sig"))?;
    // An empty sender is the server's own event (PROTOCOL §14).
    if m.sender_id.len() > 64 {
        return Err(form("sender_id"));
    }
    if m.received_at > MAX_U48 {
        return Err(form("received_at"));
    }
    let ttl = m
        .expires_at
        .checked_sub(m.received_at)
        .and_then(|d| u32::try_from(d).ok())
        .ok_or_else(|| form("expires_at"))?;
    let ct_len = match m.content_type.as_str() {
        MARKDOWN => None,
        ct if ct.len() < usize::from(MARKDOWN_CODE) => Some(ct.len() as u8),
        _ => return Err(form("content_type")),
    };

    let mut out = Vec::with_capacity(140 + m.sender_id.len() + m.content_type.len() + m.message.len());
    put48(&mut out, m.received_at);
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&id);
    out.push(m.sender_id.len() as u8 | if irt.is_some() { 0x80 } else { 0 });
    out.extend_from_slice(m.sender_id.as_bytes());
    if let Some(irt) = irt {
        out.extend_from_slice(&irt);
    }
    put48(&mut out, ts);
    out.extend_from_slice(&kid);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sig);
    match ct_len {
        None => out.push(MARKDOWN_CODE),
        Some(n) => {
            out.push(n);
            out.extend_from_slice(m.content_type.as_bytes());
        }
    }
    out.extend_from_slice(m.message.as_bytes());
    Ok(out)
}

/// A cursor over an entry; every read is bounds-checked.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.rest.len() < n {
            return Err(bad("malformed stored message (too short)"));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn u48(&mut self) -> Result<u64, StoreError> {
        let b = self.take(6)?;
        Ok(b.iter().fold(0u64, |v, &x| (v << 8) | u64::from(x)))
    }

    fn text(&mut self, n: usize) -> Result<String, StoreError> {
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| bad("malformed stored message (not UTF-8)"))
    }
}

/// Decodes an entry of the queue list, for `recipient_id`'s queue.
pub(super) fn decode_message(v: &[u8], recipient_id: &str) -> Result<StoredMessage, StoreError> {
    let mut r = Reader { rest: v };
    let received_at = r.u48()?;
    let ttl = u32::from_be_bytes(r.take(4)?.try_into().expect("4 bytes"));
    let message_id = b64::encode(r.take(16)?);
    let flags = r.take(1)?[0];
    let sender_id = r.text(usize::from(flags & 0x7f))?;
    let in_reply_to = if flags & 0x80 != 0 {
        b64::encode(r.take(16)?)
    } else {
        String::new()
    };
    let ts = r.u48()?.to_string();
    let key_id = hex(r.take(16)?);
    let nonce = b64::encode(r.take(16)?);
    let sig = b64::encode(r.take(64)?);
    let content_type = match r.take(1)?[0] {
        MARKDOWN_CODE => MARKDOWN.to_owned(),
        n => r.text(usize::from(n))?,
    };
    let message = r.text(r.rest.len())?;
    Ok(StoredMessage {
        message_id,
        sender_id,
        recipient_id: recipient_id.to_owned(),
        content_type,
        in_reply_to,
        message,
        key_id,
        ts,
        nonce,
        sig,
        received_at,
        expires_at: received_at + u64::from(ttl),
    })
}

/// A used nonce's value: `until` (48 bits), then its record: `r` for a
/// request; for a send, the 16 raw bytes of its message id and its two
/// times (48 bits each).
pub(super) fn encode_nonce(r: &NonceRecord, until: u64) -> Result<Vec<u8>, StoreError> {
    if until > MAX_U48 {
        return Err(bad("a time past 2^48 ms"));
    }
    let mut out = Vec::with_capacity(34);
    put48(&mut out, until);
    match r {
        NonceRecord::Request => out.push(b'r'),
        NonceRecord::Send {
            message_id,
            received_at,
            expires_at,
        } => {
            let id = raw16(message_id).ok_or_else(|| bad("message_id is not in its protocol form"))?;
            if *received_at > MAX_U48 || *expires_at > MAX_U48 {
                return Err(bad("a time past 2^48 ms"));
            }
            out.extend_from_slice(&id);
            put48(&mut out, *received_at);
            put48(&mut out, *expires_at);
        }
    }
    Ok(out)
}

/// On a Cluster, a send's nonce is claimed before its message is queued
/// (in another slot): `p` and the 16 raw bytes of the message id. The
/// times of a retried send are then read from the recipient's slot.
pub(super) fn encode_claim(message_id: &str, until: u64) -> Result<Vec<u8>, StoreError> {
    let id = raw16(message_id).ok_or_else(|| bad("message_id is not in its protocol form"))?;
    if until > MAX_U48 {
        return Err(bad("a time past 2^48 ms"));
    }
    let mut out = Vec::with_capacity(23);
    put48(&mut out, until);
    out.push(b'p');
    out.extend_from_slice(&id);
    Ok(out)
}

/// The record of a nonce value, without its `until`.
pub(super) fn nonce_record(v: &[u8]) -> &[u8] {
    v.get(6..).unwrap_or_default()
}

pub(super) fn decode_nonce(v: &[u8]) -> Result<NonceRecord, StoreError> {
    match nonce_record(v) {
        b"r" => Ok(NonceRecord::Request),
        [b'p', id @ ..] if id.len() == 16 => Ok(NonceRecord::Send {
            message_id: b64::encode(id),
            received_at: 0,
            expires_at: 0,
        }),
        body if body.len() == 28 => {
            let mut r = Reader { rest: body };
            let message_id = b64::encode(r.take(16)?);
            Ok(NonceRecord::Send {
                message_id,
                received_at: r.u48()?,
                expires_at: r.u48()?,
            })
        }
        _ => Err(bad("malformed nonce record")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> String {
        b64::encode(&[n; 16])
    }

    fn message(content_type: &str, in_reply_to: &str, body: &str) -> StoredMessage {
        StoredMessage {
            message_id: id(1),
            sender_id: "alice-laptop".into(),
            recipient_id: "bob".into(),
            content_type: content_type.into(),
            in_reply_to: in_reply_to.into(),
            message: body.into(),
            key_id: "0123456789abcdef0123456789abcdef".into(),
            ts: "1763900000123".into(),
            nonce: id(2),
            sig: b64::encode(&[7u8; 64]),
            received_at: 1_763_900_000_456,
            expires_at: 1_763_900_300_456,
        }
    }

    #[test]
    fn messages_come_back_exactly() {
        for m in [
            message("text/markdown", "", "hello"),
            message("", &id(3), "line one\nline two ✓"),
            message(
                "application/mcpmsg-sealed; kid=00112233445566778899aabbccddeeff",
                "",
                "",
            ),
        ] {
            let v = encode_message(&m).unwrap();
            assert_eq!(decode_message(&v, "bob").unwrap(), m);
        }
    }

    #[test]
    fn the_layout_is_as_documented() {
        let m = message("text/markdown", "", &"x".repeat(1024));
        let v = encode_message(&m).unwrap();
        // 6 + 4 + 16 + 1 + 12 (sender) + 6 + 16 + 16 + 64 + 1 + 1024
        assert_eq!(v.len(), 1166);
        assert_eq!(&v[10..26], &[1u8; 16], "message_id where the scripts read it");
        assert_eq!(v[26], 12, "sender length, no in_reply_to");
        assert_eq!(&v[27..39], b"alice-laptop");
        let with_reply = encode_message(&message("text/markdown", &id(3), "")).unwrap();
        assert_eq!(with_reply[26], 0x80 | 12);
        assert_eq!(&with_reply[39..55], &[3u8; 16]);
    }

    #[test]
    fn members_not_in_their_protocol_form_are_refused() {
        let ok = message("text/markdown", "", "hi");
        type Spoil = fn(&mut StoredMessage);
        let cases: [(&str, Spoil); 8] = [
            ("message_id", |m| m.message_id = "not-an-id".into()),
            ("in_reply_to", |m| m.in_reply_to = "nope".into()),
            ("ts", |m| m.ts = "0123".into()),
            ("key_id", |m| m.key_id = "0123456789ABCDEF0123456789ABCDEF".into()),
            ("nonce", |m| m.nonce = "n1".into()),
            ("sig", |m| m.sig = "s".repeat(86)),
            ("expires_at", |m| m.expires_at = m.received_at - 1),
            ("content_type", |m| m.content_type = "x".repeat(255)),
        ];
        for (member, spoil) in cases {
            let mut m = ok.clone();
            spoil(&mut m);
            let e = encode_message(&m).unwrap_err();
            assert!(e.0.contains(member), "{member}: {}", e.0);
        }
    }

    #[test]
    fn truncated_entries_are_errors_not_panics() {
        let v = encode_message(&message("", &id(3), "body")).unwrap();
        // Cut anywhere before the body, an entry is refused.
        for n in 0..v.len() - "body".len() {
            assert!(decode_message(&v[..n], "bob").is_err(), "{n}");
        }
    }

    #[test]
    fn nonce_records_come_back() {
        for r in [
            NonceRecord::Request,
            NonceRecord::Send {
                message_id: id(9),
                received_at: 1_763_900_000_456,
                expires_at: 1_763_900_300_456,
            },
        ] {
            let v = encode_nonce(&r, 1_763_900_240_456).unwrap();
            assert_eq!(
                &v[..6],
                &1_763_900_240_456u64.to_be_bytes()[2..],
                "until first, for the scripts"
            );
            assert_eq!(decode_nonce(&v).unwrap(), r);
        }
        assert!(decode_nonce(b"\0\0\0\0\0\x01s junk").is_err());
        assert!(decode_nonce(b"r").is_err(), "no until");
        let claim = encode_claim(&id(5), 7).unwrap();
        assert_eq!(nonce_record(&claim), nonce_record(&encode_claim(&id(5), 8).unwrap()));
        let claim = decode_nonce(&claim).unwrap();
        assert!(matches!(claim, NonceRecord::Send { message_id, .. } if message_id == id(5)));
    }
}
