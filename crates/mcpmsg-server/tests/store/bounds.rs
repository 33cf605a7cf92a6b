//! The bounds of the storage conformance suite: a sender's share of a
//! queue and the store's bytes.

use mcpmsg_core::protocol::now_ms;
use std::time::Duration;

use mcpmsg_server::store::{QueueLimits, SendOutcome, SendStep, Store, StoredMessage, TakeMode};

use super::msg;

/// The per-sender share of a queue and the bound on the store's bytes:
/// refused without touching the nonce, and the share comes back on every
/// way a message leaves (taken, acked, replied to, expired).
pub async fn bounds(store: &dyn Store, t: &str) {
    let (eve, frank, gina) = (format!("eve-{t}"), format!("frank-{t}"), format!("gina-{t}"));
    let share = QueueLimits {
        max_queue: 10,
        max_per_sender: 2,
        max_bytes: u64::MAX,
    };
    let now = now_ms();
    let send = |m: StoredMessage, limits: QueueLimits| async move {
        let now = now_ms();
        store.send(SendStep::new(&m, now + 60_000, limits, now)).await.unwrap()
    };
    // Lifetimes are constant in use, so queues expire head first: the
    // short-lived message goes first.
    assert_eq!(send(msg(&eve, &gina, 40, "", 200), share).await, SendOutcome::Queued);
    assert_eq!(send(msg(&eve, &gina, 41, "", 60_000), share).await, SendOutcome::Queued);
    let third = msg(&eve, &gina, 42, "", 60_000);
    assert_eq!(send(third.clone(), share).await, SendOutcome::SenderShareFull);
    assert_eq!(
        store.nonce(&eve, &third.nonce, now).await.unwrap(),
        None,
        "the nonce stays free"
    );
    assert_eq!(
        send(msg(&frank, &gina, 43, "", 60_000), share).await,
        SendOutcome::Queued,
        "another sender still gets in"
    );
    // Expiry gives the share back...
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(send(msg(&eve, &gina, 44, "", 60_000), share).await, SendOutcome::Queued);
    assert_eq!(
        send(msg(&eve, &gina, 45, "", 60_000), share).await,
        SendOutcome::SenderShareFull
    );
    // ...and so do a removing take, a reply taken and an ack.
    let now = now_ms();
    let got = store.take(&gina, 1, TakeMode::Remove, now).await.unwrap();
    assert_eq!(got[0].sender_id, eve);
    assert_eq!(send(msg(&eve, &gina, 46, "", 60_000), share).await, SendOutcome::Queued);
    let reply = store.take_reply(&gina, &eve, "", now).await.unwrap().unwrap();
    assert_eq!(reply.sender_id, eve);
    assert_eq!(send(msg(&eve, &gina, 47, "", 60_000), share).await, SendOutcome::Queued);
    let leased = store
        .take(&gina, 10, TakeMode::LeaseUntil(now + 60_000), now)
        .await
        .unwrap();
    let eves: Vec<String> = leased
        .iter()
        .filter(|m| m.sender_id == eve)
        .map(|m| m.message_id.clone())
        .collect();
    assert_eq!(eves.len(), 2);
    store.ack(&gina, &eves[..1], now).await.unwrap();
    assert_eq!(send(msg(&eve, &gina, 48, "", 60_000), share).await, SendOutcome::Queued);

    // The store's bound on bytes (the memory store counts bodies; Redis
    // compares its used_memory): a tiny bound refuses, the nonce stays free.
    let tiny = QueueLimits {
        max_bytes: 8,
        ..QueueLimits::queue_only(10)
    };
    let big = msg(&frank, &eve, 49, "", 60_000);
    assert_eq!(send(big.clone(), tiny).await, SendOutcome::StoreFull);
    assert_eq!(store.nonce(&frank, &big.nonce, now_ms()).await.unwrap(), None);
    assert_eq!(send(big, QueueLimits::queue_only(10)).await, SendOutcome::Queued);
}
