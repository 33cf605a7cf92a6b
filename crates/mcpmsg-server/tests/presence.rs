//! Presence on one in-memory server (two clients of it); the same check
//! across two Redis nodes is in `nodes.rs`.

use mcpmsg_testkit as common;

use common::{presence_follows_signed_calls, register, Ident, TestServer};

#[tokio::test]
async fn presence_follows_signed_calls_on_memory() {
    let s = TestServer::start(&["--idle-after", "1", "--offline-after", "2"]).await;
    let (a, b) = (s.client().await, s.client().await);
    let alice = Ident::new("alice");
    register(&a, &[&alice]).await;
    presence_follows_signed_calls(&a, &b, &alice).await;
}

#[tokio::test]
async fn thresholds_out_of_order_are_refused_at_start() {
    let args = ["mcpmsg-server", "--idle-after", "10", "--offline-after", "5"];
    let err = <mcpmsg_server::config::ServerArgs as clap::Parser>::parse_from(args)
        .validate()
        .unwrap_err();
    assert!(err.to_string().contains("--offline-after"), "{err}");
}
