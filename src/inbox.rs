//! Checking a delivered message on the recipient's side: the pure part of
//! receiving, used by the CLI and the signing bridge.
//!
//! A message is genuine only if it is addressed to us, it is signed by a
//! key of the sender's verified log that was current when the server
//! received it, the signature verifies (strictly), and, when sealed, it
//! opens with one of our sealing secrets under the AAD rebuilt from its own
//! members. Anything else is rejected with a reason and never shown as
//! genuine. Text is neutralised before it reaches a terminal or a model.

use serde::{Deserialize, Serialize};

use crate::crypto::kel::KelState;
use crate::crypto::SealingSecret;
use crate::protocol::{parse_ts, SendMessage};

/// A delivered message as it travels (PROTOCOL §5): every member a string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    /// The message id.
    pub message_id: String,
    /// The sender.
    pub sender_id: String,
    /// The recipient.
    pub recipient_id: String,
    /// As signed; empty means `text/markdown`.
    #[serde(default)]
    pub content_type: String,
    /// As signed; empty when not a reply.
    #[serde(default)]
    pub in_reply_to: String,
    /// The body.
    pub message: String,
    /// Kid of the signing key.
    pub key_id: String,
    /// Sender's time.
    pub ts: String,
    /// Request nonce.
    pub nonce: String,
    /// Signature.
    pub sig: String,
    /// Server time of acceptance, Unix ms.
    pub received_at: String,
    /// Expiry, Unix ms.
    pub expires_at: String,
}

impl Delivered {
    /// The send it came from, to verify or open.
    pub fn as_send(&self) -> SendMessage {
        SendMessage {
            sender_id: self.sender_id.clone(),
            recipient_id: self.recipient_id.clone(),
            message: self.message.clone(),
            content_type: Some(self.content_type.clone()),
            in_reply_to: Some(self.in_reply_to.clone()),
            key_id: self.key_id.clone(),
            ts: self.ts.clone(),
            nonce: self.nonce.clone(),
            sig: self.sig.clone(),
        }
    }
}

/// A genuine message, opened and neutralised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The text, safe to print.
    pub text: String,
    /// Whether it was sealed end to end.
    pub sealed: bool,
}

/// The sender's verified log and, when known, the acceptance time of each
/// event (from `get_client_keys`).
pub struct SenderLog<'a> {
    /// The verified state.
    pub state: &'a KelState,
    /// Server acceptance time of each event; `None` when only a pinned
    /// state is known, and then only its current key is accepted.
    pub accepted_at: Option<&'a [u64]>,
}

/// Checks `msg` for recipient `me`; `sealing` are our sealing secrets,
/// current first.
pub fn check(msg: &Delivered, me: &str, sender: &SenderLog<'_>, sealing: &[&SealingSecret]) -> Result<Opened, String> {
    if msg.recipient_id != me {
        return Err(format!("addressed to {:?}, not to this client", msg.recipient_id));
    }
    let state = sender.state;
    if msg.sender_id != state.client_id() {
        return Err(format!(
            "claims to be from {:?} but was checked against {}",
            msg.sender_id,
            state.client_id()
        ));
    }
    let history = state.history();
    let Some(j) = history.iter().position(|k| k.signing_key.kid() == msg.key_id) else {
        return Err(format!(
            "signed by key {}, which is not in {}'s key event log",
            msg.key_id, msg.sender_id
        ));
    };
    let received_at = parse_ts("received_at", &msg.received_at).map_err(|e| e.to_string())?;
    match sender.accepted_at {
        Some(accepted) => {
            // The key held from its establishment until the next
            // establishment or a revocation (PROTOCOL §3).
            let at = |seq: u64| accepted.get(seq as usize).copied();
            let from = at(history[j].seq).ok_or("the sender's log has no acceptance time for that key")?;
            let until = history
                .get(j + 1)
                .and_then(|k| at(k.seq))
                .into_iter()
                .chain(state.revoked().and_then(|(seq, _)| at(seq)))
                .min();
            if received_at < from || until.is_some_and(|u| received_at >= u) {
                return Err(format!(
                    "signed by key {}, which was not current when the server received it",
                    msg.key_id
                ));
            }
        }
        None => {
            if j + 1 != history.len() || state.revoked().is_some() {
                return Err(format!(
                    "signed by key {}, which is not the current key of {}",
                    msg.key_id, msg.sender_id
                ));
            }
        }
    }
    let send = msg.as_send();
    send.verify(&history[j].signing_key)
        .map_err(|_| "the signature does not verify: altered or forged".to_owned())?;
    match send.sealed_kid() {
        Some(kid) => {
            let secret = sealing
                .iter()
                .find(|s| s.public().kid() == kid)
                .ok_or_else(|| format!("sealed to key {kid}, which this client does not hold (any more)"))?;
            let text = send
                .open(secret)
                .map_err(|_| "the sealed message cannot be opened".to_owned())?;
            Ok(Opened {
                text: neutralise(&text),
                sealed: true,
            })
        }
        None => Ok(Opened {
            text: neutralise(&msg.message),
            sealed: false,
        }),
    }
}

/// Replaces control characters (but newline and tab), terminal escapes and
/// bidirectional overrides with visible `\u{..}` escapes, so received text
/// can neither drive a terminal nor hide what it says.
pub fn neutralise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi =
            matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}');
        if (c.is_control() && c != '\n' && c != '\t') || bidi {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::kel::{verify_log, Event};
    use crate::crypto::SigningSecret;
    use crate::protocol::{new_nonce, SendParts};

    fn delivered(send: &SendMessage, received_at: u64) -> Delivered {
        Delivered {
            message_id: send.message_id().unwrap(),
            sender_id: send.sender_id.clone(),
            recipient_id: send.recipient_id.clone(),
            content_type: send.content_type.clone().unwrap_or_default(),
            in_reply_to: send.in_reply_to.clone().unwrap_or_default(),
            message: send.message.clone(),
            key_id: send.key_id.clone(),
            ts: send.ts.clone(),
            nonce: send.nonce.clone(),
            sig: send.sig.clone(),
            received_at: received_at.to_string(),
            expires_at: (received_at + 300_000).to_string(),
        }
    }

    #[test]
    fn genuine_tampered_and_misaddressed_messages() {
        let (k0, k1, k2) = (
            SigningSecret::generate(),
            SigningSecret::generate(),
            SigningSecret::generate(),
        );
        let bob = SealingSecret::generate();
        let alice_seal = SealingSecret::generate();
        let mut log = vec![Event::inception(
            "alice",
            &k0,
            &alice_seal.public(),
            &k1.public(),
            1_000,
        )];
        let nonce = new_nonce();
        let parts = SendParts {
            sender_id: "alice",
            recipient_id: "bob",
            in_reply_to: None,
            ts: 2_000,
            nonce: &nonce,
        };
        let old = SendMessage::seal_and_sign(&k0, parts, &bob.public(), "before \u{1b}[2J rotation").unwrap();
        let head = log[0].hash().unwrap();
        log.push(Event::rotation(
            "alice",
            1,
            &head,
            &k1,
            &alice_seal.public(),
            &k2.public(),
            3_000,
        ));
        let state = verify_log(&log).unwrap();
        let accepted = [1_000, 3_000];
        let with_times = SenderLog {
            state: &state,
            accepted_at: Some(&accepted),
        };

        // Signed by k0 and received before the rotation took effect: genuine.
        let ok = check(&delivered(&old, 2_500), "bob", &with_times, &[&bob]).unwrap();
        assert_eq!(
            ok,
            Opened {
                text: "before \\u{1b}[2J rotation".into(),
                sealed: true
            }
        );
        // The same key, received after the rotation: refused.
        let late = check(&delivered(&old, 3_000), "bob", &with_times, &[&bob]).unwrap_err();
        assert!(late.contains("was not current when the server received it"), "{late}");
        // Knowing only the pinned state, only the current key is accepted.
        let pinned = SenderLog {
            state: &state,
            accepted_at: None,
        };
        assert!(check(&delivered(&old, 2_500), "bob", &pinned, &[&bob])
            .unwrap_err()
            .contains("not the current key"));

        let mut tampered = delivered(&old, 2_500);
        tampered.ts = "2001".into();
        assert_eq!(
            check(&tampered, "bob", &with_times, &[&bob]).unwrap_err(),
            "the signature does not verify: altered or forged"
        );
        let mut moved = delivered(&old, 2_500);
        moved.sender_id = "mallory".into();
        assert!(check(&moved, "bob", &with_times, &[&bob])
            .unwrap_err()
            .starts_with("claims to be from \"mallory\""));
        assert!(check(&delivered(&old, 2_500), "carol", &with_times, &[&bob])
            .unwrap_err()
            .starts_with("addressed to \"bob\""));
        let other = SealingSecret::generate();
        assert!(check(&delivered(&old, 2_500), "bob", &with_times, &[&other])
            .unwrap_err()
            .contains("does not hold"));
    }

    #[test]
    fn neutralises_escapes_controls_and_bidi() {
        assert_eq!(neutralise("ok\n\ttab"), "ok\n\ttab");
        assert_eq!(neutralise("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(neutralise("a\rb\u{7f}\u{9b}"), "a\\u{d}b\\u{7f}\\u{9b}");
        assert_eq!(neutralise("x\u{202e}y"), "x\\u{202e}y");
    }
}
