//! Sealed room messages (PROTOCOL §15): the body encrypted once under a
//! fresh random key, and that key sealed to each other member with HPKE.
//!
//! The body key is used for exactly one message, so the ChaCha20-Poly1305
//! nonce can be fixed (all zero) without ever repeating under a key. No
//! group state survives a message: a removed member's key is simply not
//! among the next message's wraps, so removal needs no rekeying.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use zeroize::Zeroizing;

use crate::crypto::seal::{self, OpenError, SealError};
use crate::crypto::{b64, random_bytes, SealingPublicKey, SealingSecret, SigningSecret};
use crate::protocol::sign_input;
use crate::protocol::tools::{SendRoomMessageArgs, SignedArgs};

/// The content type of a sealed room message.
pub const SEALED_CONTENT_TYPE: &str = "application/mcpmsg-room-sealed";

/// The HPKE `info` of a wrapped message key.
pub const WRAP_INFO: &[u8] = b"mcpmsg-v1-room-key";

/// The message key sealed to one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wrap {
    /// The member.
    pub member: String,
    /// The kid of the member's sealing key it is sealed to.
    pub kid: String,
    /// base64url of `enc || ct` (HPKE, 32 + 32 + 16 bytes).
    pub wrap: String,
}

/// `wraps` as it travels: `member:kid:wrap` joined by commas, in ascending
/// byte order of `member`.
pub fn format_wraps(wraps: &[Wrap]) -> String {
    let mut sorted: Vec<&Wrap> = wraps.iter().collect();
    sorted.sort_by(|a, b| a.member.as_bytes().cmp(b.member.as_bytes()));
    sorted
        .iter()
        .map(|w| format!("{}:{}:{}", w.member, w.kid, w.wrap))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses `wraps`: every entry of the form `member:kid:wrap`, members
/// strictly ascending (so none twice), a kid of 32 hex, a wrap of base64url.
pub fn parse_wraps(s: &str) -> Result<Vec<Wrap>, String> {
    let mut out: Vec<Wrap> = Vec::new();
    for entry in s.split(',') {
        let mut parts = entry.split(':');
        let (Some(member), Some(kid), Some(wrap), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("wraps: entries of the form member:kid:wrap joined by commas".to_owned());
        };
        crate::protocol::check_client_id("wraps", member).map_err(|e| e.to_string())?;
        if kid.len() != 32 || !kid.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(format!(
                "wraps: the kid for {member} is not 32 lowercase hex characters"
            ));
        }
        if b64::decode(wrap).map(|w| w.len()) != Ok(seal::ENC_LEN + 32 + seal::TAG_LEN) {
            return Err(format!("wraps: the wrap for {member} is not base64url of 80 bytes"));
        }
        if out.last().is_some_and(|w| w.member.as_bytes() >= member.as_bytes()) {
            return Err("wraps: members in strictly ascending order, each once".to_owned());
        }
        out.push(Wrap {
            member: member.to_owned(),
            kid: kid.to_owned(),
            wrap: wrap.to_owned(),
        });
    }
    Ok(out)
}

/// The AAD of the body: `SIGN_INPUT("room-body", room_id, epoch, sender_id,
/// ts, nonce)`.
fn body_aad(m: &SendRoomMessageArgs) -> Vec<u8> {
    sign_input("room-body", &[&m.room_id, &m.epoch, &m.sender_id, &m.ts, &m.nonce])
}

/// The AAD of one member's wrap: `SIGN_INPUT("room-key", room_id, epoch,
/// sender_id, member, kid, ts, nonce)`.
fn wrap_aad(m: &SendRoomMessageArgs, member: &str, kid: &str) -> Vec<u8> {
    sign_input(
        "room-key",
        &[&m.room_id, &m.epoch, &m.sender_id, member, kid, &m.ts, &m.nonce],
    )
}

const BODY_NONCE: [u8; 12] = [0; 12];

/// What a sender fills in to seal a room message.
#[derive(Debug, Clone, Copy)]
pub struct RoomSealParts<'a> {
    /// The sender.
    pub sender_id: &'a str,
    /// The room.
    pub room_id: &'a str,
    /// The epoch of the membership the sender verified.
    pub epoch: u64,
    /// The message_id this answers, if any.
    pub in_reply_to: Option<&'a str>,
    /// Unix ms.
    pub ts: u64,
    /// A fresh nonce.
    pub nonce: &'a str,
}

impl<'a> RoomSealParts<'a> {
    /// A message of `sender_id` made for `room`'s current epoch, now, not a
    /// reply, with `nonce`.
    pub fn now(sender_id: &'a str, room: &'a super::RoomState, nonce: &'a str) -> Self {
        Self {
            sender_id,
            room_id: room.room_id(),
            epoch: room.epoch(),
            in_reply_to: None,
            ts: crate::protocol::now_ms(),
            nonce,
        }
    }
}

impl SendRoomMessageArgs {
    /// A signed, unsealed room message.
    pub fn sign_plain(signer: &SigningSecret, parts: RoomSealParts<'_>, content_type: &str, text: &str) -> Self {
        let mut m = Self::unsigned(signer, parts, content_type, text.to_owned());
        m.sig = b64::encode(&signer.sign(&m.sign_input()));
        m
    }

    /// Seals `plaintext` for `members` (each other member and its current
    /// sealing key, exactly the members the sender verified), then signs:
    /// the signature covers the ciphertext and every wrap.
    pub fn seal_and_sign(
        signer: &SigningSecret,
        parts: RoomSealParts<'_>,
        members: &[(&str, &SealingPublicKey)],
        plaintext: &str,
    ) -> Result<Self, SealError> {
        let mut m = Self::unsigned(signer, parts, SEALED_CONTENT_TYPE, String::new());
        let (body, wraps) = seal_for(
            WRAP_INFO,
            &body_aad(&m),
            |member, kid| wrap_aad(&m, member, kid),
            members,
            plaintext,
        )?;
        m.message = body;
        m.wraps = wraps;
        m.sig = b64::encode(&signer.sign(&m.sign_input()));
        Ok(m)
    }

    fn unsigned(signer: &SigningSecret, parts: RoomSealParts<'_>, content_type: &str, message: String) -> Self {
        Self {
            sender_id: parts.sender_id.to_owned(),
            room_id: parts.room_id.to_owned(),
            epoch: parts.epoch.to_string(),
            content_type: content_type.to_owned(),
            in_reply_to: parts.in_reply_to.unwrap_or_default().to_owned(),
            message,
            wraps: String::new(),
            key_id: signer.public().kid(),
            ts: parts.ts.to_string(),
            nonce: parts.nonce.to_owned(),
            sig: String::new(),
        }
    }

    /// The message id it gets: derived from its signature, as a 1:1
    /// message's is (PROTOCOL §5).
    pub fn message_id(&self) -> Result<String, crate::protocol::FieldError> {
        crate::protocol::decode_sig("sig", &self.sig).map(|sig| crate::protocol::message_id(&sig))
    }

    /// Whether it is sealed.
    pub fn is_sealed(&self) -> bool {
        crate::protocol::sealed::split_protocol(&self.content_type).0 == SEALED_CONTENT_TYPE
    }

    /// Opens a sealed room message as `member` with its sealing secret: the
    /// wrap for `member` under that secret's kid, then the body. Every
    /// failure is the same [`OpenError`].
    pub fn open(&self, member: &str, secret: &SealingSecret) -> Result<String, OpenError> {
        if !self.is_sealed() {
            return Err(OpenError);
        }
        open_for(
            WRAP_INFO,
            &body_aad(self),
            |kid| wrap_aad(self, member, kid),
            (&self.message, &self.wraps),
            member,
            secret,
        )
    }
}

/// Seals `plaintext` once under a fresh key and wraps that key for each of
/// `members` under HPKE `info` with its own AAD: the envelope rooms and
/// sealed broadcasts share. Returns the body and the `wraps`, both as they
/// travel.
pub(crate) fn seal_for(
    info: &[u8],
    body_aad: &[u8],
    wrap_aad: impl Fn(&str, &str) -> Vec<u8>,
    members: &[(&str, &SealingPublicKey)],
    plaintext: &str,
) -> Result<(String, String), SealError> {
    // A fresh key per message: the fixed body nonce never repeats under it.
    let key = random_bytes::<32>();
    let aead = ChaCha20Poly1305::new(Key::from_slice(key.as_ref()));
    let body = aead
        .encrypt(
            Nonce::from_slice(&BODY_NONCE),
            Payload {
                msg: plaintext.as_bytes(),
                aad: body_aad,
            },
        )
        .map_err(|_| SealError)?;
    let mut wraps = Vec::with_capacity(members.len());
    for (member, pk) in members {
        let kid = pk.kid();
        let sealed = seal::seal_with_info(pk, info, &wrap_aad(member, &kid), key.as_ref())?;
        wraps.push(Wrap {
            member: (*member).to_owned(),
            kid,
            wrap: b64::encode(&sealed),
        });
    }
    Ok((b64::encode(&body), format_wraps(&wraps)))
}

/// Opens an envelope of [`seal_for`] (`(message, wraps)` as they travel)
/// as `member`: its wrap under `secret`'s kid, then the body. Every failure
/// is the same [`OpenError`].
pub(crate) fn open_for(
    info: &[u8],
    body_aad: &[u8],
    wrap_aad: impl Fn(&str) -> Vec<u8>,
    (message, wraps): (&str, &str),
    member: &str,
    secret: &SealingSecret,
) -> Result<String, OpenError> {
    let kid = secret.public().kid();
    let wraps = parse_wraps(wraps).map_err(|_| OpenError)?;
    let w = wraps
        .iter()
        .find(|w| w.member == member && w.kid == kid)
        .ok_or(OpenError)?;
    let sealed = b64::decode(&w.wrap).map_err(|_| OpenError)?;
    // The message key is a secret: wiped when dropped.
    let key = Zeroizing::new(seal::open_with_info(secret, info, &wrap_aad(&kid), &sealed)?);
    if key.len() != 32 {
        return Err(OpenError);
    }
    let body = b64::decode(message).map_err(|_| OpenError)?;
    let plain = ChaCha20Poly1305::new(Key::from_slice(&key))
        .decrypt(
            Nonce::from_slice(&BODY_NONCE),
            Payload {
                msg: &body,
                aad: body_aad,
            },
        )
        .map_err(|_| OpenError)?;
    String::from_utf8(plain).map_err(|_| OpenError)
}
