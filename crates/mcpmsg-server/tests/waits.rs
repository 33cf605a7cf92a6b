//! Waits: send-and-wait woken by the reply or timing out plainly, many
//! parked readers each woken by their own message, and shutdown ending
//! parked waits.

use mcpmsg_testkit as common;

use std::time::{Duration, Instant};

use common::{ids, register, Ident, TestServer};
use serde_json::{json, Value};

#[tokio::test]
async fn send_and_wait_is_woken_by_the_reply_and_times_out_plainly() {
    let s = TestServer::start(&[]).await;
    let c = s.client().await;
    let (alice, bob) = (Ident::new("alice"), Ident::new("bob"));
    register(&c, &[&alice, &bob]).await;
    let mut args = alice.send("bob", "question?");
    args["timeout_s"] = json!(10);
    let c2 = s.client().await;
    let waiter = tokio::spawn(async move { c2.call("send_message_and_wait", args).await });
    let got = loop {
        let got = c.call("get_messages", bob.get(None, Some("5"), None)).await.ok();
        if !ids(&got).is_empty() {
            break got;
        }
    };
    let qid = got["messages"][0]["message_id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    c.call("send_message", bob.reply("alice", "answer!", &qid)).await.ok();
    let r = waiter.await.unwrap().ok();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "woken on arrival, not by a timer"
    );
    assert_eq!(r["timed_out"], false);
    assert_eq!(r["message_id"], qid.as_str());
    assert_eq!(r["reply"]["message"], "answer!");
    assert_eq!(r["reply"]["in_reply_to"], qid.as_str());

    let mut args = alice.send("bob", "anyone?");
    args["timeout_s"] = json!(1);
    let r = c.call("send_message_and_wait", args).await;
    assert!(r.text.contains("no reply arrived before the timeout"), "{}", r.text);
    let r = r.ok();
    assert_eq!(r["timed_out"], true);
    assert_eq!(r["reply"], Value::Null);
    let mut args = alice.send("bob", "too long");
    args["timeout_s"] = json!(51);
    c.call("send_message_and_wait", args).await.refused("invalid_argument");
    s.stop().await;
}

#[tokio::test]
async fn send_and_wait_prefers_the_reply_to_its_message() {
    let s = TestServer::start(&[]).await;
    let c = s.client().await;
    let (alice, bob) = (Ident::new("alice"), Ident::new("bob"));
    register(&c, &[&alice, &bob]).await;
    let mut args = alice.send("bob", "question?");
    // The message id derives from the signature, so bob's reply can be
    // queued before the question is sent, behind an unrelated message.
    let send: mcpmsg_core::protocol::SendMessage = serde_json::from_value(args.clone()).unwrap();
    let qid = send.message_id().unwrap();
    c.call("send_message", bob.send("alice", "unrelated")).await.ok();
    c.call("send_message", bob.reply("alice", "the answer", &qid))
        .await
        .ok();
    args["timeout_s"] = json!(0);
    let r = c.call("send_message_and_wait", args).await.ok();
    assert_eq!(r["reply"]["message"], "the answer");
    let left = c.call("get_messages", alice.get(None, None, None)).await.ok();
    assert_eq!(left["messages"].as_array().unwrap().len(), 1);
    assert_eq!(
        left["messages"][0]["message"], "unrelated",
        "other messages stay queued"
    );
    s.stop().await;
}

#[tokio::test]
async fn two_hundred_waiters_are_each_woken_by_their_own_message() {
    let s = TestServer::start(&[]).await;
    let c = s.client().await;
    let sender = Ident::new("sender");
    register(&c, &[&sender]).await;
    let mut waiters = Vec::new();
    let mut names = Vec::new();
    for i in 0..200 {
        let w = Ident::new(&format!("w{i}"));
        register(&c, &[&w]).await;
        names.push(w.id.clone());
        waiters.push(w);
    }
    let client = std::sync::Arc::new(s.client().await);
    let tasks: Vec<_> = waiters
        .into_iter()
        .map(|w| {
            let client = client.clone();
            tokio::spawn(async move {
                (
                    w.id.clone(),
                    client.call("get_messages", w.get(None, Some("30"), None)).await.ok(),
                )
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    for n in &names {
        c.call("send_message", sender.send(n, &format!("for {n}"))).await.ok();
    }
    for t in tasks {
        let (id, got) = t.await.unwrap();
        let msgs = got["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 1, "{id}");
        assert_eq!(msgs[0]["message"], format!("for {id}"));
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "woken by arrivals, not the 30 s timeout"
    );
    s.stop().await;
}

#[tokio::test]
async fn shutdown_ends_parked_waits_cleanly() {
    let s = TestServer::start(&[]).await;
    let c = s.client().await;
    let bob = Ident::new("bob");
    register(&c, &[&bob]).await;
    let waiter = tokio::spawn(async move { c.call("get_messages", bob.get(None, Some("40"), None)).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    s.stop().await;
    assert_eq!(waiter.await.unwrap().ok(), json!({"messages": []}));
    assert!(started.elapsed() < Duration::from_secs(5));
}
