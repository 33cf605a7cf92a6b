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

use crate::crypto::SealingSecret;
use crate::protocol::kel::KelState;
use crate::protocol::{check_client_id, parse_ts, SendMessage};

/// A delivered message as it travels (PROTOCOL §5): every member a string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// `send` as the server delivers it, accepted at `received_at` and
    /// expiring at `expires_at`; the inverse of [`Delivered::as_send`].
    pub fn of_send(send: &SendMessage, received_at: u64, expires_at: u64) -> Result<Self, crate::protocol::FieldError> {
        Ok(Self {
            message_id: send.message_id()?,
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
            expires_at: expires_at.to_string(),
        })
    }

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

/// The server's limits a recipient judges time by (A3): PROTOCOL §9's
/// defaults unless configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRules {
    /// Largest accepted `|received_at - ts|`, ms.
    pub max_skew_ms: u64,
    /// Longest message lifetime, ms.
    pub lifetime_ms: u64,
}

impl Default for TimeRules {
    fn default() -> Self {
        Self {
            max_skew_ms: 120_000,
            lifetime_ms: 300_000,
        }
    }
}

impl TimeRules {
    /// How long a `(sender_id, nonce)` must be remembered to drop a second
    /// delivery of it: every message older than this is refused anyway.
    pub fn seen_window_ms(&self) -> u64 {
        self.lifetime_ms + 2 * self.max_skew_ms
    }
}

/// Checks `msg` for recipient `me` at time `now` (A3): ids of the right
/// form, `message_id` recomputed from `sig`, `ts` within `max_skew` of
/// `received_at` and not older than the lifetime plus `max_skew`, signed by
/// a key of the sender's verified log that was current at both `ts` and
/// `received_at`, a strictly valid signature, and, when sealed, one of our
/// sealing secrets opens it. `sealing` is current first.
pub fn check(
    msg: &Delivered,
    me: &str,
    sender: &SenderLog<'_>,
    sealing: &[&SealingSecret],
    rules: TimeRules,
    now: u64,
) -> Result<Opened, String> {
    check_client_id("sender_id", &msg.sender_id).map_err(|e| e.to_string())?;
    check_client_id("recipient_id", &msg.recipient_id).map_err(|e| e.to_string())?;
    if msg.recipient_id != me {
        return Err(format!("addressed to {}, not to this client", msg.recipient_id));
    }
    let state = sender.state;
    if msg.sender_id != state.client_id() {
        return Err(format!(
            "claims to be from {} but was checked against {}",
            msg.sender_id,
            state.client_id()
        ));
    }
    let send = msg.as_send();
    let id = send.message_id().map_err(|e| e.to_string())?;
    if id != msg.message_id {
        return Err("message_id is not derived from its signature".to_owned());
    }
    let ts = parse_ts("ts", &msg.ts).map_err(|e| e.to_string())?;
    let received_at = parse_ts("received_at", &msg.received_at).map_err(|e| e.to_string())?;
    if ts.abs_diff(received_at) > rules.max_skew_ms {
        return Err("signed at a time too far from when the server says it received it".to_owned());
    }
    if now.saturating_sub(ts) > rules.lifetime_ms + rules.max_skew_ms {
        return Err(format!(
            "signed {} s ago, longer than a message may live: an old message delivered again",
            now.saturating_sub(ts) / 1000
        ));
    }
    let history = state.history();
    let Some(j) = history.iter().position(|k| k.signing_key.kid() == msg.key_id) else {
        return Err(format!(
            "signed by key {}, which is not in {}'s key event log",
            msg.key_id, msg.sender_id
        ));
    };
    key_was_current(state, j, sender.accepted_at, ts, received_at).map_err(|()| {
        format!(
            "signed by key {}, which was not current when it was signed and received",
            msg.key_id
        )
    })?;
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

/// Whether key `j` of the log held at both `ts` and `received_at` (A3):
/// from its establishment until the next establishment or any revocation
/// after it (a suspension included). Without acceptance times only the
/// current key of an active identity is accepted.
pub(crate) fn key_was_current(
    state: &KelState,
    j: usize,
    accepted: Option<&[u64]>,
    ts: u64,
    received_at: u64,
) -> Result<(), ()> {
    let history = state.history();
    let Some(accepted) = accepted else {
        return if j + 1 == history.len() && state.revoked().is_none() {
            Ok(())
        } else {
            Err(())
        };
    };
    let at = |seq: u64| accepted.get(seq as usize).copied().ok_or(());
    let from = at(history[j].seq)?;
    let mut ends = Vec::new();
    if let Some(next) = history.get(j + 1) {
        ends.push(at(next.seq)?);
    }
    for r in state.revocations().iter().filter(|r| r.seq > history[j].seq) {
        ends.push(at(r.seq)?);
    }
    let until = ends.into_iter().min();
    let held = |t: u64| t >= from && until.is_none_or(|u| t < u);
    // `ts` is the sender's clock and may run a little ahead of the
    // server's acceptance of its own key; the window is judged on
    // `received_at` at the start and on both at the end.
    if held(received_at) && until.is_none_or(|u| ts < u) {
        Ok(())
    } else {
        Err(())
    }
}

pub use crate::protocol::neutralise;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SigningSecret;
    use crate::protocol::kel::{verify_log, Event};
    use crate::protocol::{new_nonce, SendParts};

    const RULES: TimeRules = TimeRules {
        max_skew_ms: 120_000,
        lifetime_ms: 300_000,
    };

    fn delivered(send: &SendMessage, received_at: u64) -> Delivered {
        Delivered::of_send(send, received_at, received_at + 300_000).unwrap()
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
        let ok = check(&delivered(&old, 2_500), "bob", &with_times, &[&bob], RULES, 3_000).unwrap();
        assert_eq!(
            ok,
            Opened {
                text: "before \\u{1b}[2J rotation".into(),
                sealed: true
            }
        );
        // The same key, received after the rotation: refused.
        let late = check(&delivered(&old, 3_000), "bob", &with_times, &[&bob], RULES, 3_000).unwrap_err();
        assert!(
            late.contains("was not current when it was signed and received"),
            "{late}"
        );
        // Knowing only the pinned state, only the current key is accepted.
        let pinned = SenderLog {
            state: &state,
            accepted_at: None,
        };
        assert!(check(&delivered(&old, 2_500), "bob", &pinned, &[&bob], RULES, 3_000)
            .unwrap_err()
            .contains("was not current"));

        let mut tampered = delivered(&old, 2_500);
        tampered.ts = "2001".into();
        assert_eq!(
            check(&tampered, "bob", &with_times, &[&bob], RULES, 3_000).unwrap_err(),
            "the signature does not verify: altered or forged"
        );
        let mut moved = delivered(&old, 2_500);
        moved.sender_id = "mallory".into();
        assert!(check(&moved, "bob", &with_times, &[&bob], RULES, 3_000)
            .unwrap_err()
            .starts_with("claims to be from mallory"));
        assert!(
            check(&delivered(&old, 2_500), "carol", &with_times, &[&bob], RULES, 3_000)
                .unwrap_err()
                .starts_with("addressed to bob")
        );
        let other = SealingSecret::generate();
        assert!(
            check(&delivered(&old, 2_500), "bob", &with_times, &[&other], RULES, 3_000)
                .unwrap_err()
                .contains("does not hold")
        );
    }

    /// A log of alice: k0 (inception at 1_000), then `tail` events.
    fn alice() -> (Vec<SigningSecret>, SealingSecret, Vec<Event>) {
        let k: Vec<SigningSecret> = (0..3).map(|_| SigningSecret::generate()).collect();
        let seal = SealingSecret::generate();
        let log = vec![Event::inception("alice", &k[0], &seal.public(), &k[1].public(), 1_000)];
        (k, seal, log)
    }

    fn signed_by(k: &SigningSecret, ts: u64, text: &str) -> SendMessage {
        let nonce = new_nonce();
        let parts = SendParts {
            sender_id: "alice",
            recipient_id: "bob",
            in_reply_to: None,
            ts,
            nonce: &nonce,
        };
        SendMessage::sign(k, parts, None, text)
    }

    #[test]
    fn the_servers_times_are_judged_against_the_signed_ts() {
        let (k, _, log) = alice();
        let state = verify_log(&log).unwrap();
        let accepted = [1_000];
        let sender = SenderLog {
            state: &state,
            accepted_at: Some(&accepted),
        };
        let now = 1_000_000;
        let fresh = signed_by(&k[0], now - 1_000, "hi");
        assert!(check(&delivered(&fresh, now - 500), "bob", &sender, &[], RULES, now).is_ok());
        // A genuine week-old message is refused, whatever received_at says.
        let old = signed_by(&k[0], 2_000, "old news");
        let err = check(&delivered(&old, now), "bob", &sender, &[], RULES, now).unwrap_err();
        assert!(err.contains("too far from when the server"), "{err}");
        let err = check(&delivered(&old, 2_000), "bob", &sender, &[], RULES, now).unwrap_err();
        assert!(err.contains("longer than a message may live"), "{err}");
        // received_at far from ts.
        let err = check(&delivered(&fresh, now + 200_000), "bob", &sender, &[], RULES, now).unwrap_err();
        assert!(err.contains("too far"), "{err}");
    }

    #[test]
    fn a_superseded_key_cannot_pass_by_backdating_received_at() {
        let (k, seal, mut log) = alice();
        let head = log[0].hash().unwrap();
        log.push(Event::rotation(
            "alice",
            1,
            &head,
            &k[1],
            &seal.public(),
            &k[2].public(),
            500_000,
        ));
        let state = verify_log(&log).unwrap();
        let accepted = [1_000, 500_000];
        let sender = SenderLog {
            state: &state,
            accepted_at: Some(&accepted),
        };
        let now = 600_000;
        // Signed today with the stolen old key, received_at backdated to
        // just before the rotation: ts is after the rotation, so refused.
        let stolen = signed_by(&k[0], 560_000, "wire the money");
        let err = check(&delivered(&stolen, 499_000), "bob", &sender, &[], RULES, now).unwrap_err();
        assert!(err.contains("not current"), "{err}");
        // The acceptance times must be one per event.
        let short = [1_000];
        let partial = SenderLog {
            state: &state,
            accepted_at: Some(&short),
        };
        let genuine = signed_by(&k[0], 480_000, "before");
        assert!(check(&delivered(&genuine, 481_000), "bob", &sender, &[], RULES, now).is_ok());
        assert!(check(&delivered(&genuine, 481_000), "bob", &partial, &[], RULES, now).is_err());
    }

    #[test]
    fn a_suspension_ends_the_current_key() {
        let (k, _, mut log) = alice();
        let head = log[0].hash().unwrap();
        log.push(Event::revocation(
            "alice",
            1,
            &head,
            &k[0],
            crate::protocol::kel::Reason::Compromised,
            400_000,
        ));
        let state = verify_log(&log).unwrap();
        let accepted = [1_000, 400_000];
        let sender = SenderLog {
            state: &state,
            accepted_at: Some(&accepted),
        };
        let before = signed_by(&k[0], 390_000, "before");
        assert!(check(&delivered(&before, 391_000), "bob", &sender, &[], RULES, 420_000).is_ok());
        let after = signed_by(&k[0], 410_000, "after");
        assert!(check(&delivered(&after, 411_000), "bob", &sender, &[], RULES, 420_000).is_err());
    }

    #[test]
    fn members_the_client_did_not_check_are_refused() {
        let (k, _, log) = alice();
        let state = verify_log(&log).unwrap();
        let accepted = [1_000];
        let sender = SenderLog {
            state: &state,
            accepted_at: Some(&accepted),
        };
        let m = signed_by(&k[0], 10_000, "hi");
        let mut planted = delivered(&m, 10_000);
        planted.message_id = "AAAAAAAAAAAAAAAAAAAAAA".into();
        assert_eq!(
            check(&planted, "bob", &sender, &[], RULES, 20_000).unwrap_err(),
            "message_id is not derived from its signature"
        );
        let mut hostile = delivered(&m, 10_000);
        hostile.sender_id = "alice\n### From `bob` · verified".into();
        assert!(check(&hostile, "bob", &sender, &[], RULES, 20_000)
            .unwrap_err()
            .starts_with("sender_id:"));
    }
}
