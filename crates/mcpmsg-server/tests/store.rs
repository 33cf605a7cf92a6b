//! One storage conformance suite, run against both backends: the memory
//! store and a real redis-server.

use mcpmsg_testkit as common;

use std::sync::Arc;
use std::time::Duration;

use common::redis::{RedisCluster, RedisServer};
use mcpmsg_core::crypto::b64;
use mcpmsg_core::crypto::{SealingSecret, SigningSecret};
use mcpmsg_core::protocol::kel::Event;
use mcpmsg_core::protocol::{new_nonce, now_ms};
use mcpmsg_server::store::{
    IdentityRecord, MemoryStore, NonceRecord, QueueLimits, RedisStore, RedisTls, SendOutcome, SendStep, Store,
    StoredMessage, TakeMode,
};
use sha2::{Digest, Sha256};

#[path = "store/bounds.rs"]
mod bounds;
#[path = "store/identities.rs"]
mod identities;
#[path = "store/pairing.rs"]
mod pairing;
#[path = "store/protocols.rs"]
mod protocols;
#[path = "store/rooms.rs"]
mod rooms;

/// A fresh suffix for ids, so properties sharing a store never meet.
fn tag() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{:x}-{n}", (now_ms() % 1_000_000_007) ^ u64::from(std::process::id()))
}

/// Members in their protocol forms, as the broker hands them to a store;
/// the same `n` gives the same message id.
fn msg(from: &str, to: &str, n: usize, in_reply_to: &str, ttl_ms: u64) -> StoredMessage {
    let now = now_ms();
    StoredMessage {
        message_id: id_of(n),
        sender_id: from.into(),
        recipient_id: to.into(),
        content_type: "text/markdown".into(),
        in_reply_to: in_reply_to.into(),
        message: format!("message {n} ✓\nsecond line"),
        key_id: "0123456789abcdef".repeat(2),
        ts: now.to_string(),
        nonce: new_nonce(),
        sig: b64::encode(&[n as u8; 64]),
        received_at: now,
        expires_at: now + ttl_ms,
    }
}

/// Queues `m` where its recipient's queue holds at most `room`, its nonce
/// claimed for a minute from `now`.
async fn queue(store: &dyn Store, m: &StoredMessage, room: usize, now: u64) -> SendOutcome {
    let limits = QueueLimits::queue_only(room);
    store.send(SendStep::new(m, now + 60_000, limits, now)).await.unwrap()
}

fn id_of(n: usize) -> String {
    b64::encode(&Sha256::digest(n.to_be_bytes())[..16])
}

fn ids(v: &[StoredMessage]) -> Vec<String> {
    v.iter().map(|m| m.message_id.clone()).collect()
}

/// A one-event identity record of `client_id`, as a registration stores it.
fn record(client_id: &str) -> IdentityRecord {
    let event = Event::inception(
        client_id,
        &SigningSecret::generate(),
        &SealingSecret::generate().public(),
        &SigningSecret::generate().public(),
        now_ms(),
    );
    IdentityRecord {
        events: vec![event],
        accepted_at: vec![1],
        name: "A".into(),
        capabilities: "c".into(),
        last_checkin: 1,
    }
}

/// Every property, each on its own ids of `store`; all run, and every
/// failure is reported by name (the first does not hide the rest).
async fn conformance(store: Arc<dyn Store>) {
    type Property = fn(Arc<dyn Store>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
    let properties: [(&str, Property); 21] = [
        ("identities_are_compare_and_set", |s| {
            Box::pin(identities::identities_are_compare_and_set(s))
        }),
        ("nonces_are_claimed_once_within_their_window", |s| {
            Box::pin(identities::nonces_are_claimed_once_within_their_window(s))
        }),
        ("sends_leases_and_acks", |s| Box::pin(sends_leases_and_acks(s))),
        ("replies_are_preferred", |s| Box::pin(replies_are_preferred(s))),
        ("expired_messages_are_never_handed_out", |s| {
            Box::pin(expired_messages_are_never_handed_out(s))
        }),
        ("sends_can_be_conditional_on_the_log_head", |s| {
            Box::pin(sends_can_be_conditional_on_the_log_head(s))
        }),
        ("per_sender_share_and_total_bytes", |s| {
            Box::pin(per_sender_share_and_total_bytes(s))
        }),
        ("last_seen_is_kept_and_never_goes_back", |s| {
            Box::pin(last_seen_is_kept_and_never_goes_back(s))
        }),
        ("events_queue_like_messages", |s| {
            Box::pin(events_queue_like_messages(s))
        }),
        ("room_logs_append_only_at_their_length", |s| {
            Box::pin(rooms::room_logs_append_only_at_their_length(s))
        }),
        ("room_messages_fan_out_once_with_their_nonce", |s| {
            Box::pin(rooms::room_messages_fan_out_once_with_their_nonce(s))
        }),
        ("broadcasts_fan_out_honouring_blocks", |s| {
            Box::pin(rooms::broadcasts_fan_out_honouring_blocks(s))
        }),
        ("signals_replace_lapse_and_never_count", |s| {
            Box::pin(rooms::signals_replace_lapse_and_never_count(s))
        }),
        ("pairing_is_one_atomic_step", |s| {
            Box::pin(pairing::pairing_is_one_atomic_step(s))
        }),
        ("expired_and_offline_entries_are_dropped", |s| {
            Box::pin(pairing::expired_and_offline_entries_are_dropped(s))
        }),
        ("a_rematch_pairs_only_the_entry_still_waiting", |s| {
            Box::pin(pairing::a_rematch_pairs_only_the_entry_still_waiting(s))
        }),
        ("block_lists_refuse_sends_in_the_send_step", |s| {
            Box::pin(pairing::block_lists_refuse_sends_in_the_send_step(s))
        }),
        ("protocol_names_are_owned_and_versions_immutable", |s| {
            Box::pin(protocols::protocol_names_are_owned_and_versions_immutable(s))
        }),
        ("adapters_are_owned_and_registered_once", |s| {
            Box::pin(protocols::adapters_are_owned_and_registered_once(s))
        }),
        ("declarations_replace_the_last", |s| {
            Box::pin(protocols::declarations_replace_the_last(s))
        }),
        ("pair_rooms_are_marked_and_unmarked", |s| {
            Box::pin(pairing::pair_rooms_are_marked_and_unmarked(s))
        }),
    ];
    let mut failed = Vec::new();
    for (name, property) in properties {
        // Each property in a task of its own: a panic fails that property only.
        match tokio::spawn(property(store.clone())).await {
            Ok(()) => eprintln!("ok {name}"),
            Err(e) => {
                eprintln!("FAILED {name}: {e}");
                failed.push(name);
            }
        }
    }
    assert!(failed.is_empty(), "properties failed: {failed:?}");
}

/// A server event (PROTOCOL §14) is an item with the empty sender: it
/// round-trips exactly, is leased and acknowledged, and counts against the
/// queue like a message.
async fn events_queue_like_messages(store: Arc<dyn Store>) {
    let bob = format!("bob{}", tag());
    let now = now_ms();
    let mut event = msg("", &bob, 900, "", 60_000);
    event.content_type = mcpmsg_server::broker::EVENT_CONTENT_TYPE.into();
    event.message = r#"{"kind":"event","event":"test.ping","data":{"a":"b"}}"#.into();
    let limits = QueueLimits::queue_only(1);
    let queued = store
        .send(SendStep::new(&event, now + 60_000, limits, now))
        .await
        .unwrap();
    assert_eq!(queued, SendOutcome::Queued);
    // The queue holds one item: a message is refused now.
    let m = msg("alice", &bob, 901, "", 60_000);
    let full = store.send(SendStep::new(&m, now + 60_000, limits, now)).await.unwrap();
    assert_eq!(full, SendOutcome::QueueFull);
    let got = store
        .take(&bob, 10, TakeMode::LeaseUntil(now + 30_000), now)
        .await
        .unwrap();
    assert_eq!(got, vec![event.clone()]);
    let (acked, unknown) = store.ack(&bob, &[event.message_id.clone()], now).await.unwrap();
    assert_eq!((acked.len(), unknown.len()), (1, 0));
    assert_eq!(store.queue_len(&bob, now).await.unwrap(), 0);
}

async fn last_seen_is_kept_and_never_goes_back(store: Arc<dyn Store>) {
    let (a, b, never) = (format!("a{}", tag()), format!("b{}", tag()), format!("n{}", tag()));
    assert_eq!(store.last_seen(&[]).await.unwrap(), Vec::<Option<u64>>::new());
    store.touch(&a, 1_000).await.unwrap();
    store.touch(&b, 2_000).await.unwrap();
    // Nodes write in any order: an older time never replaces a newer one.
    store.touch(&a, 500).await.unwrap();
    assert_eq!(
        store.last_seen(&[&a, &never, &b]).await.unwrap(),
        [Some(1_000), None, Some(2_000)]
    );
    store.touch(&a, 3_000).await.unwrap();
    assert_eq!(store.last_seen(&[&a]).await.unwrap(), [Some(3_000)]);
}

async fn per_sender_share_and_total_bytes(store: Arc<dyn Store>) {
    bounds::bounds(store.as_ref(), &tag()).await;
}

/// Sends are idempotent and bounded; leases hide and return; acks remove only leased messages; every content type comes back as stored.
async fn sends_leases_and_acks(store: Arc<dyn Store>) {
    let t = tag();
    let (alice, bob, carol) = (format!("alice-{t}"), format!("bob-{t}"), format!("carol-{t}"));
    // Sends: queued, idempotent by nonce, bounded.
    let m1 = msg(&alice, &bob, 1, "", 60_000);
    let now = now_ms();
    assert_eq!(queue(&*store, &m1, 3, now).await, SendOutcome::Queued);
    let again = queue(&*store, &m1, 3, now).await;
    assert_eq!(
        again,
        SendOutcome::NonceUsed(NonceRecord::Send {
            message_id: m1.message_id.clone(),
            received_at: m1.received_at,
            expires_at: m1.expires_at
        })
    );
    for n in 2..=3 {
        assert_eq!(
            queue(&*store, &msg(&alice, &bob, n, "", 60_000), 3, now).await,
            SendOutcome::Queued
        );
    }
    let full = msg(&alice, &bob, 4, "", 60_000);
    assert_eq!(queue(&*store, &full, 3, now).await, SendOutcome::QueueFull);
    assert_eq!(
        store.nonce(&alice, &full.nonce, now).await.unwrap(),
        None,
        "a refused send leaves its nonce free"
    );
    assert_eq!(store.queue_len(&bob, now).await.unwrap(), 3);

    // Leases: hidden while leased, back when the lease ends.
    let now = now_ms();
    let leased = store.take(&bob, 2, TakeMode::LeaseUntil(now + 300), now).await.unwrap();
    assert_eq!(
        ids(&leased),
        [m1.message_id.clone(), msg(&alice, &bob, 2, "", 0).message_id]
    );
    assert_eq!(leased[0], m1, "a message comes back exactly as stored");
    let rest = store
        .take(&bob, 10, TakeMode::LeaseUntil(now + 300), now)
        .await
        .unwrap();
    assert_eq!(ids(&rest), [msg(&alice, &bob, 3, "", 0).message_id]);
    assert_eq!(store.take(&bob, 10, TakeMode::Remove, now).await.unwrap(), vec![]);
    let next = store.next_lease_expiry(&bob, now).await.unwrap().unwrap();
    assert!((now + 299..=now + 300).contains(&next), "{next} vs {now}");
    tokio::time::sleep(Duration::from_millis(350)).await;
    let now = now_ms();
    assert_eq!(store.next_lease_expiry(&bob, now).await.unwrap(), None);
    // Acks: remove what was handed out with a lease; unknown ids, and ids
    // of messages never handed out, are said so.
    let (acked, unknown) = store
        .ack(&bob, &[m1.message_id.clone(), "nope".into()], now)
        .await
        .unwrap();
    assert_eq!((acked, unknown), (vec![m1.message_id.clone()], vec!["nope".to_owned()]));
    let got = store.take(&bob, 10, TakeMode::Remove, now).await.unwrap();
    assert_eq!(got.len(), 2, "the other two came back after their lease");
    assert_eq!(store.queue_len(&bob, now).await.unwrap(), 0);
    let unread = msg(&alice, &bob, 5, "", 60_000);
    assert_eq!(queue(&*store, &unread, 3, now).await, SendOutcome::Queued);
    let (acked, unknown) = store
        .ack(&bob, std::slice::from_ref(&unread.message_id), now)
        .await
        .unwrap();
    assert_eq!((acked, unknown), (vec![], vec![unread.message_id.clone()]));
    // Other content types, an empty one, a reply: back exactly as stored.
    let mut sealed = msg(&carol, &bob, 6, &id_of(1), 60_000);
    sealed.content_type = "application/mcpmsg-sealed; kid=00112233445566778899aabbccddeeff".into();
    let mut bare = msg(&carol, &bob, 7, "", 60_000);
    bare.content_type = String::new();
    for m in [&sealed, &bare] {
        assert_eq!(queue(&*store, m, 10, now).await, SendOutcome::Queued);
    }
    assert_eq!(
        store.take(&bob, 10, TakeMode::Remove, now).await.unwrap(),
        vec![unread, sealed, bare]
    );
}

/// The reply to a question is taken first; others stay.
async fn replies_are_preferred(store: Arc<dyn Store>) {
    let t = tag();
    let (alice, bob, carol) = (format!("alice-{t}"), format!("bob-{t}"), format!("carol-{t}"));
    // Replies: the reply to the question is preferred; others stay.
    let question = id_of(99);
    let now = now_ms();
    let other = msg(&bob, &alice, 10, "", 60_000);
    let noise = msg(&carol, &alice, 11, "", 60_000);
    let reply = msg(&bob, &alice, 12, &question, 60_000);
    for m in [&other, &noise, &reply] {
        assert_eq!(queue(&*store, m, 10, now).await, SendOutcome::Queued);
    }
    assert_eq!(
        store.take_reply(&alice, &bob, &question, now).await.unwrap(),
        Some(reply.clone())
    );
    assert_eq!(
        store.take_reply(&alice, &bob, &question, now).await.unwrap(),
        Some(other.clone())
    );
    assert_eq!(store.take_reply(&alice, &bob, &question, now).await.unwrap(), None);
    assert_eq!(
        ids(&store.take(&alice, 10, TakeMode::Remove, now).await.unwrap()),
        std::slice::from_ref(&noise.message_id)
    );
}

/// An expired message is never handed out.
async fn expired_messages_are_never_handed_out(store: Arc<dyn Store>) {
    let t = tag();
    let (bob, carol) = (format!("bob-{t}"), format!("carol-{t}"));
    // Expiry: an expired message is never handed out.
    let now = now_ms();
    assert_eq!(
        queue(&*store, &msg(&carol, &bob, 20, "", 200), 10, now).await,
        SendOutcome::Queued
    );
    let keep = msg(&carol, &bob, 21, "", 60_000);
    assert_eq!(queue(&*store, &keep, 10, now).await, SendOutcome::Queued);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let now = now_ms();
    assert_eq!(store.queue_len(&bob, now).await.unwrap(), 1);
    assert_eq!(
        ids(&store.take(&bob, 10, TakeMode::Remove, now).await.unwrap()),
        [keep.message_id]
    );
}

/// A send on condition of the sender's log head: nothing happens when it moved.
async fn sends_can_be_conditional_on_the_log_head(store: Arc<dyn Store>) {
    let t = tag();
    let alice = format!("alice-{t}");
    let rec = record(&alice);
    assert!(store.put_identity(&alice, 0, &rec).await.unwrap());
    // A send on condition of the sender's log head: when it differs,
    // nothing is done (the nonce stays free); when it holds, it queues.
    let dave = format!("dave-{t}");
    let head = store.identity(&alice).await.unwrap().unwrap().head().unwrap();
    let cond = msg(&alice, &dave, 30, "", 60_000);
    let now = now_ms();
    let other_head = "0".repeat(64);
    assert_eq!(
        store
            .send(SendStep::new(&cond, now + 60_000, QueueLimits::queue_only(10), now).if_head(&other_head))
            .await
            .unwrap(),
        SendOutcome::Stale
    );
    assert_eq!(store.nonce(&alice, &cond.nonce, now).await.unwrap(), None);
    assert_eq!(store.queue_len(&dave, now).await.unwrap(), 0);
    assert_eq!(
        store
            .send(SendStep::new(&cond, now + 60_000, QueueLimits::queue_only(10), now).if_head(&head))
            .await
            .unwrap(),
        SendOutcome::Queued
    );
    assert_eq!(store.take(&dave, 10, TakeMode::Remove, now).await.unwrap(), vec![cond]);
}

#[tokio::test]
async fn memory_store_conforms() {
    conformance(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn redis_store_conforms() {
    let redis = RedisServer::start();
    conformance(Arc::new(
        RedisStore::connect(&redis.url(), &Default::default()).await.unwrap(),
    ))
    .await;
}

/// `rediss-cluster://`: a Cluster that speaks only TLS (between its nodes
/// too) and requires client certificates.
#[tokio::test]
async fn redis_cluster_over_tls_store_conforms() {
    let (cluster, tls) = RedisCluster::start_tls();
    let url = cluster.url();
    assert!(url.starts_with("rediss-cluster://"), "{url}");
    let files = RedisTls {
        ca: Some(tls.ca.into()),
        cert: Some(tls.cert.into()),
        key: Some(tls.key.into()),
    };
    conformance(Arc::new(RedisStore::connect(&url, &files).await.unwrap())).await;
}

#[tokio::test]
async fn redis_cluster_store_conforms() {
    let cluster = RedisCluster::start();
    conformance(Arc::new(
        RedisStore::connect(&cluster.url(), &Default::default()).await.unwrap(),
    ))
    .await;
}

/// Redis keeps used nonces in hashes by minute: each hash expires as a
/// whole, stays compact, and a nonce claimed through one node is seen
/// through another whose clock is up to the margin (2 s) behind or ahead,
/// across a minute's boundary too.
#[tokio::test]
async fn redis_nonces_expire_stay_compact_and_tolerate_clock_differences() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url(), &Default::default()).await.unwrap();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &redis.port.to_string()])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let alice = format!("alice-{}", tag());
    // The last and the first millisecond of a minute, as one node sees it.
    let edge = (now_ms() / 60_000 + 1) * 60_000 - 1;
    for at in [edge, edge + 1] {
        for skew in [0i64, 1, -1, 1_500, -1_500] {
            let n = new_nonce();
            assert!(store
                .claim_nonce(&alice, &n, NonceRecord::Request, at + 240_000, at)
                .await
                .unwrap());
            let other = at.checked_add_signed(skew).unwrap();
            assert_eq!(
                store.nonce(&alice, &n, other).await.unwrap(),
                Some(NonceRecord::Request),
                "claimed at {at}, looked for by a node {skew} ms off"
            );
            assert!(!store
                .claim_nonce(&alice, &n, NonceRecord::Request, other + 240_000, other)
                .await
                .unwrap());
            // Past its window the record is dead, though its hash lives on.
            assert_eq!(store.nonce(&alice, &n, at + 240_000).await.unwrap(), None);
        }
    }
    let keys: Vec<String> = cli(&["--scan", "--pattern", &format!("mcpmsg:{{{alice}}}:n:*")])
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(!keys.is_empty());
    for k in &keys {
        let ttl: i64 = cli(&["pttl", k]).trim().parse().unwrap();
        assert!((1..=240_000 + 62_000).contains(&ttl), "{k}: {ttl}");
        assert_eq!(cli(&["object", "encoding", k]).trim(), "listpack", "{k}");
    }
}
