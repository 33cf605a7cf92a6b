//! Two signing bridges over stdio against a real server: sealed round
//! trips, ciphertext at the server, re-attributed and tampered messages
//! rejected, rotation with messages queued, revocation, send-and-wait, and a
//! server restart.

use std::process::Command;
use std::time::Duration;

use mcpmsg_core::crypto::b64;
use mcpmsg_core::protocol::{now_ms, SendMessage, SignedArgs};
use serde_json::{json, Value};

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn sealed_round_trip_and_the_server_holds_only_ciphertext() {
    let s = Server::start(0).await;
    let (alice, bob) = pair(&s.url());
    // Bob's bridge does not read in the background here: a raw reader of
    // his inbox below must find the message still queued.
    let (a, b) = (alice.bridge().await, bob.bridge_with(&["--no-watch"]).await);

    let who = b.ok("get_my_identity", json!({})).await;
    assert_eq!(who["client_id"], "bob");
    assert_eq!(who["recipients"][0]["client_id"], "alice");
    assert_eq!(who["recipients"][0]["name"], "alice's IDE");
    let (_, text, _) = b.call("list_recipients", json!({})).await;
    assert!(text.contains("- `alice`: alice's IDE"), "{text}");

    let sent = a
        .ok(
            "send_message",
            json!({"recipient_id": "bob", "message": "the plan: ship friday"}),
        )
        .await;
    assert_eq!(sent["sealed"], true);
    // What the server holds: ciphertext. (A raw reader with bob's key leases
    // it for a second; the lease is 1 s in this test.)
    let raw = raw_call(&s.url(), "get_messages", raw_get(&bob, "manual")).await;
    let stored = &raw["messages"][0];
    assert!(stored["content_type"]
        .as_str()
        .unwrap()
        .starts_with("application/mcpmsg-sealed; kid="));
    assert!(!stored.to_string().contains("ship friday"));

    let got = b.read(1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["verified"], true);
    assert_eq!(got[0]["sealed"], true);
    assert_eq!(got[0]["text"], "the plan: ship friday");
    assert_eq!(got[0]["message_id"], sent["message_id"]);
    // Acknowledged once handed over: nothing comes back after the lease.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(b.ok("get_messages", json!({})).await["messages"], json!([]));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn re_attributed_and_unpinned_messages_are_rejected() {
    let s = Server::start(0).await;
    let (alice, bob) = pair(&s.url());
    let mallory = User::new("mallory", &s.url());
    bob.pin(&mallory);
    let a = alice.bridge().await;
    a.ok(
        "send_message",
        json!({"recipient_id": "bob", "message": "for bob only"}),
    )
    .await;
    // Mallory takes alice's sealed body off the wire and sends it as her own.
    let raw = raw_call(&s.url(), "get_messages", raw_get(&bob, "auto")).await;
    let stolen = raw["messages"][0].clone();
    let mkeys = mallory.keys();
    let key = mkeys.signing.as_ref().unwrap();
    let mut forged = SendMessage {
        sender_id: "mallory".into(),
        recipient_id: "bob".into(),
        message: stolen["message"].as_str().unwrap().into(),
        content_type: Some(stolen["content_type"].as_str().unwrap().into()),
        in_reply_to: None,
        key_id: key.public().kid(),
        ts: now_ms().to_string(),
        nonce: stolen["nonce"].as_str().unwrap().into(),
        sig: String::new(),
    };
    forged.sig = b64::encode(&key.sign(&forged.sign_input()));
    raw_call(&s.url(), "send_message", serde_json::to_value(&forged).unwrap()).await;
    // And someone bob never pinned writes to him.
    let eve = User::new("eve", &s.url());
    eve.mcpmsg(&["send", "bob", "trust me", "--no-seal"]);

    let b = bob.bridge().await;
    let got = b.read(2).await;
    assert_eq!(got.len(), 2);
    let from = |id: &str| got.iter().find(|m| m["from"] == id).unwrap().clone();
    assert_eq!(from("mallory")["verified"], false);
    assert_eq!(from("mallory")["rejected"], "the sealed message cannot be opened");
    assert_eq!(from("eve")["verified"], false);
    assert!(from("eve")["rejected"]
        .as_str()
        .unwrap()
        .starts_with("eve is not pinned"));
    let (_, text, _) = b.call("get_messages", json!({})).await;
    assert!(!text.contains("trust me") && !text.contains("for bob only"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_with_messages_queued_and_revocation() {
    let s = Server::start(0).await;
    let (alice, bob) = pair(&s.url());
    let a = alice.bridge().await;
    a.ok(
        "send_message",
        json!({"recipient_id": "bob", "message": "sealed to bob's first key"}),
    )
    .await;
    // Bob rotates with that message still queued; alice rotates too.
    bob.mcpmsg(&["rotate"]);
    alice.mcpmsg(&["rotate"]);
    let a = alice.bridge().await;
    a.ok(
        "send_message",
        json!({"recipient_id": "bob", "message": "sealed to bob's second key"}),
    )
    .await;
    let b = bob.bridge().await;
    let got = b.read(2).await;
    let texts: Vec<&str> = got.iter().map(|m| m["text"].as_str().unwrap_or("REJECTED")).collect();
    assert_eq!(
        texts,
        ["sealed to bob's first key", "sealed to bob's second key"],
        "{got:?}"
    );
    assert!(got.iter().all(|m| m["verified"] == true));

    // Alice revokes; her later messages are refused by the server.
    alice.mcpmsg(&["revoke", "--reason", "retired"]);
    let (err, text, _) = a
        .call("send_message", json!({"recipient_id": "bob", "message": "ghost"}))
        .await;
    assert!(err && text.contains("[revoked]"), "{text}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn send_and_wait_between_two_bridges() {
    let s = Server::start(0).await;
    let (alice, bob) = pair(&s.url());
    let (a, b) = (alice.bridge().await, bob.bridge().await);
    let asking = tokio::spawn(async move {
        a.ok(
            "send_message_and_wait",
            json!({"recipient_id": "bob", "message": "ready?", "timeout_s": 20}),
        )
        .await
    });
    let question = b.read(1).await.remove(0);
    assert_eq!(question["text"], "ready?");
    let id = question["message_id"].as_str().unwrap();
    b.ok(
        "send_message",
        json!({"recipient_id": "alice", "message": "ready.", "in_reply_to": id}),
    )
    .await;
    let answer = asking.await.unwrap();
    assert_eq!(answer["timed_out"], false);
    assert_eq!(answer["reply"]["text"], "ready.");
    assert_eq!(answer["reply"]["verified"], true);
    assert_eq!(answer["reply"]["in_reply_to"], id);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bridges_keep_working_across_a_server_restart() {
    let s = Server::start(0).await;
    let port = s.port;
    let (alice, bob) = pair(&s.url());
    let (a, b) = (alice.bridge().await, bob.bridge().await);
    a.ok("send_message", json!({"recipient_id": "bob", "message": "before"}))
        .await;
    assert_eq!(b.read(1).await[0]["text"], "before");
    s.stop().await;

    // Down: a clear error, not a hang.
    let (err, text, _) = b.call("get_messages", json!({})).await;
    assert!(err && text.contains("unreachable"), "{text}");

    // Back, empty (in memory): each bridge checks in again by itself.
    let s = Server::start(port).await;
    b.ok("get_messages", json!({})).await;
    a.ok("send_message", json!({"recipient_id": "bob", "message": "after"}))
        .await;
    assert_eq!(b.read(1).await[0]["text"], "after");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_tampered_in_transit_are_rejected() {
    let s = Server::start(0).await;
    let proxy = tampering_proxy(s.url()).await;
    let alice = User::new("alice", &s.url());
    // Bob reaches the server only through the tampering relay.
    let bob = User::new("bob", &proxy);
    alice.pin(&bob);
    bob.pin(&alice);
    alice.mcpmsg(&["send", "bob", "sealed and signed"]);
    alice.mcpmsg(&["send", "bob", "signed, in the clear", "--no-seal"]);
    let b = bob.bridge().await;
    let got = b.read(2).await;
    assert_eq!(got.len(), 2);
    for m in &got {
        assert_eq!(m["verified"], false, "{m}");
        assert_eq!(m["rejected"], "the signature does not verify: altered or forged");
    }
    let out = Command::new(MCPMSG)
        .arg("--config")
        .arg(bob.config())
        .arg("recv")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "nothing left to read");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shell_messaging_end_to_end() {
    let s = Server::start(0).await;
    let (alice, bob) = (User::new("alice", &s.url()), User::new("bob", &s.url()));
    let fp = |u: &User| {
        serde_json::from_str::<Value>(&u.mcpmsg(&["whoami", "--json"])).unwrap()["fingerprint"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // A wrong fingerprint is refused (exit 1) and nothing is pinned.
    let wrong = "0".repeat(64);
    let out = Command::new(MCPMSG)
        .arg("--config")
        .arg(alice.config())
        .args(["recipients", "add", "bob", "--fingerprint", &wrong])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("do not trust this log"));
    assert!(alice
        .mcpmsg(&["recipients", "list"])
        .starts_with("no recipients pinned"));
    assert!(alice
        .mcpmsg(&["recipients", "add", "bob", "--fingerprint", &fp(&bob)])
        .contains("It matches the fingerprint you were given."));
    bob.mcpmsg(&["recipients", "add", "alice", "--fingerprint", &fp(&alice)]);

    let config = alice.config();
    let asking = std::thread::spawn(move || {
        Command::new(MCPMSG)
            .arg("--config")
            .arg(config)
            .args(["send", "bob", "review PR 42?", "--wait", "20"])
            .output()
            .unwrap()
    });
    let got = loop {
        let got: Value = serde_json::from_str(&bob.mcpmsg(&["recv", "--json", "--wait", "2"])).unwrap();
        if got.as_array().is_some_and(|a| !a.is_empty()) {
            break got;
        }
    };
    assert_eq!(
        (
            got[0]["text"].clone(),
            got[0]["verified"].clone(),
            got[0]["sealed"].clone()
        ),
        (json!("review PR 42?"), json!(true), json!(true))
    );
    let id = got[0]["message_id"].as_str().unwrap();
    assert!(bob
        .mcpmsg(&["send", "alice", "done", "--reply-to", id])
        .starts_with("sent to alice (sealed): message id "));
    let asked = asking.join().unwrap();
    let text = String::from_utf8(asked.stdout).unwrap();
    assert!(asked.status.success(), "{}", String::from_utf8_lossy(&asked.stderr));
    assert!(
        text.contains("From bob · just now · sealed · verified · id ")
            && text.contains(&format!("reply to {id}\n  done\n")),
        "{text}"
    );

    let rotated = bob.mcpmsg(&["rotate"]);
    assert!(
        rotated.ends_with(&format!("server: pushed to {}\n", s.url())),
        "{rotated}"
    );
    assert!(alice
        .mcpmsg(&["recipients", "refresh"])
        .contains("bob: rotated: seq 0 -> 1"));
    s.stop().await;
}
