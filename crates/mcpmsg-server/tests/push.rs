//! Push (PROTOCOL §13) on one in-memory server: the inbox resource, its
//! token, and `subscriptions/listen`. Across two Redis nodes: `nodes.rs`.

use mcpmsg_testkit as common;

use common::{a_send_pokes_a_listener, register, Ident, TestServer};
use rmcp::model::ReadResourceRequestParams;
use serde_json::{json, Value};

#[tokio::test]
async fn a_listener_is_poked_and_the_inbox_reads_as_a_count() {
    let s = TestServer::start(&[]).await;
    let (listener, sender) = (s.client_2026().await, s.client().await);
    let (alice, bob) = (Ident::new("alice"), Ident::new("bob"));
    register(&sender, &[&alice, &bob]).await;
    let took = a_send_pokes_a_listener(&listener, &sender, &alice, &bob).await;
    eprintln!("poke after {took:?} (reported, not asserted)");

    // Reading the resource counts; it takes nothing.
    let uri = common::inbox_uri(&listener, &bob).await;
    sender.call("send_message", alice.send(&bob.id, "one")).await.ok();
    let read = listener
        .svc
        .peer()
        .read_resource(ReadResourceRequestParams::new(uri.clone()))
        .await
        .unwrap();
    let text = serde_json::to_value(&read.contents[0]).unwrap()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text).unwrap(),
        json!({"client_id": "bob", "queued": 1})
    );
    // A wrong token is "not found", like an unknown URI.
    let forged = uri.replace("token=", "token=x");
    assert!(listener
        .svc
        .peer()
        .read_resource(ReadResourceRequestParams::new(forged))
        .await
        .is_err());
    // The URI is only for the signed caller: a bad signature gets nothing.
    let mut unsigned = bob.signed(mcpmsg_core::protocol::tools::GetInboxUriArgs {
        client_id: bob.id.clone(),
        ..Default::default()
    });
    unsigned["sig"] = json!("A".repeat(86));
    listener.call("get_inbox_uri", unsigned).await.refused("bad_signature");
}

/// The 2025-11-25 path: with `--sessions`, `resources/subscribe` pokes the
/// session's GET stream; `resources/unsubscribe` stops it. Without
/// sessions, subscribe is refused with a pointer to `subscriptions/listen`.
#[tokio::test]
async fn a_session_subscription_is_poked_until_unsubscribed() {
    use rmcp::model::{SubscribeRequestParams, UnsubscribeRequestParams};
    let s = TestServer::start(&["--sessions"]).await;
    let sender = s.client().await;
    let (alice, bob) = (Ident::new("alice"), Ident::new("bob"));
    register(&sender, &[&alice, &bob]).await;
    let (session, mut pokes) = common::session_client_with_pokes(&s.url).await;
    let args = bob.signed(mcpmsg_core::protocol::tools::GetInboxUriArgs {
        client_id: bob.id.clone(),
        ..Default::default()
    });
    let Value::Object(map) = args else { unreachable!() };
    let got = session
        .peer()
        .call_tool(rmcp::model::CallToolRequestParams::new("get_inbox_uri").with_arguments(map))
        .await
        .unwrap();
    let uri = got.structured_content.unwrap()["uri"].as_str().unwrap().to_owned();
    #[allow(deprecated)]
    session
        .peer()
        .subscribe(SubscribeRequestParams::new(uri.clone()))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    sender.call("send_message", alice.send(&bob.id, "one")).await.ok();
    let poked = tokio::time::timeout(std::time::Duration::from_secs(5), pokes.recv()).await;
    assert_eq!(poked.expect("a poke within 5 s").as_deref(), Some(uri.as_str()));
    // A session holds at most 16 subscriptions (this one and 15 more).
    for i in 0..15 {
        #[allow(deprecated)]
        let more = session
            .peer()
            .subscribe(SubscribeRequestParams::new(format!("mcpmsg://other/{i}")))
            .await;
        more.unwrap();
    }
    #[allow(deprecated)]
    let over = session
        .peer()
        .subscribe(SubscribeRequestParams::new("mcpmsg://other/16"))
        .await;
    assert_eq!(rpc_code(over.unwrap_err()), -32600);
    #[allow(deprecated)]
    session
        .peer()
        .unsubscribe(UnsubscribeRequestParams::new(uri.clone()))
        .await
        .unwrap();
    sender.call("send_message", alice.send(&bob.id, "two")).await.ok();
    let none = tokio::time::timeout(std::time::Duration::from_millis(500), pokes.recv()).await;
    assert!(none.is_err(), "no poke after unsubscribe: {none:?}");

    // Without sessions there is no stream to poke: refused, with the way out.
    let stateless = TestServer::start(&[]).await;
    let c = stateless.client().await;
    #[allow(deprecated)]
    let err = c
        .svc
        .peer()
        .subscribe(SubscribeRequestParams::new(uri))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("subscriptions/listen"), "{err}");
    assert_eq!(rpc_code(err), -32600);
}

/// The JSON-RPC error code of a refused request.
fn rpc_code(e: rmcp::ServiceError) -> i32 {
    match e {
        rmcp::ServiceError::McpError(data) => data.code.0,
        other => panic!("expected a JSON-RPC error, got {other}"),
    }
}
