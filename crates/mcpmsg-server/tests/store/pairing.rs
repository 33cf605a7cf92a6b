//! The pairing properties of the storage conformance suite (PROTOCOL §16):
//! one atomic step pairs or queues; nobody is paired with itself or
//! twice; expired and offline entries are dropped; interests decide who is
//! eligible until a waiting client's grace has passed.

use std::sync::Arc;

use mcpmsg_core::protocol::now_ms;
use mcpmsg_core::protocol::tools::EnterQueueArgs;
use mcpmsg_server::store::{PairEnter, PairOutcome, Store, Waiting};

use super::tag;

fn waiting(id: &str, interests: &[&str], entered_at: u64, until: u64) -> Waiting {
    Waiting {
        client_id: id.to_owned(),
        interests: interests.iter().map(|s| (*s).to_owned()).collect(),
        entered_at,
        until,
        blocked: Vec::new(),
        consent: EnterQueueArgs {
            client_id: id.to_owned(),
            display_name: format!("{id} ✓"),
            ..Default::default()
        },
    }
}

fn enter(entry: &Waiting, now: u64) -> PairEnter<'_> {
    PairEnter {
        entry,
        now,
        offline_before: 0,
        grace_before: 0,
        seed: 7,
        max_queue: 100,
        rematch: false,
    }
}

/// Each property drains what it queued, since the queue is shared by
/// every property on the store.
pub async fn pairing_is_one_atomic_step(store: Arc<dyn Store>) {
    let t = tag();
    let now = now_ms();
    let (a, b, c) = (format!("a{t}"), format!("b{t}"), format!("c{t}"));
    let wa = waiting(&a, &["rust"], now, now + 60_000);
    assert_eq!(store.pair_enter(enter(&wa, now)).await.unwrap(), PairOutcome::Waiting);
    // Entering again replaces the entry: never paired with itself.
    assert_eq!(store.pair_enter(enter(&wa, now)).await.unwrap(), PairOutcome::Waiting);
    // No shared interest and a's grace not over: b waits too.
    let wb = waiting(&b, &["go"], now, now + 60_000);
    assert_eq!(store.pair_enter(enter(&wb, now)).await.unwrap(), PairOutcome::Waiting);
    // c shares b's interest: paired with b, exactly as b entered.
    let wc = waiting(&c, &["go", "sql"], now, now + 60_000);
    assert_eq!(
        store.pair_enter(enter(&wc, now)).await.unwrap(),
        PairOutcome::Paired(Box::new(wb.clone()))
    );
    assert!(!store.pair_leave(&b).await.unwrap(), "b left the queue when paired");
    // After a's grace, anyone is paired with it.
    let late = PairEnter {
        grace_before: now + 1,
        ..enter(&wc, now)
    };
    assert_eq!(
        store.pair_enter(late).await.unwrap(),
        PairOutcome::Paired(Box::new(wa.clone()))
    );
    assert!(!store.pair_leave(&a).await.unwrap());
}

pub async fn expired_and_offline_entries_are_dropped(store: Arc<dyn Store>) {
    let t = tag();
    let now = now_ms();
    let (a, b, c) = (format!("a{t}"), format!("b{t}"), format!("c{t}"));
    let wa = waiting(&a, &[], now - 10_000, now + 1_000);
    assert_eq!(
        store.pair_enter(enter(&wa, now - 10_000)).await.unwrap(),
        PairOutcome::Waiting
    );
    // Later than a's wait: a is gone.
    let wb = waiting(&b, &[], now, now + 60_000);
    assert_eq!(
        store.pair_enter(enter(&wb, now + 2_000)).await.unwrap(),
        PairOutcome::Waiting
    );
    assert!(!store.pair_leave(&a).await.unwrap(), "the expired entry was dropped");
    // b was last seen long ago: offline, dropped.
    store.touch(&b, now - 600_000).await.unwrap();
    let wc = waiting(&c, &[], now, now + 60_000);
    let step = PairEnter {
        offline_before: now - 300_000,
        ..enter(&wc, now)
    };
    assert_eq!(store.pair_enter(step).await.unwrap(), PairOutcome::Waiting);
    assert!(!store.pair_leave(&b).await.unwrap(), "the offline entry was dropped");
    assert!(store.pair_leave(&c).await.unwrap());
}

/// A rematch (the broker's second look for a client waiting past its
/// grace) pairs only the very entry still waiting, keeps an unpaired one
/// in its place, and answers `Gone` for an entry that left or was replaced.
pub async fn a_rematch_pairs_only_the_entry_still_waiting(store: Arc<dyn Store>) {
    let t = tag();
    let now = now_ms();
    let ours = |ws: Vec<Waiting>| -> Vec<String> {
        ws.into_iter()
            .map(|w| w.client_id)
            .filter(|id| id.ends_with(&t))
            .collect()
    };
    let (x, y) = (format!("x{t}"), format!("y{t}"));
    let mut wx = waiting(&x, &["rust"], now - 9_000, now + 60_000);
    wx.blocked = vec![y.clone()];
    let wy = waiting(&y, &["go"], now - 8_000, now + 60_000);
    assert_eq!(
        store.pair_enter(enter(&wx, now - 9_000)).await.unwrap(),
        PairOutcome::Waiting
    );
    assert_eq!(
        store.pair_enter(enter(&wy, now - 8_000)).await.unwrap(),
        PairOutcome::Waiting
    );
    let again = |w| PairEnter {
        grace_before: now - 1_000,
        rematch: true,
        ..enter(w, now)
    };
    // x blocks y: nobody for x, and x keeps its place before y.
    assert_eq!(store.pair_enter(again(&wx)).await.unwrap(), PairOutcome::Waiting);
    let listed = store.pair_waiting(now - 1_000, now, 100_000).await.unwrap();
    assert_eq!(ours(listed), vec![x.clone(), y.clone()]);
    // A replaced entry (another request) is not the one waiting.
    let mut stale = wy.clone();
    stale.consent.nonce = "another".into();
    assert_eq!(store.pair_enter(again(&stale)).await.unwrap(), PairOutcome::Gone);
    assert!(store.pair_leave(&x).await.unwrap() && store.pair_leave(&y).await.unwrap());
    assert_eq!(store.pair_enter(again(&wx)).await.unwrap(), PairOutcome::Gone, "x left");

    // a and b share no interest and entered within each other's grace: both
    // wait; once a's grace is over, a rematch pairs them.
    let (a, b) = (format!("a{t}"), format!("b{t}"));
    let wa = waiting(&a, &["rust"], now - 5_000, now + 60_000);
    let wb = waiting(&b, &["go"], now - 4_500, now + 60_000);
    assert_eq!(
        store.pair_enter(enter(&wa, now - 5_000)).await.unwrap(),
        PairOutcome::Waiting
    );
    assert_eq!(
        store.pair_enter(enter(&wb, now - 4_500)).await.unwrap(),
        PairOutcome::Waiting
    );
    let listed = store.pair_waiting(now - 4_800, now, 100_000).await.unwrap();
    assert_eq!(ours(listed), vec![a.clone()], "only those that entered before");
    assert_eq!(
        store.pair_enter(again(&wa)).await.unwrap(),
        PairOutcome::Paired(Box::new(wb.clone()))
    );
    assert!(!store.pair_leave(&a).await.unwrap() && !store.pair_leave(&b).await.unwrap());
}

/// A block list is checked in the send's own step: a blocked sender's
/// message is refused, nothing queued, its nonce left free.
pub async fn block_lists_refuse_sends_in_the_send_step(store: Arc<dyn Store>) {
    use mcpmsg_server::store::SendOutcome;
    let t = tag();
    let now = now_ms();
    let (a, b) = (format!("a{t}"), format!("b{t}"));
    assert_eq!(store.set_block(&a, &b, true, 2).await.unwrap(), Some(vec![b.clone()]));
    assert_eq!(
        store.set_block(&a, "x", true, 2).await.unwrap().map(|l| l.len()),
        Some(2)
    );
    assert_eq!(store.set_block(&a, "y", true, 2).await.unwrap(), None, "full");
    let m = super::msg(&b, &a, 8000, "", 60_000);
    assert_eq!(super::queue(store.as_ref(), &m, 10, now).await, SendOutcome::Blocked);
    assert_eq!(store.queue_len(&a, now).await.unwrap(), 0);
    assert_eq!(
        store.set_block(&a, &b, false, 2).await.unwrap(),
        Some(vec!["x".to_owned()])
    );
    assert_eq!(store.blocks(&a).await.unwrap(), vec!["x".to_owned()]);
    assert_eq!(
        super::queue(store.as_ref(), &m, 10, now).await,
        SendOutcome::Queued,
        "the nonce stayed free"
    );
}

/// The live pen-pal rooms the presence sweep looks at.
pub async fn pair_rooms_are_marked_and_unmarked(store: Arc<dyn Store>) {
    let room = format!("pr{}", tag());
    store.mark_pair_room(&room, true).await.unwrap();
    assert!(store.pair_rooms(100_000).await.unwrap().contains(&room));
    store.mark_pair_room(&room, false).await.unwrap();
    assert!(!store.pair_rooms(100_000).await.unwrap().contains(&room));
}
