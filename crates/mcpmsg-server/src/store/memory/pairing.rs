//! The pen-pal queue in the memory store, oldest first (see
//! `store::pairing` for the rule both stores follow).

use std::collections::{BTreeSet, HashMap, VecDeque};

use crate::store::{eligible, overlap, PairEnter, PairOutcome, Waiting, PAIR_SCAN};

#[derive(Default)]
pub(super) struct PairQueue {
    waiting: VecDeque<Waiting>,
}

impl PairQueue {
    pub(super) fn enter(&mut self, step: PairEnter<'_>, last_seen: &HashMap<Box<str>, u64>) -> PairOutcome {
        let me = step.entry;
        let offline_at = |id: &str| last_seen.get(id).is_some_and(|seen| *seen < step.offline_before);
        if step.rematch {
            let still = self
                .waiting
                .iter()
                .any(|w| w.client_id == me.client_id && w.consent.nonce == me.consent.nonce);
            if !still || offline_at(&me.client_id) {
                if still {
                    self.waiting.retain(|w| w.client_id != me.client_id);
                }
                return PairOutcome::Gone;
            }
        }
        self.waiting.retain(|w| w.client_id != me.client_id);
        let (mut best, mut best_score): (Vec<usize>, Option<usize>) = (Vec::new(), None);
        let (mut i, mut scanned) = (0, 0);
        while i < self.waiting.len() && scanned < PAIR_SCAN {
            let w = &self.waiting[i];
            let offline = offline_at(&w.client_id);
            if w.until <= step.now || offline {
                self.waiting.remove(i);
                continue;
            }
            let score = overlap(&me.interests, &w.interests);
            match best_score {
                _ if !eligible(me, w, step.grace_before) => {}
                Some(b) if score < b => {}
                Some(b) if score == b => best.push(i),
                _ => (best, best_score) = (vec![i], Some(score)),
            }
            scanned += 1;
            i += 1;
        }
        if !best.is_empty() {
            let pick = best[step.seed as usize % best.len()];
            let partner = self.waiting.remove(pick).expect("an index scanned");
            return PairOutcome::Paired(Box::new(partner));
        }
        if step.rematch {
            // Back in its place: the queue is in order of entry.
            let at = self.waiting.partition_point(|w| w.entered_at <= me.entered_at);
            self.waiting.insert(at, me.clone());
            return PairOutcome::Waiting;
        }
        if self.waiting.len() >= step.max_queue {
            return PairOutcome::QueueFull;
        }
        self.waiting.push_back(me.clone());
        PairOutcome::Waiting
    }

    /// Up to `limit` live entries that entered before `before`, oldest first.
    pub(super) fn waiting_since(&self, before: u64, now: u64, limit: usize) -> Vec<Waiting> {
        self.waiting
            .iter()
            .filter(|w| w.entered_at < before && w.until > now)
            .take(limit)
            .cloned()
            .collect()
    }

    pub(super) fn leave(&mut self, client_id: &str) -> bool {
        let before = self.waiting.len();
        self.waiting.retain(|w| w.client_id != client_id);
        self.waiting.len() != before
    }
}

/// Each client's block list (PROTOCOL §17), bounded by the broker's limit.
#[derive(Default)]
pub(super) struct Blocks(HashMap<String, BTreeSet<String>>);

impl Blocks {
    /// Adds or removes `other`; the list after, or `None` when adding would
    /// pass `max`.
    pub(super) fn set(&mut self, client_id: &str, other: &str, block: bool, max: usize) -> Option<Vec<String>> {
        let list = self.0.entry(client_id.to_owned()).or_default();
        if block && !list.contains(other) && list.len() >= max {
            return None;
        }
        if block {
            list.insert(other.to_owned());
        } else {
            list.remove(other);
        }
        let out = list.iter().cloned().collect();
        if list.is_empty() {
            self.0.remove(client_id);
        }
        Some(out)
    }

    pub(super) fn of(&self, client_id: &str) -> Vec<String> {
        self.0
            .get(client_id)
            .map(|b| b.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether `client_id` blocks `sender`.
    pub(super) fn blocks(&self, client_id: &str, sender: &str) -> bool {
        self.0.get(client_id).is_some_and(|b| b.contains(sender))
    }
}
