//! The server over a real socket with the rmcp client: every tool, every
//! error code, both protocol versions, waits, leases and expiry.

use mcpmsg_testkit as common;

use std::time::{Duration, Instant};

use common::{ids, register, Ident, TestServer};
use mcpmsg_core::protocol::now_ms;
use serde_json::{json, Value};

#[tokio::test]
async fn every_tool_works_for_a_session_era_client() {
    every_tool_works(&[]).await;
}

/// The same, on a server that keeps sessions (`--sessions`).
#[tokio::test]
async fn every_tool_works_on_a_server_with_sessions() {
    every_tool_works(&["--sessions"]).await;
}

async fn every_tool_works(flags: &[&str]) {
    let s = TestServer::start(flags).await;
    let c = s.client().await;
    let tools = c.svc.list_all_tools().await.unwrap();
    let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    let want: Vec<_> = mcpmsg_core::protocol::tools::ToolName::ALL
        .iter()
        .map(|t| t.as_str())
        .collect();
    assert_eq!(names, want);

    let (mut alice, bob) = (Ident::new("alice"), Ident::new("bob"));
    let r = c.call("checkin_client", alice.checkin(true)).await.ok();
    assert_eq!(
        r,
        json!({"client_id": "alice", "registered": true, "kel_seq": "0", "kel_head": alice.events[0].hash().unwrap()})
    );
    assert_eq!(
        c.call("checkin_client", alice.checkin(false)).await.ok()["registered"],
        false
    );
    register(&c, &[&bob]).await;

    let sent = c.call("send_message", alice.send("bob", "hello **bob**")).await;
    assert!(sent.text.starts_with("Sent to `bob`: message id `"), "{}", sent.text);
    let sent = sent.ok();
    let id = sent["message_id"].as_str().unwrap().to_owned();
    assert_eq!(sent["duplicate"], false);
    let received_at: u64 = sent["received_at"].as_str().unwrap().parse().unwrap();
    let expires_at: u64 = sent["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires_at - received_at, 300_000);

    let got = c.call("get_messages", bob.get(None, None, None)).await;
    assert!(
        got.text.starts_with("**1 message**\n\n### From `alice` · just now"),
        "{}",
        got.text
    );
    assert!(got.text.contains("> hello **bob**\n"), "{}", got.text);
    let m = &got.json["messages"][0];
    let keys: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = [
        "message_id",
        "sender_id",
        "recipient_id",
        "content_type",
        "in_reply_to",
        "message",
        "key_id",
        "ts",
        "nonce",
        "sig",
        "received_at",
        "expires_at",
    ];
    want.sort();
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, want);
    assert!(m.as_object().unwrap().values().all(Value::is_string));
    assert_eq!(m["message_id"], id.as_str());
    assert_eq!(m["in_reply_to"], "", "absent in_reply_to is delivered as signed: empty");
    // The recipient can verify the signature from the delivered object alone.
    let delivered: mcpmsg_core::protocol::SendMessage = serde_json::from_value(json!({
        "sender_id": m["sender_id"], "recipient_id": m["recipient_id"], "message": m["message"], "content_type": m["content_type"],
        "in_reply_to": m["in_reply_to"], "key_id": m["key_id"], "ts": m["ts"], "nonce": m["nonce"], "sig": m["sig"]
    }))
    .unwrap();
    assert_eq!(delivered.verify(&alice.key().public()), Ok(()));
    assert_eq!(
        c.call("get_messages", bob.get(None, None, None)).await.ok(),
        json!({"messages": []}),
        "auto ack removed it"
    );

    // Manual ack: leased, then acknowledged.
    c.call("send_message", alice.send("bob", "lease me")).await.ok();
    let got = c
        .call("get_messages", bob.get(Some("10"), Some("0"), Some("manual")))
        .await
        .ok();
    let leased = ids(&got);
    assert_eq!(leased.len(), 1);
    assert_eq!(
        c.call("get_messages", bob.get(None, None, Some("manual"))).await.ok()["messages"],
        json!([]),
        "leased ones are not handed out twice"
    );
    let fake = "AAAAAAAAAAAAAAAAAAAAAA";
    let acked = c.call("ack_messages", bob.ack(&[&leased[0], fake])).await.ok();
    assert_eq!(acked, json!({"acked": [leased[0]], "unknown": [fake]}));

    let keys = c.call("get_client_keys", json!({"client_id": "alice"})).await.ok();
    assert_eq!(keys["kel"], serde_json::to_value(&alice.events).unwrap());
    assert_eq!(keys["revoked"], false);
    assert_eq!(keys["accepted_at"].as_array().unwrap().len(), 1);

    let listed = c.call("list_clients", json!({})).await.ok();
    let clients = listed["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 2);
    assert_eq!(clients[0]["client_id"], "alice");
    assert_eq!(clients[0]["name"], "test client");
    assert_eq!(clients[0]["signing_kid"], alice.key().public().kid());

    let who = c.call("get_my_identity", json!({})).await;
    assert!(who.text.contains("`my_id` in `mcp_recipients.json`"), "{}", who.text);

    let rot = alice.rotate();
    let r = c.call("rotate_key", json!({"event": rot})).await.ok();
    assert_eq!(r["kel_seq"], "1");
    assert_eq!(r["kel_head"], alice.events[1].hash().unwrap());
    c.call("send_message", alice.send("bob", "after rotation")).await.ok();

    let rev = alice.revoke();
    let r = c.call("revoke_key", json!({"event": rev})).await.ok();
    assert_eq!(r["kel_seq"], "2");
    assert_eq!(
        c.call("get_client_keys", json!({"client_id": "alice"})).await.ok()["revoked"],
        true
    );
    s.stop().await;
}

#[tokio::test]
async fn sessionless_2026_clients_work_too() {
    let s = TestServer::start(&[]).await;
    let c = s.client_2026().await;
    let (alice, bob) = (Ident::new("alice"), Ident::new("bob"));
    register(&c, &[&alice, &bob]).await;
    let id = c.call("send_message", alice.send("bob", "hi from 2026")).await.ok()["message_id"].clone();
    let got = c.call("get_messages", bob.get(None, None, None)).await.ok();
    assert_eq!(got["messages"][0]["message_id"], id);
    // And a session-era client sees the same store.
    let old = s.client().await;
    old.call("send_message", bob.send("alice", "hi from 2025")).await.ok();
    assert_eq!(
        c.call("get_messages", alice.get(None, None, None)).await.ok()["messages"][0]["message"],
        "hi from 2025"
    );
    s.stop().await;
}

#[tokio::test]
async fn sends_are_idempotent_and_replays_refused() {
    let s = TestServer::start(&[]).await;
    let c = s.client().await;
    let (alice, bob) = (Ident::new("alice"), Ident::new("bob"));
    register(&c, &[&alice, &bob]).await;
    let args = alice.send("bob", "once");
    let first = c.call("send_message", args.clone()).await.ok();
    let again = c.call("send_message", args.clone()).await.ok();
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["message_id"], first["message_id"]);
    assert_eq!(again["received_at"], first["received_at"]);
    // Same nonce, another signature: a replay.
    let mut other = alice.send("bob", "twice");
    other["nonce"] = args["nonce"].clone();
    let other = {
        let ts: u64 = other["ts"].as_str().unwrap().parse().unwrap();
        let nonce = args["nonce"].as_str().unwrap().to_owned();
        let parts = mcpmsg_core::protocol::SendParts {
            sender_id: "alice",
            recipient_id: "bob",
            in_reply_to: None,
            ts,
            nonce: &nonce,
        };
        serde_json::to_value(mcpmsg_core::protocol::SendMessage::sign(
            alice.key(),
            parts,
            Some("text/markdown"),
            "twice",
        ))
        .unwrap()
    };
    c.call("send_message", other).await.refused("replay");
    let get = bob.get(None, None, None);
    assert_eq!(
        ids(&c.call("get_messages", get.clone()).await.ok()).len(),
        1,
        "queued once"
    );
    c.call("get_messages", get.clone()).await.refused("replay");
    common::nonce_is_judged_before_the_signature(&c, &bob, &get).await;
    s.stop().await;
}

#[tokio::test]
async fn every_refusal_has_its_code_and_leaves_queues_intact() {
    let s = TestServer::start(&["--max-message-bytes", "100", "--max-queue", "3", "--no-list-clients"]).await;
    let c = s.client().await;
    let (mut alice, bob, carol) = (Ident::new("alice"), Ident::new("bob"), Ident::new("carol"));
    register(&c, &[&alice, &bob]).await;
    let queued = c.call("send_message", alice.send("bob", "keep me")).await.ok()["message_id"].clone();

    // invalid_argument: wrong type, unknown argument, missing, bad form.
    let mut a = alice.send("bob", "x");
    a["ts"] = json!(5);
    assert_eq!(
        c.call("send_message", a).await.refused("invalid_argument"),
        "ts: expected a string"
    );
    let mut a = alice.send("bob", "x");
    a["recipient"] = json!("bob");
    assert!(c
        .call("send_message", a)
        .await
        .refused("invalid_argument")
        .starts_with("unknown argument \"recipient\""));
    let mut a = alice.send("bob", "x");
    a.as_object_mut().unwrap().remove("sig");
    assert_eq!(
        c.call("send_message", a).await.refused("invalid_argument"),
        "sig: required"
    );
    assert!(c
        .call("send_message", alice.send("bad id", "x"))
        .await
        .refused("invalid_argument")
        .starts_with("recipient_id: "));
    let mut a = alice.send("bob", "x");
    a["sig"] = json!(format!("{}==", a["sig"].as_str().unwrap()));
    assert!(c
        .call("send_message", a)
        .await
        .refused("invalid_argument")
        .starts_with("sig: "));
    c.call("get_messages", bob.get(Some("0"), None, None))
        .await
        .refused("invalid_argument");
    c.call("get_messages", bob.get(None, Some("51"), None))
        .await
        .refused("invalid_argument");
    c.call("get_messages", bob.get(None, None, Some("later")))
        .await
        .refused("invalid_argument");
    c.call("ack_messages", bob.ack(&["not an id"]))
        .await
        .refused("invalid_argument");

    // bad_signature: a tampered body.
    let mut a = alice.send("bob", "original");
    a["message"] = json!("tampered");
    let msg = c.call("send_message", a).await.refused("bad_signature");
    assert_eq!(
        msg,
        format!(
            "signature does not verify for key {} of alice",
            alice.key().public().kid()
        )
    );
    // stale_timestamp: ten minutes old.
    c.call(
        "send_message",
        alice.send_with(alice.key(), "bob", "late", None, now_ms() - 600_000),
    )
    .await
    .refused("stale_timestamp");
    // unknown_client, unknown_recipient.
    c.call("send_message", carol.send("bob", "who am I"))
        .await
        .refused("unknown_client");
    c.call("checkin_client", carol.checkin(false))
        .await
        .refused("unknown_client");
    c.call("send_message", alice.send("carol", "anyone?"))
        .await
        .refused("unknown_recipient");
    // too_large: over --max-message-bytes.
    c.call("send_message", alice.send("bob", &"x".repeat(101)))
        .await
        .refused("too_large");
    c.call("send_message", alice.send("bob", &"x".repeat(100))).await.ok();
    // queue_full: bob holds 2, a third fits, a fourth does not.
    c.call("send_message", alice.send("bob", "third")).await.ok();
    c.call("send_message", alice.send("bob", "fourth"))
        .await
        .refused("queue_full");
    // unavailable: list_clients turned off.
    assert!(c
        .call("list_clients", json!({}))
        .await
        .refused("unavailable")
        .contains("--no-list-clients"));

    // already_registered: the same id with another inception.
    c.call("checkin_client", Ident::new("bob").checkin(true))
        .await
        .refused("already_registered");
    // key_superseded: the old key after a rotation.
    let old_key_args = alice.send("bob", "old key");
    c.call("rotate_key", json!({"event": alice.rotate()})).await.ok();
    c.call("send_message", old_key_args).await.refused("key_superseded");
    // kel_conflict: a stale rotation (wrong seq) and a fork at check-in.
    let mut forked = Ident::new("dave");
    register(&c, &[&forked]).await;
    let rot = forked.rotate();
    c.call("rotate_key", json!({"event": rot.clone()})).await.ok();
    c.call("rotate_key", json!({"event": rot}))
        .await
        .refused("kel_conflict");
    let mut short = forked.checkin(true);
    short["kel"] = json!([forked.events[0]]);
    c.call("checkin_client", short).await.refused("kel_conflict");
    // revoked: after revocation, and a log ending in one cannot register.
    c.call("revoke_key", json!({"event": alice.revoke()})).await.ok();
    c.call("send_message", alice.send("bob", "ghost"))
        .await
        .refused("revoked");
    c.call("get_messages", alice.get(None, None, None))
        .await
        .refused("revoked");
    c.call("send_message", bob.send("alice", "to a ghost"))
        .await
        .refused("revoked");
    let mut erin = Ident::new("erin");
    erin.revoke();
    c.call("checkin_client", erin.checkin(true)).await.refused("revoked");

    // Everything refused left bob's queue as it was: the 3 accepted sends.
    let got = c.call("get_messages", bob.get(None, None, None)).await.ok();
    let got = ids(&got);
    assert_eq!(got.len(), 3);
    assert_eq!(got[0], queued.as_str().unwrap());
    s.stop().await;
}

#[tokio::test]
async fn closed_enrollment_and_rate_limits() {
    let dir = std::env::temp_dir().join(format!("mcpmsg-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let keys = dir.join("keys");
    let (alice, bob, carol) = (Ident::new("alice"), Ident::new("bob"), Ident::new("carol"));
    let line = |i: &Ident| format!("{} {}  # test\n", i.id, i.events[0].signer());
    std::fs::write(&keys, line(&alice) + &line(&carol)).unwrap();
    let s = TestServer::start(&["--keys", keys.to_str().unwrap(), "--max-waiters", "1"]).await;
    let c = s.client().await;
    register(&c, &[&alice]).await;
    assert!(c
        .call("checkin_client", bob.checkin(true))
        .await
        .refused("not_enrolled")
        .contains("enroll-line"));
    // carol is enrolled, but with another inception key than this one.
    let impostor = Ident::new("carol");
    assert!(c
        .call("checkin_client", impostor.checkin(true))
        .await
        .refused("not_enrolled")
        .contains("not the one in the server's keys file"));
    register(&c, &[&carol]).await;
    // The file is re-read when it changes.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&keys, line(&alice) + &line(&carol) + &line(&bob)).unwrap();
    register(&c, &[&bob]).await;

    // rate_limited: one parked waiter at most.
    let c2 = s.client().await;
    let first = tokio::spawn(async move { c2.call("get_messages", alice.get(None, Some("2"), None)).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.call("get_messages", bob.get(None, Some("1"), None))
        .await
        .refused("rate_limited");
    assert_eq!(first.await.unwrap().ok(), json!({"messages": []}));
    s.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn leases_come_back_and_messages_expire() {
    let s = TestServer::start(&["--lease", "1", "--message-ttl", "2"]).await;
    let c = s.client().await;
    let (alice, bob) = (Ident::new("alice"), Ident::new("bob"));
    register(&c, &[&alice, &bob]).await;
    let id = c.call("send_message", alice.send("bob", "lease")).await.ok()["message_id"].clone();
    assert_eq!(
        ids(&c.call("get_messages", bob.get(None, None, Some("manual"))).await.ok()),
        [id.as_str().unwrap()]
    );
    // A waiting reader gets it back when the lease ends (no new send).
    let started = Instant::now();
    let again = c
        .call("get_messages", bob.get(None, Some("5"), Some("manual")))
        .await
        .ok();
    assert_eq!(ids(&again), [id.as_str().unwrap()]);
    assert!(started.elapsed() >= Duration::from_millis(500) && started.elapsed() < Duration::from_secs(3));
    // Not acknowledged: it expires with its lifetime.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        c.call("get_messages", bob.get(None, None, None)).await.ok()["messages"],
        json!([])
    );
    let r = c.call("ack_messages", bob.ack(&[id.as_str().unwrap()])).await.ok();
    assert_eq!(r["unknown"], json!([id]));
    s.stop().await;
}

#[tokio::test]
async fn sealed_messages_are_relayed_as_ciphertext() {
    let s = TestServer::start(&[]).await;
    let c = s.client().await;
    let (alice, bob) = (Ident::new("alice"), Ident::new("bob"));
    register(&c, &[&alice, &bob]).await;
    c.call("send_message", alice.sealed("bob", &bob.sealing_key(), "the secret"))
        .await
        .ok();
    let got = c.call("get_messages", bob.get(None, None, None)).await;
    assert!(!got.text.contains("the secret"));
    let m = got.json["messages"][0].clone();
    let delivered: mcpmsg_core::inbox::Delivered = serde_json::from_value(m).unwrap();
    assert_eq!(delivered.as_send().open(&bob.sealing[0]).unwrap(), "the secret");
    // Sealed to a key that is not bob's: refused up front.
    let stray = mcpmsg_core::crypto::SealingSecret::generate().public();
    assert!(c
        .call("send_message", alice.sealed("bob", &stray, "x"))
        .await
        .refused("invalid_argument")
        .starts_with("content_type: kid "));
    s.stop().await;
}

#[tokio::test]
async fn health_endpoints() {
    let s = TestServer::start(&[]).await;
    for path in ["/health", "/api/mcp/health"] {
        let v: Value = reqwest::get(format!("{}{path}", s.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["status"], "ok");
        assert_eq!(v["store"], "memory");
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
        assert!(v["uptime_s"].is_u64());
    }
    s.stop().await;
}
