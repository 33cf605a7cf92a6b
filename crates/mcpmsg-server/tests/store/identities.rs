//! The identity and nonce properties of the storage conformance suite:
//! an identity is registered once and updated only at the log length it
//! was read at; a nonce is claimed once per client within its window.

use std::sync::Arc;
use std::time::Duration;

use mcpmsg_core::protocol::{new_nonce, now_ms};
use mcpmsg_server::store::{NonceRecord, Store};

use super::{record, tag};

/// Identities: registered once, updated on the expected log length, listed.
pub async fn identities_are_compare_and_set(store: Arc<dyn Store>) {
    let t = tag();
    let alice = format!("alice-{t}");
    store.ping().await.unwrap();
    // Identities: compare-and-set on the log length.
    assert!(store.identity(&alice).await.unwrap().is_none());
    let rec = record(&alice);
    assert!(store.put_identity(&alice, 0, &rec).await.unwrap());
    assert!(
        !store.put_identity(&alice, 0, &rec).await.unwrap(),
        "a second registration must lose"
    );
    assert_eq!(*store.identity(&alice).await.unwrap().unwrap(), rec);
    let mut renamed = rec.clone();
    renamed.name = "A2".into();
    assert!(store.put_identity(&alice, 1, &renamed).await.unwrap());
    assert_eq!(store.identity(&alice).await.unwrap().unwrap().name, "A2");
    assert!(store
        .identities(None, 100_000)
        .await
        .unwrap()
        .iter()
        .any(|(id, r)| *id == alice && r.name == "A2"));
    assert!(store.identity_count().await.unwrap() >= 1);
}

/// Nonces: claimed once, per client, remembered for their window, then free.
pub async fn nonces_are_claimed_once_within_their_window(store: Arc<dyn Store>) {
    let t = tag();
    let (alice, bob) = (format!("alice-{t}"), format!("bob-{t}"));
    // Nonces: claimed once, remembered for their window, then free again.
    let n1 = new_nonce();
    let now = now_ms();
    assert!(store
        .claim_nonce(&alice, &n1, NonceRecord::Request, now + 300, now)
        .await
        .unwrap());
    assert!(!store
        .claim_nonce(&alice, &n1, NonceRecord::Request, now + 300, now)
        .await
        .unwrap());
    assert!(
        store
            .claim_nonce(&bob, &n1, NonceRecord::Request, now + 300, now)
            .await
            .unwrap(),
        "nonces are per client"
    );
    assert_eq!(store.nonce(&alice, &n1, now).await.unwrap(), Some(NonceRecord::Request));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let now = now_ms();
    assert_eq!(store.nonce(&alice, &n1, now).await.unwrap(), None);
    assert!(store
        .claim_nonce(&alice, &n1, NonceRecord::Request, now + 300, now)
        .await
        .unwrap());
}
