//! Events (PROTOCOL §14): signed by the server key, queued beside messages,
//! leased, acknowledged and expired like them, on both stores.

use mcpmsg_testkit as common;

use common::redis::RedisServer;
use common::{register, Ident, TestServer};
use mcpmsg_core::crypto::SigningPublicKey;
use mcpmsg_core::protocol::server_statement::{ServerEvent, ServerKeyInfo};
use serde_json::{json, Value};

async fn an_event_round_trip(s: &TestServer) {
    let c = s.client().await;
    let (alice, bob) = (Ident::new("alice"), Ident::new("bob"));
    register(&c, &[&alice, &bob]).await;
    let info: ServerKeyInfo = serde_json::from_value(c.call("get_server_key", json!({})).await.ok()).unwrap();
    let server_key = SigningPublicKey::parse(&info.server_key).unwrap();

    c.call("send_message", alice.send(&bob.id, "a message first"))
        .await
        .ok();
    let data = [("partner_id".to_owned(), "alice".to_owned())].into();
    let emitted = s.broker.emit_event(&bob.id, "test.ping", data).await.unwrap();

    let got = c.call("get_messages", bob.get(None, None, Some("manual"))).await.ok();
    let items = got["messages"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{got}");
    assert!(items[0].get("kind").is_none(), "a message keeps its v1 shape");
    assert_eq!(items[0]["message"], "a message first");
    assert_eq!(items[1]["kind"], "event");
    let event: ServerEvent = serde_json::from_value(items[1].clone()).unwrap();
    assert_eq!(event, emitted);
    assert_eq!(event.verify(&server_key, &bob.id), Ok(()));
    assert_eq!(event.data["partner_id"], "alice");

    // Leased like a message: acknowledged by its event_id.
    let ids = [items[0]["message_id"].as_str().unwrap(), event.event_id.as_str()];
    let acked = c.call("ack_messages", bob.ack(&ids)).await.ok();
    assert_eq!(acked["acked"].as_array().unwrap().len(), 2, "{acked}");
    assert_eq!(
        c.call("get_messages", bob.get(None, None, None)).await.ok()["messages"],
        json!([])
    );
    // Nobody else sees it.
    assert_eq!(
        c.call("get_messages", alice.get(None, None, None)).await.ok()["messages"],
        json!([])
    );
    // An event for someone who never registered is still bounded by the
    // queue limits, and refused with a code when they are reached.
    let full = TestServer::start(&["--max-queue", "1"]).await;
    let fc = full.client().await;
    register(&fc, &[&bob]).await;
    full.broker
        .emit_event(&bob.id, "test.ping", Default::default())
        .await
        .unwrap();
    let refused = full
        .broker
        .emit_event(&bob.id, "test.ping", Default::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code.as_str(), "queue_full");
    // Data is bounded: a value over 4096 bytes is refused, and nothing is queued.
    let big = [("v".to_owned(), "x".repeat(4097))].into();
    let refused = s.broker.emit_event(&alice.id, "test.ping", big).await.unwrap_err();
    assert_eq!(refused.code.as_str(), "invalid_argument");
    assert_eq!(
        c.call("get_messages", alice.get(None, None, None)).await.ok()["messages"],
        json!([])
    );
    let _: Value = fc.call("get_messages", bob.get(None, None, None)).await.ok();
}

#[tokio::test]
async fn events_round_trip_on_memory() {
    an_event_round_trip(&TestServer::start(&[]).await).await;
}

#[tokio::test]
async fn events_round_trip_on_redis() {
    let redis = RedisServer::start();
    an_event_round_trip(&TestServer::start(&["--store", &redis.url()]).await).await;
}
