//! Typing signals (PROTOCOL §15d): a member says "typing" or "stopped" in a
//! room, and each other member's inbox gets it in place of that member's
//! previous one, pushed at once, lapsing after `--signal-ttl`, and never
//! counted against a queue (`--max-signals` bounds what one client holds).
//!
//! A signal is kept as a queued message would be (so both stores encode it
//! the same way) under its own content type, with a body naming room and
//! signal; the rendering turns it back into `"kind": "signal"`.

use serde::{Deserialize, Serialize};

use mcpmsg_core::protocol::tools::{SendSignalArgs, SignalDelivered, SignalKind, SIGNALS};
use mcpmsg_core::protocol::{check_client_id, check_message_id, decode_sig, message_id, now_ms, ErrorCode};

use super::auth::Against;
use super::{ms, Broker, Refusal};
use crate::store::{SignalStep, StoredMessage};

/// The content type a signal is kept under.
pub const SIGNAL_CONTENT_TYPE: &str = "application/mcpmsg-signal";

/// What a kept signal's body holds: the signed members a message lacks.
#[derive(Serialize, Deserialize)]
struct Body {
    room_id: String,
    signal: String,
}

/// The signal a handed-out item is, if it is one.
pub fn signal_of(m: &StoredMessage) -> Option<SignalDelivered> {
    if m.content_type != SIGNAL_CONTENT_TYPE || m.sender_id.is_empty() {
        return None;
    }
    let b: Body = serde_json::from_str(&m.message).ok()?;
    Some(SignalDelivered {
        kind: SignalKind::Signal,
        recipient_id: m.recipient_id.clone(),
        sender_id: m.sender_id.clone(),
        room_id: b.room_id,
        signal: b.signal,
        key_id: m.key_id.clone(),
        ts: m.ts.clone(),
        nonce: m.nonce.clone(),
        sig: m.sig.clone(),
        received_at: m.received_at.to_string(),
        expires_at: m.expires_at.to_string(),
    })
}

/// The result of `send_signal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalLeft {
    /// Members it was left for.
    pub delivered: Vec<String>,
    /// Members holding `--max-signals` of others already.
    pub skipped: Vec<String>,
    /// When it lapses.
    pub expires_at: u64,
}

impl Broker {
    /// `send_signal`: checks, authenticates, and leaves the signal for
    /// every other member of the room.
    pub async fn send_signal(&self, args: SendSignalArgs) -> Result<SignalLeft, Refusal> {
        check_client_id("sender_id", &args.sender_id)?;
        check_message_id("room_id", &args.room_id)?;
        if !SIGNALS.contains(&args.signal.as_str()) {
            return Err(Refusal::invalid("signal: \"typing\" or \"stopped\""));
        }
        let sig = decode_sig("sig", &args.sig)?;
        let now = self.accept_request(&args, Against::Stored, now_ms()).await?;
        // Read fresh, not from this node's copy: nothing in the step that
        // leaves the signal checks that copy is current (a room send's does),
        // and a signal must not reach a member who left or miss one who
        // joined. Signals are few (rate-limited, one per keystroke burst).
        let state = self.room_state(&args.room_id, true).await?;
        if !state.is_member(&args.sender_id) {
            return Err(Refusal::new(
                ErrorCode::NotMember,
                format!("{} is not a member of room {}", args.sender_id, args.room_id),
            ));
        }
        let recipients: Vec<&str> = state
            .members()
            .iter()
            .map(String::as_str)
            .filter(|c| *c != args.sender_id)
            .collect();
        let signal = StoredMessage {
            message_id: message_id(&sig),
            sender_id: args.sender_id.clone(),
            recipient_id: String::new(),
            content_type: SIGNAL_CONTENT_TYPE.to_owned(),
            in_reply_to: String::new(),
            message: serde_json::to_string(&Body {
                room_id: args.room_id.clone(),
                signal: args.signal.clone(),
            })
            .expect("a signal body serialises"),
            key_id: args.key_id.clone(),
            ts: args.ts.clone(),
            nonce: args.nonce.clone(),
            sig: args.sig.clone(),
            received_at: now,
            expires_at: now.saturating_add(ms(self.config.signal_ttl)),
        };
        let step = SignalStep {
            room_id: &args.room_id,
            signal: &signal,
            recipients: &recipients,
            max: self.config.max_signals,
            now,
        };
        let left = self.store.put_signal(step).await?;
        let (mut delivered, mut skipped) = (Vec::new(), Vec::new());
        for (member, ok) in recipients.iter().zip(left) {
            if ok {
                self.waiters.notify(member);
                delivered.push((*member).to_owned());
            } else {
                skipped.push((*member).to_owned());
            }
        }
        Ok(SignalLeft {
            delivered,
            skipped,
            expires_at: signal.expires_at,
        })
    }
}
