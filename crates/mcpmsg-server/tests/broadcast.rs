//! Broadcast (PROTOCOL §18e) on both stores and across nodes.

use mcpmsg_testkit as common;

use common::broadcast::{
    a_filter_reaches_each_match_once, a_sealed_broadcast_opens_for_exactly_its_recipients,
    broadcast_refusals_queue_nothing,
};
use common::redis::RedisServer;
use common::{register, Ident, TestServer};

#[tokio::test(flavor = "multi_thread")]
async fn broadcast_in_memory() {
    let s = TestServer::start(&[]).await;
    let c = s.client().await;
    a_filter_reaches_each_match_once([&c, &c], 40).await;
    a_sealed_broadcast_opens_for_exactly_its_recipients([&c, &c]).await;
    broadcast_refusals_queue_nothing(&c).await;
    s.stop().await;
}

/// 200 clients spread over two nodes sharing one Redis: every match gets
/// the broadcast exactly once, whichever node it reads from.
#[tokio::test(flavor = "multi_thread")]
async fn broadcast_to_200_clients_across_two_redis_nodes() {
    let redis = RedisServer::start();
    let [n1, n2] = TestServer::two_nodes(&redis.url()).await;
    let (c1, c2) = (n1.client().await, n2.client().await);
    a_filter_reaches_each_match_once([&c1, &c2], 200).await;
    a_sealed_broadcast_opens_for_exactly_its_recipients([&c1, &c2]).await;
    broadcast_refusals_queue_nothing(&c2).await;
    n1.stop().await;
    n2.stop().await;
}

/// `--max-broadcast-recipients` refuses a filter matching more with
/// `too_large`, and `--broadcast-rate` a further broadcast with
/// `rate_limited`; neither queues anything.
#[tokio::test(flavor = "multi_thread")]
async fn broadcast_limits_refuse_with_their_codes() {
    let s = TestServer::start(&["--max-broadcast-recipients", "1", "--broadcast-rate", "2"]).await;
    let c = s.client().await;
    let (a, b, d) = (Ident::new("caster"), Ident::new("one"), Ident::new("two"));
    register(&c, &[&a, &b, &d]).await;
    for who in [&b, &d] {
        c.call("checkin_client", who.checkin(false)).await.ok();
        c.call("declare_capabilities", who.declare("ops", "")).await.ok();
    }
    let msg = c
        .call("broadcast", a.broadcast(["ops", "", ""], "", "to both"))
        .await
        .refused("too_large");
    assert!(msg.contains("--max-broadcast-recipients"), "{msg}");
    assert!(common::broadcast::broadcasts(&c, &b).await.is_empty());
    // Each call counts against the rate, refused or not: the second is
    // judged (and refused by its own limit), the third is over the rate.
    c.call("broadcast", a.broadcast(["ops", "", "active"], "", "x"))
        .await
        .refused("too_large");
    let msg = c
        .call("broadcast", a.broadcast(["nobody", "", ""], "", "x"))
        .await
        .refused("rate_limited");
    assert!(msg.contains("--broadcast-rate"), "{msg}");
    s.stop().await;
}

/// The independent implementation (tests/independent/check_broadcast.py,
/// written from PROTOCOL.md alone with the official MCP SDK) registers a
/// protocol, declares it, and receives a typed and a sealed broadcast,
/// verifying each; on memory and across two Redis nodes' shared store.
#[tokio::test(flavor = "multi_thread")]
async fn an_independent_client_registers_declares_and_receives_broadcasts() {
    let s = TestServer::start(&[]).await;
    independent_live(&s.url).await;
    s.stop().await;
    let redis = RedisServer::start();
    let [n1, n2] = TestServer::two_nodes(&redis.url()).await;
    independent_live(&n2.url).await;
    n1.stop().await;
    n2.stop().await;
}

async fn independent_live(url: &str) {
    let url = url.to_owned();
    // Blocking on a thread of its own: the server answers on this runtime.
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/independent/check_broadcast.py"
            ))
            .args(["live", &url])
            .output()
            .expect("python3 is needed for the independent checks")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.contains("4 passed, 0 failed"),
        "install the independent client's packages: python3 -m pip install -r tests/independent/requirements.txt\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
