//! The pen-pal queue (PROTOCOL §16) as the stores keep it: who waits, with
//! which interests, until when, and the signed request that put them there.
//!
//! One step pairs or queues, atomically on every store, so two clients
//! entering through different nodes are paired once, never twice, and
//! never with themselves. Both stores choose the same way: among the
//! oldest [`PAIR_SCAN`] live entries (an expired one, or one whose client
//! is offline, is dropped on the way), those the entrant may be paired
//! with ([`eligible`]), the ones sharing the most interests with it, and of
//! them the one `seed` picks.

use serde::{Deserialize, Serialize};

use mcpmsg_core::protocol::tools::EnterQueueArgs;

/// How many waiting entries one entrant is compared with.
pub const PAIR_SCAN: usize = 64;

/// A client in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    /// Who waits.
    pub client_id: String,
    /// Its interests, parsed.
    pub interests: Vec<String>,
    /// When it entered, Unix ms.
    pub entered_at: u64,
    /// Until when it waits, Unix ms.
    pub until: u64,
    /// Whom it blocks (PROTOCOL §17), as its block list was when it
    /// entered: never paired with them, nor with anyone blocking it.
    #[serde(default)]
    pub blocked: Vec<String>,
    /// The `enter_queue` request, as signed: its consent to be paired.
    pub consent: EnterQueueArgs,
}

/// One entrant: paired with a waiting client, or queued.
#[derive(Debug, Clone, Copy)]
pub struct PairEnter<'a> {
    /// The entrant (an entry of its own already waiting is replaced).
    pub entry: &'a Waiting,
    /// Server time, Unix ms.
    pub now: u64,
    /// A waiting client last seen before this (Unix ms) is offline, and
    /// dropped.
    pub offline_before: u64,
    /// A waiting client that entered before this (Unix ms) is paired with
    /// anyone, shared interests or not.
    pub grace_before: u64,
    /// Picks among equally good partners.
    pub seed: u32,
    /// Most entries in the queue.
    pub max_queue: usize,
    /// A second look for an entrant already waiting (the broker's rematch,
    /// once its grace is over): done only if `entry` is still the one
    /// waiting ([`PairOutcome::Gone`] otherwise, or when its client went
    /// offline, which drops it); unpaired, it keeps its place.
    pub rematch: bool,
}

/// The result of [`super::Store::pair_enter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairOutcome {
    /// Paired with this client, now out of the queue.
    Paired(Box<Waiting>),
    /// Queued, nobody suitable was waiting.
    Waiting,
    /// Nobody suitable was waiting and the queue is full.
    QueueFull,
    /// A rematch whose entrant no longer waits with that entry.
    Gone,
}

/// How many interests two entries share.
pub fn overlap(a: &[String], b: &[String]) -> usize {
    a.iter().filter(|t| b.contains(t)).count()
}

/// Whether entrant `me` may be paired with `w` now: neither blocks the
/// other, and they share an interest, or either has none, or either has
/// waited its grace (so interests are a preference, never a wall).
pub fn eligible(me: &Waiting, w: &Waiting, grace_before: u64) -> bool {
    let blocked = me.blocked.contains(&w.client_id) || w.blocked.contains(&me.client_id);
    let (mine, theirs) = (&me.interests, &w.interests);
    let waited = me.entered_at < grace_before || w.entered_at < grace_before;
    !blocked && (mine.is_empty() || theirs.is_empty() || waited || overlap(mine, theirs) > 0)
}
