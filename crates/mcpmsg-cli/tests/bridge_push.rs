//! The bridge's push to the IDE (PROTOCOL §13): its background read leases
//! what arrives, verifies it, and tells a stdio client through
//! `notifications/claude/channel` and `notifications/resources/updated`;
//! nothing is acknowledged before the model fetched it.

mod common;

use std::time::Duration;

use common::ide::{ide_bridge, next, Ide};
use common::*;
use rmcp::model::SubscribeRequestParams;
use rmcp::service::RunningService;
use rmcp::RoleClient;
use serde_json::{json, Value};

/// The model calls the bridge's get_messages.
async fn model_reads(ide: &RunningService<RoleClient, Ide>) -> Value {
    let read = ide
        .peer()
        .call_tool(rmcp::model::CallToolRequestParams::new("get_messages").with_arguments(Default::default()))
        .await
        .unwrap();
    read.structured_content.unwrap()
}

fn sent_id(out: &str) -> String {
    out.split("message id ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_ide_is_told_and_nothing_is_acknowledged_before_the_model_reads() {
    let s = Server::start(0).await;
    let (alice, bob) = pair(&s.url());
    let (ide, mut pushed) = ide_bridge(&bob).await;
    assert!(ide
        .peer_info()
        .unwrap()
        .capabilities
        .experimental
        .as_ref()
        .is_some_and(|e| e.contains_key("claude/channel")));
    #[allow(deprecated)]
    ide.peer()
        .subscribe(SubscribeRequestParams::new("mcpmsg-bridge://inbox"))
        .await
        .unwrap();

    let id = sent_id(&alice.mcpmsg(&["send", "bob", "the secret plan"]));
    let channel = next(&mut pushed, "notifications/claude/channel").await;
    assert_eq!(
        channel["meta"],
        json!({"event": "message.received", "sender": "alice", "message_id": id})
    );
    let content = channel["content"].as_str().unwrap();
    assert!(
        content.contains("verified") && content.contains("get_messages"),
        "{content}"
    );
    assert!(
        !content.contains("secret plan"),
        "the body stays for get_messages: {content}"
    );
    assert_eq!(
        next(&mut pushed, "notifications/resources/updated").await["uri"],
        "mcpmsg-bridge://inbox"
    );

    // The IDE goes away before the model read it: nothing was acknowledged,
    // so the message comes back once its lease (1 s here) ends.
    ide.cancel().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (ide, mut pushed) = ide_bridge(&bob).await;
    let again = next(&mut pushed, "notifications/claude/channel").await;
    assert_eq!(again["meta"]["message_id"], id.as_str());
    // The model reads it: shown once, verified, then acknowledged.
    let got = model_reads(&ide).await;
    assert_eq!(got["messages"].as_array().unwrap().len(), 1, "{got}");
    assert_eq!(got["messages"][0]["text"], "the secret plan");
    assert_eq!(got["messages"][0]["verified"], true);
    ide.cancel().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let left = bob.mcpmsg(&["recv", "--json"]);
    assert_eq!(
        serde_json::from_str::<Value>(&left).unwrap(),
        json!([]),
        "acknowledged after get_messages"
    );
    s.stop().await;
}

/// Events (PROTOCOL §14) reach the IDE too, verified against the pinned
/// server key; one the server key did not sign is shown as REJECTED and
/// never announced.
#[tokio::test(flavor = "multi_thread")]
async fn events_are_verified_against_the_server_key_before_they_are_announced() {
    let s = Server::start(0).await;
    // Bob talks to the server through a relay that plants a forged event
    // in every read.
    let forger = std::sync::Arc::new(mcpmsg_core::crypto::SigningSecret::generate());
    let plant = move |v: &mut Value| {
        let Some(items) = v
            .pointer_mut("/result/structuredContent/messages")
            .and_then(Value::as_array_mut)
        else {
            return;
        };
        if items.is_empty() {
            return;
        }
        let forged = mcpmsg_core::protocol::server_statement::ServerEvent::sign(
            &forger,
            "chatroom.found",
            "FFFFFFFFFFFFFFFFFFFFFA",
            "bob",
            (
                mcpmsg_core::protocol::now_ms(),
                mcpmsg_core::protocol::now_ms() + 60_000,
            ),
            [("partner_id".to_owned(), "mallory".to_owned())].into(),
        );
        items.push(serde_json::to_value(forged).unwrap());
    };
    let relayed = relay(s.url(), |_: &[u8]| None, plant).await;
    let bob = User::new("bob", &relayed);
    let (ide, mut pushed) = ide_bridge(&bob).await;
    let data = [("partner_id".to_owned(), "alice".to_owned())].into();
    let event = s.broker.emit_event("bob", "test.ping", data).await.unwrap();
    let channel = next(&mut pushed, "notifications/claude/channel").await;
    assert_eq!(
        channel["meta"],
        json!({"event": "test.ping", "sender": "the server", "message_id": event.event_id})
    );
    let got = model_reads(&ide).await;
    let items = got["messages"].as_array().unwrap();
    let genuine = items
        .iter()
        .find(|i| i["message_id"] == event.event_id.as_str())
        .expect("the event");
    assert_eq!(genuine["verified"], true);
    assert_eq!(genuine["event"], "test.ping");
    assert_eq!(genuine["text"], "event test.ping: partner\\_id = alice");
    let forged = items
        .iter()
        .find(|i| i["message_id"] == "FFFFFFFFFFFFFFFFFFFFFA")
        .expect("the forged event, marked");
    assert_eq!(forged["verified"], false);
    assert!(
        forged["rejected"].as_str().unwrap().contains("pinned server key"),
        "{forged}"
    );
    // The forged one was never announced.
    while let Ok(Some((method, params))) = tokio::time::timeout(Duration::from_millis(300), pushed.recv()).await {
        assert!(
            !(method == "notifications/claude/channel" && params["meta"]["message_id"] == "FFFFFFFFFFFFFFFFFFFFFA")
        );
    }
    ide.cancel().await.unwrap();
    s.stop().await;
}
