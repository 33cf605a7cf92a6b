//! Compact forms of what the memory store keeps many of.
//!
//! A queued message is one heap allocation: its ten string members laid end
//! to end, with their end offsets beside it. Ten `String`s would cost ten
//! allocations and 240 bytes of headers per message. A used nonce is a
//! 16-byte digest of `(client_id, nonce)` and, for sends, the 16 raw bytes
//! of the message id: no allocation at all.

use sha2::{Digest, Sha256};

use super::{NonceRecord, StoredMessage};
use mcpmsg_core::crypto::b64;

/// One queued message in a single allocation; a room message's copies
/// share one body (the same signed envelope for every member).
///
/// The nine short members come first, each with its length (a `u16`: the
/// broker bounds every one far below 64 KiB), and the body last, to the end
/// of the buffer: 18 bytes of lengths where ten `u32` offsets took 40, so
/// a queued message's bookkeeping is 72 bytes.
pub(super) struct Packed {
    buf: Box<str>,
    lens: [u16; 9],
    /// The body, when shared with other copies (it is then absent in `buf`).
    shared: Option<std::sync::Arc<str>>,
    pub(super) received_at: u64,
    pub(super) expires_at: u64,
}

const MESSAGE_ID: usize = 0;
const SENDER_ID: usize = 1;
const IN_REPLY_TO: usize = 4;
/// The body: after the nine short members.
const MESSAGE: usize = 9;

impl Packed {
    pub(super) fn new(m: &StoredMessage) -> Self {
        Self::pack(m, None)
    }

    /// `m` with its body `shared` with other copies (`m.message` unused).
    pub(super) fn with_shared_body(m: &StoredMessage, shared: std::sync::Arc<str>) -> Self {
        Self::pack(m, Some(shared))
    }

    fn pack(m: &StoredMessage, shared: Option<std::sync::Arc<str>>) -> Self {
        let message = if shared.is_some() { "" } else { m.message.as_str() };
        let short = [
            &m.message_id,
            &m.sender_id,
            &m.recipient_id,
            &m.content_type,
            &m.in_reply_to,
            &m.key_id,
            &m.ts,
            &m.nonce,
            &m.sig,
        ];
        let mut buf = String::with_capacity(short.iter().map(|p| p.len()).sum::<usize>() + message.len());
        let mut lens = [0u16; 9];
        for (i, p) in short.iter().enumerate() {
            buf.push_str(p);
            // Ids, kids, nonces, signatures, times and a content type of at
            // most 200 characters: the broker checked each before queueing.
            lens[i] = u16::try_from(p.len()).expect("a message's short members are checked before it is queued");
        }
        buf.push_str(message);
        Self {
            buf: buf.into_boxed_str(),
            lens,
            shared,
            received_at: m.received_at,
            expires_at: m.expires_at,
        }
    }

    fn part(&self, i: usize) -> &str {
        let start: usize = self.lens[..i].iter().map(|&l| usize::from(l)).sum();
        if i == MESSAGE {
            return match &self.shared {
                Some(body) => body,
                None => &self.buf[start..],
            };
        }
        &self.buf[start..start + usize::from(self.lens[i])]
    }

    pub(super) fn message_id(&self) -> &str {
        self.part(MESSAGE_ID)
    }

    pub(super) fn sender_id(&self) -> &str {
        self.part(SENDER_ID)
    }

    pub(super) fn in_reply_to(&self) -> &str {
        self.part(IN_REPLY_TO)
    }

    /// Bytes of the body, as counted against `--max-queued-bytes`.
    pub(super) fn body_len(&self) -> usize {
        self.part(MESSAGE).len()
    }

    pub(super) fn unpack(&self) -> StoredMessage {
        let p = |i| self.part(i).to_owned();
        StoredMessage {
            message_id: p(0),
            sender_id: p(1),
            recipient_id: p(2),
            content_type: p(3),
            in_reply_to: p(4),
            key_id: p(5),
            ts: p(6),
            nonce: p(7),
            sig: p(8),
            message: p(MESSAGE),
            received_at: self.received_at,
            expires_at: self.expires_at,
        }
    }
}

/// SHA-256 of `(client_id, nonce)`, truncated to 128 bits: a collision
/// needs about 2^64 live nonces, and would only refuse a request.
pub(super) type NonceKey = [u8; 16];

pub(super) fn nonce_key(client_id: &str, nonce: &str) -> NonceKey {
    let mut h = Sha256::new();
    h.update((client_id.len() as u32).to_be_bytes());
    h.update(client_id.as_bytes());
    h.update(nonce.as_bytes());
    h.finalize()[..16].try_into().expect("16 of 32 bytes")
}

/// A message id as kept in a nonce record: the 16 raw bytes the broker's
/// ids decode to, or the text itself for any other id.
#[derive(Clone)]
enum Id {
    Raw([u8; 16]),
    Text(Box<str>),
}

/// A [`NonceRecord`] without allocations (for broker-made ids), and how
/// long it is kept.
#[derive(Clone)]
pub(super) struct CompactNonce {
    /// Message id, received_at and expires_at of a send; `None` for other requests.
    send: Option<(Id, u64, u64)>,
    pub(super) until: u64,
}

impl CompactNonce {
    pub(super) fn new(record: &NonceRecord, until: u64) -> Self {
        let send = match record {
            NonceRecord::Request => None,
            NonceRecord::Send {
                message_id,
                received_at,
                expires_at,
            } => {
                let id = match b64::decode_array::<16>(message_id) {
                    Ok(raw) => Id::Raw(raw),
                    Err(_) => Id::Text(message_id.as_str().into()),
                };
                Some((id, *received_at, *expires_at))
            }
        };
        Self { send, until }
    }

    pub(super) fn record(&self) -> NonceRecord {
        match &self.send {
            None => NonceRecord::Request,
            Some((id, received_at, expires_at)) => NonceRecord::Send {
                message_id: match id {
                    Id::Raw(raw) => b64::encode(raw),
                    Id::Text(t) => t.to_string(),
                },
                received_at: *received_at,
                expires_at: *expires_at,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trip() {
        let m = StoredMessage {
            message_id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            sender_id: "alice".into(),
            recipient_id: "bob".into(),
            content_type: String::new(),
            in_reply_to: "BBBBBBBBBBBBBBBBBBBBBB".into(),
            message: "héllo ✓".into(),
            key_id: "k".into(),
            ts: "1".into(),
            nonce: "n".into(),
            sig: "s".into(),
            received_at: 5,
            expires_at: 9,
        };
        let p = Packed::new(&m);
        assert_eq!(p.unpack(), m);
        assert_eq!(
            (p.message_id(), p.sender_id(), p.in_reply_to()),
            ("AAAAAAAAAAAAAAAAAAAAAA", "alice", "BBBBBBBBBBBBBBBBBBBBBB")
        );
        let r = NonceRecord::Send {
            message_id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            received_at: 1,
            expires_at: 2,
        };
        assert_eq!(CompactNonce::new(&r, 3).record(), r);
        assert_eq!(
            CompactNonce::new(&NonceRecord::Request, 3).record(),
            NonceRecord::Request
        );
        assert_ne!(nonce_key("ab", "c"), nonce_key("a", "bc"));
    }

    #[test]
    fn a_shared_body_round_trips_and_the_bookkeeping_stays_small() {
        let m = StoredMessage {
            message_id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            sender_id: "alice".into(),
            recipient_id: "bob".into(),
            content_type: "application/mcpmsg-room".into(),
            message: "the shared envelope".into(),
            ..Default::default()
        };
        let body: std::sync::Arc<str> = std::sync::Arc::from(m.message.as_str());
        let p = Packed::with_shared_body(&m, body);
        assert_eq!((p.unpack(), p.body_len()), (m.clone(), m.message.len()));
        assert_eq!(
            Packed::new(&StoredMessage::default()).unpack(),
            StoredMessage::default()
        );
        assert!(std::mem::size_of::<Packed>() <= 72, "{}", std::mem::size_of::<Packed>());
    }
}
