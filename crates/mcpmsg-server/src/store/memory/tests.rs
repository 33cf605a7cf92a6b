//! The memory store's own properties: expiry hints, sweeping, nonce windows.

use super::*;
use crate::store::QueueLimits;

fn msg(to: &str, i: u64, expires_at: u64) -> StoredMessage {
    StoredMessage {
        message_id: format!("m{i}"),
        sender_id: "alice".into(),
        recipient_id: to.into(),
        content_type: String::new(),
        in_reply_to: String::new(),
        message: "x".into(),
        key_id: "k".into(),
        ts: "1".into(),
        nonce: format!("n{i}"),
        sig: "s".into(),
        received_at: 0,
        expires_at,
    }
}

#[tokio::test]
async fn messages_expire_head_first_with_one_hint_per_queue() {
    let store = MemoryStore::new();
    for i in 0..100 {
        assert_eq!(
            store
                .send(SendStep::new(
                    &msg("bob", i, 1000 + i * 10),
                    10_000,
                    QueueLimits::queue_only(1000),
                    0
                ))
                .await
                .unwrap(),
            SendOutcome::Queued
        );
    }
    assert_eq!(
        store.lock().message_expiry.len(),
        1,
        "one hint for the queue, not one per message"
    );
    assert_eq!(store.queue_len("bob", 1000 + 495).await.unwrap(), 50);
    assert_eq!(store.lock().message_expiry.len(), 1, "re-armed at the new head");
    assert_eq!(store.queue_len("bob", 5000).await.unwrap(), 0);
    let inner = store.lock_swept(5000);
    assert!(inner.queues.is_empty() && inner.armed.is_empty() && inner.message_expiry.is_empty());
}

#[tokio::test]
async fn emptied_and_recreated_queues_leave_no_live_stale_hints() {
    let store = MemoryStore::new();
    for round in 0..50 {
        store
            .send(SendStep::new(
                &msg("bob", round, 1000 + round),
                10_000,
                QueueLimits::queue_only(10),
                0,
            ))
            .await
            .unwrap();
        let got = store.take("bob", 10, TakeMode::Remove, 0).await.unwrap();
        assert_eq!(got.len(), 1);
    }
    // Each re-creation armed a hint; all of them are stale now and are
    // dropped when due without re-arming anything.
    store
        .send(SendStep::new(
            &msg("bob", 99, 9000),
            10_000,
            QueueLimits::queue_only(10),
            0,
        ))
        .await
        .unwrap();
    assert_eq!(store.queue_len("bob", 2000).await.unwrap(), 1);
    assert_eq!(store.lock_swept(2000).message_expiry.len(), 1);
}

#[tokio::test]
async fn nonces_are_remembered_until_their_window_ends() {
    let store = MemoryStore::new();
    assert!(store
        .claim_nonce("alice", "n1", NonceRecord::Request, 100, 0)
        .await
        .unwrap());
    assert!(!store
        .claim_nonce("alice", "n1", NonceRecord::Request, 100, 50)
        .await
        .unwrap());
    assert!(
        store
            .claim_nonce("bob", "n1", NonceRecord::Request, 100, 50)
            .await
            .unwrap(),
        "per client"
    );
    assert_eq!(
        store.nonce("alice", "n1", 99).await.unwrap(),
        Some(NonceRecord::Request)
    );
    assert_eq!(store.nonce("alice", "n1", 100).await.unwrap(), None);
    assert!(store.lock_swept(100).nonces.is_empty());
}
