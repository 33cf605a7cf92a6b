//! Pen-pal pairing (PROTOCOL §16) on both stores and across two nodes:
//! paired once, never twice, never with oneself; told with
//! `chatroom.found`; a leaver's partner told with `partner.disconnected`;
//! refusals with their codes.

use mcpmsg_testkit as common;

use common::pairing::{
    events, many_enter_and_each_is_paired_once, pairing_prefers_shared_interests, two_pen_pals_talk_and_one_leaves,
};
use common::redis::RedisServer;
use common::{register, Ident, TestServer};

#[tokio::test(flavor = "multi_thread")]
async fn pen_pals_in_memory() {
    let s = TestServer::start(&[]).await;
    let c = s.client().await;
    two_pen_pals_talk_and_one_leaves(&c, &c).await;
    pairing_prefers_shared_interests(&c).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pen_pals_across_two_redis_nodes() {
    let redis = RedisServer::start();
    let url = redis.url();
    let [n1, n2] = TestServer::two_nodes(&url).await;
    let (c1, c2) = (n1.client().await, n2.client().await);
    two_pen_pals_talk_and_one_leaves(&c1, &c2).await;
    pairing_prefers_shared_interests(&c2).await;
    n1.stop().await;
    n2.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_clients_through_two_redis_nodes_make_fifty_rooms() {
    let redis = RedisServer::start();
    let url = redis.url();
    let [n1, n2] = TestServer::two_nodes(&url).await;
    let (c1, c2) = (n1.client().await, n2.client().await);
    many_enter_and_each_is_paired_once(&[&c1, &c2], 100).await;
    n1.stop().await;
    n2.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_clients_in_memory_make_fifty_rooms() {
    let s = TestServer::start(&[]).await;
    let c = s.client().await;
    many_enter_and_each_is_paired_once(&[&c], 100).await;
    s.stop().await;
}

/// A waiting client that went offline (no signed call for longer than
/// `--offline-after`) is dropped from the queue, on both stores.
#[tokio::test(flavor = "multi_thread")]
async fn an_offline_client_is_dropped_from_the_queue() {
    let redis = RedisServer::start();
    let url = redis.url();
    for flags in [vec![], vec!["--store", url.as_str()]] {
        let mut all = vec!["--idle-after", "1", "--offline-after", "2"];
        all.extend(flags);
        let s = TestServer::start(&all).await;
        let c = s.client().await;
        let (a, b) = (Ident::new("alice"), Ident::new("bob"));
        register(&c, &[&a, &b]).await;
        // bob's check-in was his last call for a while.
        assert_eq!(
            c.call("enter_queue", a.enter_queue("", "", "60")).await.ok()["status"],
            "waiting"
        );
        tokio::time::sleep(std::time::Duration::from_millis(3_200)).await;
        let r = c.call("enter_queue", b.enter_queue("", "", "60")).await.ok();
        assert_eq!(r["status"], "waiting", "alice was offline and dropped: {r}");
        assert!(events(&c, &a, "chatroom.found").await.is_empty());
        s.stop().await;
    }
}

/// Entering is rate-limited per client (`--pair-rate` a minute).
#[tokio::test(flavor = "multi_thread")]
async fn entering_is_rate_limited() {
    let s = TestServer::start(&["--pair-rate", "2"]).await;
    let c = s.client().await;
    let a = Ident::new("alice");
    register(&c, &[&a]).await;
    for _ in 0..2 {
        c.call("enter_queue", a.enter_queue("", "", "60")).await.ok();
    }
    let msg = c
        .call("enter_queue", a.enter_queue("", "", "60"))
        .await
        .refused("rate_limited");
    assert!(msg.contains("--pair-rate"), "{msg}");
    s.stop().await;
}

/// Malformed interests are refused with `invalid_argument` naming the
/// field, and the client is not queued.
#[tokio::test(flavor = "multi_thread")]
async fn malformed_interests_are_refused() {
    let s = TestServer::start(&[]).await;
    let c = s.client().await;
    let a = Ident::new("alice");
    register(&c, &[&a]).await;
    for bad in ["Chess", "chess,chess", "a b", "a,b,c,d,e,f,g,h,i"] {
        let msg = c
            .call("enter_queue", a.enter_queue("", bad, "60"))
            .await
            .refused("invalid_argument");
        assert!(msg.starts_with("interests: up to 8 distinct tags"), "{bad}: {msg}");
    }
    let r = c.call("leave_queue", a.leave_queue()).await.ok();
    assert_eq!(r["removed"], false, "nothing was queued");
    s.stop().await;
}

/// Interests are a preference: a client that waited `--pair-grace` is
/// paired with the next entrant, shared interests or not.
#[tokio::test(flavor = "multi_thread")]
async fn after_its_grace_a_waiting_client_is_paired_with_anyone() {
    let s = TestServer::start(&["--pair-grace", "1"]).await;
    let c = s.client().await;
    let (a, b) = (Ident::new("alice"), Ident::new("bob"));
    register(&c, &[&a, &b]).await;
    assert_eq!(
        c.call("enter_queue", a.enter_queue("", "rust", "60")).await.ok()["status"],
        "waiting"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let r = c.call("enter_queue", b.enter_queue("", "go", "60")).await.ok();
    assert_eq!(r["partner_id"], "alice", "{r}");
    s.stop().await;
}

/// Two clients with no shared interest that entered within each other's
/// grace are not left waiting for a third: once the older one's grace is
/// over, the server looks again and pairs them (on both stores, the
/// second across two nodes).
#[tokio::test(flavor = "multi_thread")]
async fn two_waiting_clients_are_paired_once_their_grace_is_over() {
    let flags = ["--pair-grace", "1"];
    let redis = RedisServer::start();
    let url = redis.url();
    let memory = TestServer::start(&flags).await;
    let nodes = TestServer::two_nodes_with(&url, &flags).await;
    let cases = [
        (memory.client().await, memory.client().await),
        (nodes[0].client().await, nodes[1].client().await),
    ];
    for (ca, cb) in &cases {
        let (a, b) = (Ident::new("alice"), Ident::new("bob"));
        register(ca, &[&a, &b]).await;
        for (c, who, interest) in [(ca, &a, "rust"), (cb, &b, "go")] {
            let r = c.call("enter_queue", who.enter_queue("", interest, "60")).await.ok();
            assert_eq!(r["status"], "waiting", "{r}");
        }
        // Within a few rematch rounds (every half grace, at least 1 s).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut found = Vec::new();
        while found.is_empty() && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            found = events(cb, &b, "chatroom.found").await;
        }
        assert_eq!(found.len(), 1, "bob was paired once");
        assert_eq!(found[0]["data"]["partner_id"], "alice", "{found:?}");
        assert_eq!(events(ca, &a, "chatroom.found").await[0]["data"]["partner_id"], "bob");
    }
    memory.stop().await;
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn block_lists_on_both_stores() {
    use common::pairing::blocking_refuses_messages_and_pairing;
    let redis = RedisServer::start();
    let url = redis.url();
    for flags in [vec![], vec!["--store", url.as_str()]] {
        let s = TestServer::start(&flags).await;
        let c = s.client().await;
        blocking_refuses_messages_and_pairing(&c).await;
        s.stop().await;
    }
}

/// A block list is bounded (`--max-blocks`), refused with `too_large`.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_block_list_is_refused() {
    let s = TestServer::start(&["--max-blocks", "1"]).await;
    let c = s.client().await;
    let (a, b, d) = (Ident::new("alice"), Ident::new("bob"), Ident::new("dave"));
    register(&c, &[&a, &b, &d]).await;
    c.call("block_client", a.block("bob", "block")).await.ok();
    c.call("block_client", a.block("bob", "block")).await.ok();
    let msg = c
        .call("block_client", a.block("dave", "block"))
        .await
        .refused("too_large");
    assert!(msg.contains("--max-blocks"), "{msg}");
    s.stop().await;
}

/// A pen-pal partner silent past `--offline-after` ends the room: the other
/// member gets `partner.disconnected` with `reason` `timeout`, on both
/// stores.
#[tokio::test(flavor = "multi_thread")]
async fn a_partner_gone_silent_ends_the_room_with_a_timeout() {
    let redis = RedisServer::start();
    let url = redis.url();
    for flags in [vec![], vec!["--store", url.as_str()]] {
        let mut all = vec!["--idle-after", "1", "--offline-after", "2"];
        all.extend(flags);
        let s = TestServer::start(&all).await;
        let c = s.client().await;
        let (a, b) = (Ident::new("alice"), Ident::new("bob"));
        register(&c, &[&a, &b]).await;
        c.call("enter_queue", a.enter_queue("", "", "60")).await.ok();
        let r = c.call("enter_queue", b.enter_queue("", "", "60")).await.ok();
        let room = r["room_id"].as_str().unwrap().to_owned();
        assert_eq!(events(&c, &a, "chatroom.found").await.len(), 1);
        // alice stays; bob says nothing more.
        let mut gone = Vec::new();
        for _ in 0..30 {
            c.call(
                "heartbeat",
                a.signed(mcpmsg_core::protocol::tools::HeartbeatArgs {
                    client_id: a.id.clone(),
                    ..Default::default()
                }),
            )
            .await
            .ok();
            gone = events(&c, &a, "partner.disconnected").await;
            if !gone.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        assert_eq!(gone.len(), 1, "no partner.disconnected within 9 s");
        assert_eq!(gone[0]["data"]["reason"], "timeout");
        assert_eq!(gone[0]["data"]["member"], "bob");
        c.call("get_room_log", a.room_log(&room)).await.refused("unknown_room");
        s.stop().await;
    }
}

/// A full pairing queue (`--max-pair-queue`) refuses an entrant nobody can
/// be paired with, with `queue_full`, and the one waiting stays.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_pairing_queue_is_refused() {
    let s = TestServer::start(&["--max-pair-queue", "1"]).await;
    let c = s.client().await;
    let (a, b) = (Ident::new("alice"), Ident::new("bob"));
    register(&c, &[&a, &b]).await;
    c.call("block_client", a.block("bob", "block")).await.ok();
    assert_eq!(
        c.call("enter_queue", a.enter_queue("", "", "60")).await.ok()["status"],
        "waiting"
    );
    let msg = c
        .call("enter_queue", b.enter_queue("", "", "60"))
        .await
        .refused("queue_full");
    assert!(msg.contains("--max-pair-queue"), "{msg}");
    assert_eq!(c.call("leave_queue", a.leave_queue()).await.ok()["removed"], true);
    s.stop().await;
}
