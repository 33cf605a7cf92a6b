//! The pen-pal queue in the memory store, oldest first (see
//! `store::pairing` for the rule both stores follow).

use std::collections::{HashMap, VecDeque};

use crate::store::{eligible, overlap, PairEnter, PairOutcome, Waiting, PAIR_SCAN};

#[derive(Default)]
pub(super) struct PairQueue {
    waiting: VecDeque<Waiting>,
}

impl PairQueue {
    pub(super) fn enter(&mut self, step: PairEnter<'_>, last_seen: &HashMap<Box<str>, u64>) -> PairOutcome {
        let me = step.entry;
        self.waiting.retain(|w| w.client_id != me.client_id);
        let (mut best, mut best_score): (Vec<usize>, Option<usize>) = (Vec::new(), None);
        let (mut i, mut scanned) = (0, 0);
        while i < self.waiting.len() && scanned < PAIR_SCAN {
            let w = &self.waiting[i];
            let offline = last_seen
                .get(w.client_id.as_str())
                .is_some_and(|seen| *seen < step.offline_before);
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
        if self.waiting.len() >= step.max_queue {
            return PairOutcome::QueueFull;
        }
        self.waiting.push_back(me.clone());
        PairOutcome::Waiting
    }

    pub(super) fn leave(&mut self, client_id: &str) -> bool {
        let before = self.waiting.len();
        self.waiting.retain(|w| w.client_id != client_id);
        self.waiting.len() != before
    }
}
