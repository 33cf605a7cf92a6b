//! The recipient's memory of delivered messages (amendment A3): each
//! `(sender_id, nonce)` it accepted, kept for as long as a second delivery
//! of it could still pass the time checks, so a replayed or re-delivered
//! message is dropped rather than shown twice.
//!
//! Pure data: the CLI keeps it in a file beside the client configuration
//! and saves it after each read. Bounded twice: entries older than the
//! window are pruned (a message that old is refused by its `ts` anyway),
//! and at most `max` entries are kept, dropping the oldest first.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

/// Most entries kept by default: far more than arrive within the window at
/// any sane rate (the window is 9 minutes with PROTOCOL §9's defaults).
pub const DEFAULT_MAX_SEEN: usize = 100_000;

/// Accepted `(sender_id, nonce)` pairs with the signed `ts` of each.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<Entry>", into = "Vec<Entry>")]
pub struct SeenSet {
    by_key: HashMap<(String, String), u64>,
    by_age: BTreeSet<(u64, String, String)>,
}

/// One entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The sender.
    pub s: String,
    /// The request nonce.
    pub n: String,
    /// The signed `ts`, Unix ms.
    pub t: u64,
}

impl From<Vec<Entry>> for SeenSet {
    fn from(entries: Vec<Entry>) -> Self {
        let mut set = Self::default();
        for e in entries {
            set.insert_raw(e.s, e.n, e.t);
        }
        set
    }
}

impl From<SeenSet> for Vec<Entry> {
    fn from(set: SeenSet) -> Self {
        set.by_age.into_iter().map(|(t, s, n)| Entry { s, n, t }).collect()
    }
}

impl SeenSet {
    /// Whether `(sender, nonce)` was accepted before.
    pub fn contains(&self, sender: &str, nonce: &str) -> bool {
        self.by_key.contains_key(&(sender.to_owned(), nonce.to_owned()))
    }

    fn insert_raw(&mut self, sender: String, nonce: String, ts: u64) {
        if let Some(old) = self.by_key.insert((sender.clone(), nonce.clone()), ts) {
            self.by_age.remove(&(old, sender.clone(), nonce.clone()));
        }
        self.by_age.insert((ts, sender, nonce));
    }

    /// Records an accepted message; false if it was there already.
    pub fn insert(&mut self, sender: &str, nonce: &str, ts: u64) -> bool {
        if self.contains(sender, nonce) {
            return false;
        }
        self.insert_raw(sender.to_owned(), nonce.to_owned(), ts);
        true
    }

    /// Drops entries signed before `now - window_ms`, then the oldest
    /// beyond `max`. Returns how many were dropped for the cap alone.
    pub fn prune(&mut self, now: u64, window_ms: u64, max: usize) -> usize {
        let cutoff = now.saturating_sub(window_ms);
        let mut over_cap = 0;
        while let Some(first) = self.by_age.first().cloned() {
            let too_old = first.0 < cutoff;
            if !too_old && self.by_age.len() <= max {
                break;
            }
            over_cap += usize::from(!too_old);
            self.by_age.pop_first();
            self.by_key.remove(&(first.1, first.2));
        }
        over_cap
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_within_the_window_and_survives_a_round_trip() {
        let mut seen = SeenSet::default();
        assert!(seen.insert("alice", "n1", 1_000));
        assert!(!seen.insert("alice", "n1", 1_000), "a second delivery is a duplicate");
        assert!(seen.insert("bob", "n1", 2_000), "nonces are per sender");
        let json = serde_json::to_string(&seen).unwrap();
        let back: SeenSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back, seen);
        assert!(back.contains("alice", "n1"));
        // Past the window the entry goes: such a message fails its ts check.
        seen.prune(1_000 + 600, 500, 10);
        assert!(!seen.contains("alice", "n1"));
        assert!(seen.contains("bob", "n1"));
    }

    #[test]
    fn the_cap_drops_the_oldest() {
        let mut seen = SeenSet::default();
        for i in 0..5u64 {
            seen.insert("a", &i.to_string(), i);
        }
        assert_eq!(seen.prune(5, 1_000, 3), 2);
        assert_eq!(seen.len(), 3);
        assert!(!seen.contains("a", "0") && !seen.contains("a", "1"));
        assert!(seen.contains("a", "4"));
    }
}
