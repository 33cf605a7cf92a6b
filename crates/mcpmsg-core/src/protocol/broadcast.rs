//! Broadcast (PROTOCOL §18e): who a filter matches, and the sealed form.
//!
//! The filter is one type for the server that applies it, `list_clients`
//! that shows what it would match, and the client that seals to that set.
//! A sealed broadcast uses the room envelope (§15c): the body sealed once
//! under a fresh key, the key wrapped for each recipient with HPKE, under
//! purposes of its own so no wrap or body can pass between a room message
//! and a broadcast.

use crate::crypto::seal::{OpenError, SealError};
use crate::crypto::{b64, SealingPublicKey, SealingSecret, SigningSecret};
use crate::inbox::{Opened, SenderLog, TimeRules};
use crate::protocol::negotiate::Declaration;
use crate::protocol::neutralise;
use crate::protocol::registry::{check_name, parse_range, tag_ok, Version, VersionReq};
use crate::protocol::room::check_copy;
use crate::protocol::room::sealed::{open_for, seal_for};
use crate::protocol::sign_input;
use crate::protocol::tools::{BroadcastArgs, BroadcastDelivered, PresenceStatus, SignedArgs};

/// The content type of a sealed broadcast.
pub const SEALED_BROADCAST_CONTENT_TYPE: &str = "application/mcpmsg-broadcast-sealed";

/// The HPKE `info` of a broadcast's wrapped message key.
pub const BROADCAST_WRAP_INFO: &[u8] = b"mcpmsg-v1-broadcast-key";

/// Who a broadcast (or `list_clients`) keeps: a declared capability tag, a
/// declared version of a protocol within a range, a presence status. An
/// unset part keeps everyone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    tag: Option<String>,
    protocol: Option<(String, Option<VersionReq>)>,
    statuses: Vec<PresenceStatus>,
}

impl Filter {
    /// From a tag, a protocol (`name` or `name@range`) and statuses
    /// (comma-separated `active`, `idle`, `offline`); empty strings for
    /// none. An error names the field and its form.
    pub fn parse(tag: &str, protocol: &str, status: &str) -> Result<Self, String> {
        if !tag.is_empty() && !tag_ok(tag) {
            return Err("tag: 1 to 32 of a-z, 0-9 and -".to_owned());
        }
        let protocol = match protocol {
            "" => None,
            p => {
                let (name, range) = match p.split_once('@') {
                    Some((n, r)) => (n, Some(parse_range("protocol", r)?)),
                    None => (p, None),
                };
                check_name("protocol", name)?;
                Some((name.to_owned(), range))
            }
        };
        let mut statuses = Vec::new();
        if !status.is_empty() {
            for s in status.split(',') {
                let st = match s {
                    "active" => PresenceStatus::Active,
                    "idle" => PresenceStatus::Idle,
                    "offline" => PresenceStatus::Offline,
                    _ => return Err("status: comma-separated from active, idle, offline, each once".to_owned()),
                };
                if statuses.contains(&st) {
                    return Err("status: comma-separated from active, idle, offline, each once".to_owned());
                }
                statuses.push(st);
            }
        }
        Ok(Self {
            tag: (!tag.is_empty()).then(|| tag.to_owned()),
            protocol,
            statuses,
        })
    }

    /// Whether it names a tag or a protocol: what only declared clients can
    /// match.
    pub fn names_a_declaration(&self) -> bool {
        self.tag.is_some() || self.protocol.is_some()
    }

    /// Whether it names presence statuses: only then does matching need
    /// to know who is present.
    pub fn names_a_status(&self) -> bool {
        !self.statuses.is_empty()
    }

    /// Whether it has no part at all.
    pub fn is_empty(&self) -> bool {
        !self.names_a_declaration() && !self.names_a_status()
    }

    /// Whether a client that declared `d` passes the tag and protocol parts.
    pub fn keeps_declared(&self, d: &Declaration) -> bool {
        let tag = self.tag.as_ref().is_none_or(|t| d.tags.contains(t));
        let protocol = self.protocol.as_ref().is_none_or(|(name, range)| {
            d.protocols.iter().any(|p| {
                p.split_once('@').is_some_and(|(n, v)| {
                    n == name
                        && range
                            .as_ref()
                            .is_none_or(|r| Version::parse(v).is_ok_and(|v| r.matches(&v)))
                })
            })
        });
        tag && protocol
    }

    /// Whether a client whose presence is `status` passes the status part.
    pub fn keeps_status(&self, status: PresenceStatus) -> bool {
        self.statuses.is_empty() || self.statuses.contains(&status)
    }
}

/// The AAD of a sealed broadcast's body: `SIGN_INPUT("broadcast-body",
/// sender_id, ts, nonce)`.
fn body_aad(m: &BroadcastArgs) -> Vec<u8> {
    sign_input("broadcast-body", &[&m.sender_id, &m.ts, &m.nonce])
}

/// The AAD of one recipient's wrap: `SIGN_INPUT("broadcast-key",
/// sender_id, recipient, kid, ts, nonce)`.
fn wrap_aad(m: &BroadcastArgs, recipient: &str, kid: &str) -> Vec<u8> {
    sign_input("broadcast-key", &[&m.sender_id, recipient, kid, &m.ts, &m.nonce])
}

impl BroadcastArgs {
    /// A broadcast of `sender_id` to a filter (tag, protocol, status as
    /// [`Filter::parse`] takes them), before sealing and signing.
    pub fn new(sender_id: &str, [tag, protocol, status]: [&str; 3], content_type: &str, message: &str) -> Self {
        Self {
            sender_id: sender_id.to_owned(),
            tag: tag.to_owned(),
            protocol: protocol.to_owned(),
            status: status.to_owned(),
            content_type: content_type.to_owned(),
            in_reply_to: String::new(),
            message: message.to_owned(),
            wraps: String::new(),
            key_id: String::new(),
            ts: String::new(),
            nonce: String::new(),
            sig: String::new(),
        }
    }

    /// Seals `plaintext` for exactly `recipients` (each with its current
    /// sealing key, as the sender verified it), then signs: the signature
    /// covers the ciphertext and every wrap. With `protocol`
    /// (`name@version`), the plaintext is a typed body of it (§18d).
    pub fn seal_and_sign(
        signer: &SigningSecret,
        sender_id: &str,
        recipients: &[(&str, &SealingPublicKey)],
        plaintext: &str,
        protocol: Option<&str>,
    ) -> Result<Self, SealError> {
        let content_type = match protocol {
            Some(p) => format!(
                "{SEALED_BROADCAST_CONTENT_TYPE}{}{p}",
                crate::protocol::sealed::PROTOCOL_PARAM
            ),
            None => SEALED_BROADCAST_CONTENT_TYPE.to_owned(),
        };
        let mut m = Self::new(sender_id, ["", "", ""], &content_type, "");
        m.key_id = signer.public().kid();
        m.ts = crate::protocol::now_ms().to_string();
        m.nonce = crate::protocol::new_nonce();
        let (body, wraps) = seal_for(
            BROADCAST_WRAP_INFO,
            &body_aad(&m),
            |r, kid| wrap_aad(&m, r, kid),
            recipients,
            plaintext,
        )?;
        m.message = body;
        m.wraps = wraps;
        m.sig = b64::encode(&signer.sign(&m.sign_input()));
        Ok(m)
    }

    /// Whether it is sealed.
    pub fn is_sealed(&self) -> bool {
        crate::protocol::sealed::split_protocol(&self.content_type).0 == SEALED_BROADCAST_CONTENT_TYPE
    }

    /// The message id it gets: derived from its signature (PROTOCOL §5).
    pub fn message_id(&self) -> Result<String, crate::protocol::FieldError> {
        crate::protocol::decode_sig("sig", &self.sig).map(|sig| crate::protocol::message_id(&sig))
    }

    /// Opens a sealed broadcast as `recipient` with its sealing secret.
    /// Every failure is the same [`OpenError`].
    pub fn open(&self, recipient: &str, secret: &SealingSecret) -> Result<String, OpenError> {
        if !self.is_sealed() {
            return Err(OpenError);
        }
        open_for(
            BROADCAST_WRAP_INFO,
            &body_aad(self),
            |kid| wrap_aad(self, recipient, kid),
            (&self.message, &self.wraps),
            recipient,
            secret,
        )
    }
}

/// Checks a delivered broadcast as `me`: its id derived from its
/// signature, the signature strict under the sender's key current at its
/// `ts` and at `received_at`, not older than a message may live, and, when
/// sealed, opened with one of `sealing` (the wrap binds `me`). The text is
/// neutralised, safe to print.
pub fn check_broadcast(
    b: &BroadcastDelivered,
    me: &str,
    sender: &SenderLog<'_>,
    sealing: &[&SealingSecret],
    rules: TimeRules,
    now: u64,
) -> Result<Opened, String> {
    if b.recipient_id != me {
        return Err(format!("addressed to {}, not to this client", b.recipient_id));
    }
    let send = b.as_send();
    check_copy(&send, &b.message_id, &b.received_at, sender, rules, now)?;
    if !send.is_sealed() {
        if !b.wraps.is_empty() {
            return Err("an unsealed broadcast carries wraps".to_owned());
        }
        return Ok(Opened {
            text: neutralise(&b.message),
            sealed: false,
        });
    }
    let text = sealing
        .iter()
        .find_map(|s| send.open(me, s).ok())
        .ok_or("the sealed broadcast cannot be opened with this client's keys")?;
    Ok(Opened {
        text: neutralise(&text),
        sealed: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(tags: &[&str], protocols: &[&str]) -> Declaration {
        Declaration {
            tags: tags.iter().map(|s| (*s).to_owned()).collect(),
            protocols: protocols.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn a_filter_keeps_by_tag_protocol_range_and_status() {
        let f = Filter::parse("weather", "forecast@^1.2", "active,idle").unwrap();
        assert!(f.keeps_declared(&declared(&["weather"], &["forecast@1.4.0"])));
        assert!(!f.keeps_declared(&declared(&["weather"], &["forecast@1.1.0"])));
        assert!(!f.keeps_declared(&declared(&["weather"], &["forecast@2.0.0"])));
        assert!(!f.keeps_declared(&declared(&["news"], &["forecast@1.4.0"])));
        assert!(f.keeps_status(PresenceStatus::Idle));
        assert!(!f.keeps_status(PresenceStatus::Offline));
        let any = Filter::parse("", "forecast", "").unwrap();
        assert!(any.keeps_declared(&declared(&[], &["forecast@9.0.0"])));
        assert!(any.keeps_status(PresenceStatus::Offline));
        assert!(Filter::parse("", "", "").unwrap().is_empty());
    }

    #[test]
    fn a_bad_filter_names_its_field() {
        for (args, field) in [
            (["Bad Tag", "", ""], "tag:"),
            (["", "Forecast", ""], "protocol:"),
            (["", "forecast@^x", ""], "protocol:"),
            (["", "", "online"], "status:"),
            (["", "", "idle,idle"], "status:"),
        ] {
            let e = Filter::parse(args[0], args[1], args[2]).unwrap_err();
            assert!(e.starts_with(field), "{args:?}: {e}");
        }
    }

    #[test]
    fn a_sealed_broadcast_opens_for_each_recipient_only() {
        let signer = SigningSecret::generate();
        let (bob, carol, dave) = (
            SealingSecret::generate(),
            SealingSecret::generate(),
            SealingSecret::generate(),
        );
        let (bp, cp) = (bob.public(), carol.public());
        let m =
            BroadcastArgs::seal_and_sign(&signer, "alice", &[("carol", &cp), ("bob", &bp)], "hi all", None).unwrap();
        assert!(m.wraps.starts_with("bob:"), "wraps in ascending order");
        assert_eq!(m.open("bob", &bob).unwrap(), "hi all");
        assert_eq!(m.open("carol", &carol).unwrap(), "hi all");
        assert_eq!(m.open("dave", &dave), Err(OpenError));
        // A wrap taken to another recipient's name does not open.
        assert_eq!(m.open("carol", &bob), Err(OpenError));
        let mut moved = m.clone();
        moved.sender_id = "mallory".to_owned();
        assert_eq!(moved.open("bob", &bob), Err(OpenError));
        let sig = crate::protocol::decode_sig("sig", &m.sig).unwrap();
        signer.public().verify(&m.sign_input(), &sig).unwrap();
    }
}
