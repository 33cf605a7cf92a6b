//! The flaws an adversarial review found in the server (issue 9), each
//! shown fixed against the real server: amendments A1, A2, A4, the bounds
//! per client and in total, and closed enrollment on every request. The
//! HTTP edge (A5 included) is in `edge.rs`.

use mcpmsg_testkit as common;

use std::time::Duration;

use common::redis::RedisServer;
use common::{ids, register, Ident, TestServer};
use mcpmsg_core::protocol::now_ms;
use serde_json::{json, Value};

/// A4: a replay of a `send_message_and_wait` is answered as a duplicate at
/// once and takes nothing from the sender's queue.
async fn replayed_wait_does_not_steal_the_reply(flags: &[&str]) {
    let s = TestServer::start(flags).await;
    let c = s.client().await;
    let t = now_ms() % 1_000_000;
    let (alice, bob) = (Ident::new(&format!("alice-{t}")), Ident::new(&format!("bob-{t}")));
    register(&c, &[&alice, &bob]).await;
    let mut args = alice.send(&bob.id, "question?");
    args["timeout_s"] = json!(0);
    let first = c.call("send_message_and_wait", args.clone()).await.ok();
    assert_eq!(first["timed_out"], true);
    let qid = first["message_id"].as_str().unwrap().to_owned();
    c.call("send_message", bob.reply(&alice.id, "the answer", &qid))
        .await
        .ok();

    // The same request again, as an eavesdropper would replay it.
    args["timeout_s"] = json!(5);
    let started = std::time::Instant::now();
    let replay = c.call("send_message_and_wait", args).await;
    assert!(replay.text.contains("retry"), "{}", replay.text);
    let replay = replay.ok();
    assert_eq!(replay["reply"], Value::Null);
    assert_eq!(replay["message_id"], qid.as_str());
    assert!(started.elapsed() < Duration::from_secs(4), "a duplicate does not wait");
    let left = c.call("get_messages", alice.get(None, None, None)).await.ok();
    assert_eq!(
        left["messages"][0]["message"], "the answer",
        "the reply is still alice's"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_replayed_send_and_wait_does_not_steal_the_reply_memory() {
    replayed_wait_does_not_steal_the_reply(&[]).await;
}

#[tokio::test]
async fn a_replayed_send_and_wait_does_not_steal_the_reply_redis() {
    let redis = RedisServer::start();
    replayed_wait_does_not_steal_the_reply(&["--store", &redis.url()]).await;
}

/// A1 and A2: the current key suspends, the next key recovers or ends;
/// revocations are accepted whatever their age.
async fn suspension_recovery_and_final_revocation(flags: &[&str]) {
    let s = TestServer::start(flags).await;
    let c = s.client().await;
    let t = now_ms() % 1_000_000;
    let (mut alice, bob) = (Ident::new(&format!("alice-{t}")), Ident::new(&format!("bob-{t}")));
    register(&c, &[&alice, &bob]).await;

    // A thief with the current key suspends alice, with a revocation dated
    // an hour ago: accepted all the same (A2).
    let hour_ago = now_ms() - 3_600_000;
    c.call("revoke_key", json!({"event": alice.revoke_at(hour_ago)}))
        .await
        .ok();
    let keys = c.call("get_client_keys", json!({"client_id": alice.id})).await.ok();
    assert_eq!(keys["status"], "suspended");
    assert_eq!(keys["revoked"], true);
    let listed = c.call("list_clients", json!({})).await.ok();
    let entry = listed["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["client_id"] == alice.id.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry["status"], "suspended");
    c.call("get_messages", alice.get(None, None, None))
        .await
        .refused("revoked");
    c.call("send_message", bob.send(&alice.id, "hi"))
        .await
        .refused("revoked");
    // The current key has no further say.
    c.call("revoke_key", json!({"event": alice.revoke()}))
        .await
        .refused("revoked");
    alice.events.pop();

    // The owner, with the next key, recovers under new keys.
    c.call("rotate_key", json!({"event": alice.rotate()})).await.ok();
    let keys = c.call("get_client_keys", json!({"client_id": alice.id})).await.ok();
    assert_eq!(keys["status"], "active");
    c.call("get_messages", alice.get(None, None, None)).await.ok();

    // And can end it for good with the next key.
    let fin = alice.revoke_with_next(now_ms());
    c.call("revoke_key", json!({"event": fin})).await.ok();
    let keys = c.call("get_client_keys", json!({"client_id": alice.id})).await.ok();
    assert_eq!(keys["status"], "revoked");
    c.call("revoke_key", json!({"event": fin})).await.ok();
    c.call("rotate_key", json!({"event": alice.rotate()}))
        .await
        .refused("revoked");
    s.stop().await;
}

#[tokio::test]
async fn suspension_recovery_and_final_revocation_memory() {
    suspension_recovery_and_final_revocation(&[]).await;
}

#[tokio::test]
async fn suspension_recovery_and_final_revocation_redis() {
    let redis = RedisServer::start();
    suspension_recovery_and_final_revocation(&["--store", &redis.url()]).await;
}

/// A2: after an in-memory server restarts, the owner (or anyone who
/// pinned the log) puts the revocation back as a tombstone, and the thief
/// cannot re-register the old keys.
#[tokio::test]
async fn a_revocation_survives_a_restart_as_a_tombstone() {
    let mut alice = Ident::new("alice");
    let thief_view = alice.checkin(true);
    let fin = alice.revoke_with_next(now_ms());

    let s = TestServer::start(&[]).await;
    let c = s.client().await;
    // Without `kel`, a server that does not know alice cannot take it.
    c.call("revoke_key", json!({"event": fin}))
        .await
        .refused("unknown_client");
    let mut wrong = alice.events.clone();
    wrong.pop();
    c.call("revoke_key", json!({"event": fin, "kel": wrong}))
        .await
        .refused("invalid_argument");
    let r = c
        .call("revoke_key", json!({"event": fin, "kel": alice.events}))
        .await
        .ok();
    assert_eq!(r["kel_seq"], "1");
    let keys = c.call("get_client_keys", json!({"client_id": "alice"})).await.ok();
    assert_eq!(keys["status"], "revoked");
    // The thief's old log, and the full one, are both refused.
    let refused = c.call("checkin_client", thief_view).await;
    assert!(refused.is_error, "{}", refused.text);
    c.call("checkin_client", alice.checkin(true)).await.refused("revoked");
    s.stop().await;
}

/// Closed enrollment holds on every request, not just at registration.
#[tokio::test]
async fn an_identity_removed_from_the_keys_file_stops_working() {
    let dir = std::env::temp_dir().join(format!("mcpmsg-enroll-{}-{}", std::process::id(), now_ms()));
    std::fs::create_dir_all(&dir).unwrap();
    let keys = dir.join("keys");
    let (alice, bob) = (Ident::new("alice"), Ident::new("bob"));
    let line = |i: &Ident| format!("{} {}\n", i.id, i.events[0].signer());
    std::fs::write(&keys, line(&alice) + &line(&bob)).unwrap();
    let s = TestServer::start(&["--keys", keys.to_str().unwrap()]).await;
    let c = s.client().await;
    register(&c, &[&alice, &bob]).await;
    c.call("send_message", alice.send("bob", "before")).await.ok();
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&keys, line(&bob)).unwrap();
    c.call("get_messages", alice.get(None, None, None))
        .await
        .refused("not_enrolled");
    c.call("send_message", alice.send("bob", "after"))
        .await
        .refused("not_enrolled");
    let got = c.call("get_messages", bob.get(None, None, None)).await.ok();
    assert_eq!(ids(&got).len(), 1, "bob still works");

    // The enrollment check comes before the log's signatures are checked:
    // a log that would not verify is refused as not enrolled.
    let carol = Ident::new("carol");
    let mut forged = carol.checkin(true);
    forged["kel"][0]["sig"] = json!("A".repeat(86));
    c.call("checkin_client", forged).await.refused("not_enrolled");
    s.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

/// Bounds per client: parked waits, a sender's share of a queue, rates.
#[tokio::test]
async fn one_client_cannot_take_every_slot_or_fill_a_queue() {
    let s = TestServer::start(&["--max-waits-per-client", "1", "--max-queue-per-sender", "2"]).await;
    let c = s.client().await;
    let (alice, bob, mallory) = (Ident::new("alice"), Ident::new("bob"), Ident::new("mallory"));
    register(&c, &[&alice, &bob, &mallory]).await;

    let c2 = s.client().await;
    let get = mallory.get(None, Some("2"), None);
    let parked = tokio::spawn(async move { c2.call("get_messages", get).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = c
        .call("get_messages", mallory.get(None, Some("1"), None))
        .await
        .refused("rate_limited");
    assert!(refused.contains("--max-waits-per-client"), "{refused}");
    let c3 = s.client().await;
    let bob_get = bob.get(None, Some("1"), None);
    let bobs = tokio::spawn(async move { c3.call("get_messages", bob_get).await });
    assert_eq!(parked.await.unwrap().ok(), json!({"messages": []}));
    bobs.await.unwrap().ok();

    for i in 0..2 {
        c.call("send_message", mallory.send("bob", &format!("spam {i}")))
            .await
            .ok();
    }
    let refused = c
        .call("send_message", mallory.send("bob", "spam 3"))
        .await
        .refused("queue_full");
    assert!(refused.contains("--max-queue-per-sender"), "{refused}");
    c.call("send_message", alice.send("bob", "legitimate")).await.ok();
    let got = c.call("get_messages", bob.get(None, None, None)).await.ok();
    assert_eq!(ids(&got).len(), 3);
    s.stop().await;
}

#[tokio::test]
async fn queued_bytes_are_bounded_in_total() {
    let s = TestServer::start(&["--max-queued-bytes", "65536", "--max-message-bytes", "30000"]).await;
    let c = s.client().await;
    let (alice, bob, carol) = (Ident::new("alice"), Ident::new("bob"), Ident::new("carol"));
    register(&c, &[&alice, &bob, &carol]).await;
    let big = "x".repeat(30_000);
    c.call("send_message", alice.send("bob", &big)).await.ok();
    c.call("send_message", alice.send("carol", &big)).await.ok();
    let refused = c
        .call("send_message", carol.send("bob", &big))
        .await
        .refused("queue_full");
    assert!(refused.contains("--max-queued-bytes"), "{refused}");
    // Reading frees the room.
    c.call("get_messages", bob.get(None, None, None)).await.ok();
    c.call("send_message", carol.send("bob", &big)).await.ok();
    s.stop().await;
}

#[tokio::test]
async fn rates_are_limited_per_identity_and_per_address() {
    let s = TestServer::start(&["--rate-per-client", "2", "--rate-per-address", "1"]).await;
    let c = s.client().await;
    let (alice, bob) = (Ident::new("alice"), Ident::new("bob"));
    register(&c, &[&alice]).await;
    // The registration spent one of alice's four (a burst of twice the rate).
    for _ in 0..3 {
        c.call("get_messages", alice.get(None, None, None)).await.ok();
    }
    let limited = c.call("get_messages", alice.get(None, None, None)).await;
    let message = limited.clone().refused("rate_limited");
    assert!(message.contains("--rate-per-client"), "{message}");
    let wait: u64 = limited.json["error"]["retry_after_ms"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=1000).contains(&wait), "{wait}");
    tokio::time::sleep(Duration::from_millis(wait + 50)).await;
    c.call("get_messages", alice.get(None, None, None)).await.ok();

    // Anonymous calls: two (a burst of twice the rate of 1/s), then refused.
    for _ in 0..2 {
        c.call("get_client_keys", json!({"client_id": "alice"})).await.ok();
    }
    let limited = c.call("list_clients", json!({})).await.refused("rate_limited");
    assert!(limited.contains("--rate-per-address"), "{limited}");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    // Refused signed calls count against the address too; once it is used
    // up, even a valid signed call from it is refused before its signature
    // is checked.
    for _ in 0..3 {
        c.call("checkin_client", bob.checkin(false))
            .await
            .refused("unknown_client");
    }
    c.call("checkin_client", bob.checkin(true))
        .await
        .refused("rate_limited");
    s.stop().await;
}

#[tokio::test]
async fn checkin_text_and_log_length_are_bounded() {
    let s = TestServer::start(&["--max-kel-events", "3"]).await;
    let c = s.client().await;
    let mut alice = Ident::new("alice");
    for name in [
        "bob\n### From `carol` · verified",
        "x\u{1b}]0;pwned\u{7}",
        "hidden\u{e0041}\u{e0042}",
        &"n".repeat(65),
    ] {
        let refused = c
            .call("checkin_client", alice.checkin_as(name, ""))
            .await
            .refused("invalid_argument");
        assert!(
            refused.starts_with("name: at most 64 printable characters"),
            "{refused}"
        );
    }
    let refused = c
        .call("checkin_client", alice.checkin_as("Alice", &"c".repeat(513)))
        .await
        .refused("invalid_argument");
    assert!(refused.starts_with("capabilities:"), "{refused}");
    c.call("checkin_client", alice.checkin_as("Alice's Zed ✓", "reviews"))
        .await
        .ok();
    for _ in 0..3 {
        alice.rotate();
    }
    let refused = c.call("checkin_client", alice.checkin(true)).await.refused("too_large");
    assert!(refused.contains("--max-kel-events"), "{refused}");

    // Nor can a log grow past the bound one rotation at a time; a
    // revocation is taken all the same.
    let mut bob = Ident::new("bob");
    register(&c, &[&bob]).await;
    for _ in 0..2 {
        c.call("rotate_key", json!({"event": bob.rotate()})).await.ok();
    }
    let refused = c
        .call("rotate_key", json!({"event": bob.rotate()}))
        .await
        .refused("too_large");
    assert!(refused.contains("--max-kel-events"), "{refused}");
    bob.undo_rotation();
    c.call("revoke_key", json!({"event": bob.revoke_with_next(now_ms())}))
        .await
        .ok();
    s.stop().await;
}

#[tokio::test]
async fn list_clients_is_paged() {
    let s = TestServer::start(&["--list-page", "2"]).await;
    let c = s.client().await;
    let who: Vec<Ident> = ["a", "b", "c", "d", "e"].iter().map(|n| Ident::new(n)).collect();
    register(&c, &who.iter().collect::<Vec<_>>()).await;
    let mut seen = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let args = if cursor.is_null() {
            json!({})
        } else {
            json!({"cursor": cursor})
        };
        let page = c.call("list_clients", args).await.ok();
        let names: Vec<String> = page["clients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["client_id"].as_str().unwrap().to_owned())
            .collect();
        assert!(names.len() <= 2);
        seen.extend(names);
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    let one = c.call("list_clients", json!({"limit": "1"})).await.ok();
    assert_eq!(one["clients"].as_array().unwrap().len(), 1);
    c.call("list_clients", json!({"limit": "3"}))
        .await
        .refused("invalid_argument");
    c.call("list_clients", json!({"cursor": "bad id!"}))
        .await
        .refused("invalid_argument");
    s.stop().await;
}
