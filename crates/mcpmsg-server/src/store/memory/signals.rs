//! Typing signals in the memory store (PROTOCOL §15d): per recipient, the
//! newest signal of each (room, sender), apart from the queues, so they
//! never count against one. Held under their own lock: a signal touches
//! nothing a queue step does.

use std::collections::HashMap;

use crate::store::{SignalStep, StoredMessage};

/// How often, at most, every recipient's lapsed signals are dropped (a
/// recipient that never reads would otherwise keep its last ones).
const SWEEP_EVERY_MS: u64 = 1_000;

#[derive(Default)]
pub(super) struct Signals {
    /// Recipient -> (room, sender) -> the signal as it is handed out.
    by_recipient: HashMap<String, HashMap<(String, String), StoredMessage>>,
    swept_at: u64,
}

impl Signals {
    pub(super) fn put(&mut self, step: SignalStep<'_>) -> Vec<bool> {
        self.sweep(step.now);
        let slot = (step.room_id.to_owned(), step.signal.sender_id.clone());
        step.recipients
            .iter()
            .map(|r| {
                let held = self.by_recipient.entry((*r).to_owned()).or_default();
                held.retain(|_, s| s.expires_at > step.now);
                if held.len() >= step.max && !held.contains_key(&slot) {
                    return false;
                }
                let copy = StoredMessage {
                    recipient_id: (*r).to_owned(),
                    ..step.signal.clone()
                };
                held.insert(slot.clone(), copy);
                true
            })
            .collect()
    }

    /// Removes and returns `recipient`'s live signals, oldest first.
    pub(super) fn take(&mut self, recipient: &str, now: u64) -> Vec<StoredMessage> {
        let Some(held) = self.by_recipient.remove(recipient) else {
            return Vec::new();
        };
        let mut live: Vec<StoredMessage> = held.into_values().filter(|s| s.expires_at > now).collect();
        live.sort_by_key(|s| s.received_at);
        live
    }

    fn sweep(&mut self, now: u64) {
        if now < self.swept_at.saturating_add(SWEEP_EVERY_MS) {
            return;
        }
        self.swept_at = now;
        self.by_recipient.retain(|_, held| {
            held.retain(|_, s| s.expires_at > now);
            !held.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(sender: &str, at: u64) -> StoredMessage {
        StoredMessage {
            sender_id: sender.into(),
            received_at: at,
            expires_at: at + 10_000,
            ..StoredMessage::default()
        }
    }

    #[test]
    fn a_signal_replaces_its_senders_last_and_lapses() {
        let mut s = Signals::default();
        fn step(sig: &StoredMessage, now: u64) -> SignalStep<'_> {
            SignalStep {
                room_id: "room",
                signal: sig,
                recipients: &["bob"],
                max: 2,
                now,
            }
        }
        assert_eq!(s.put(step(&signal("alice", 0), 0)), vec![true]);
        assert_eq!(s.put(step(&signal("alice", 5), 5)), vec![true]);
        assert_eq!(s.put(step(&signal("carol", 6), 6)), vec![true]);
        // Full for a third sender, but the two it holds may still replace theirs.
        assert_eq!(s.put(step(&signal("dave", 7), 7)), vec![false]);
        assert_eq!(s.put(step(&signal("carol", 8), 8)), vec![true]);
        let got = s.take("bob", 9);
        assert_eq!(
            got.iter()
                .map(|m| (m.sender_id.as_str(), m.received_at))
                .collect::<Vec<_>>(),
            vec![("alice", 5), ("carol", 8)]
        );
        assert!(s.take("bob", 9).is_empty(), "reading removes them");
        s.put(step(&signal("alice", 10), 10));
        assert!(s.take("bob", 10_010).is_empty(), "a lapsed signal is not handed out");
        s.put(step(&signal("alice", 20_000), 20_000));
        s.sweep(40_000);
        assert!(
            s.by_recipient.is_empty(),
            "the sweep drops lapsed signals of a reader that never came"
        );
    }
}
