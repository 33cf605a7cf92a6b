//! The server key (PROTOCOL §12): published by a public tool and at
//! `/.well-known/mcpmsg`, and signing every send's acceptance.

use mcpmsg_testkit as common;

use common::{register, Ident, TestServer};
use mcpmsg_core::crypto::SigningPublicKey;
use mcpmsg_core::protocol::server_statement::{Acceptance, ServerKeyInfo, StatementError};
use serde_json::json;

#[tokio::test]
async fn the_published_key_signs_every_acceptance() {
    let s = TestServer::start(&[]).await;
    let c = s.client().await;
    let info: ServerKeyInfo = serde_json::from_value(c.call("get_server_key", json!({})).await.ok()).unwrap();
    let well_known: ServerKeyInfo = reqwest::get(format!("{}/.well-known/mcpmsg", s.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info, well_known);
    let key = SigningPublicKey::parse(&info.server_key).unwrap();
    assert_eq!(key.fingerprint(), info.fingerprint);
    assert_eq!(info.limits.max_skew_s, 120);
    c.call("get_server_key", json!({"x": 1}))
        .await
        .refused("invalid_argument");

    let (alice, bob) = (Ident::new("alice"), Ident::new("bob"));
    register(&c, &[&alice, &bob]).await;
    let send = alice.send(&bob.id, "hello");
    let r = c.call("send_message", send.clone()).await.ok();
    let acceptance: Acceptance = serde_json::from_value(r["acceptance"].clone()).unwrap();
    assert_eq!(acceptance.verify(&key), Ok(()));
    assert_eq!(acceptance.message_id, r["message_id"].as_str().unwrap());
    assert_eq!(acceptance.received_at, r["received_at"].as_str().unwrap());
    assert_eq!(
        (acceptance.sender_id.as_str(), acceptance.recipient_id.as_str()),
        ("alice", "bob")
    );
    // A retry is answered with the very same statement.
    let again = c.call("send_message", send).await.ok();
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["acceptance"], r["acceptance"]);
    // Another server's key does not verify it.
    let other = TestServer::start(&[]).await;
    let other_info: ServerKeyInfo =
        serde_json::from_value(other.client().await.call("get_server_key", json!({})).await.ok()).unwrap();
    let other_key = SigningPublicKey::parse(&other_info.server_key).unwrap();
    assert_eq!(acceptance.verify(&other_key), Err(StatementError::OtherKey));
}

#[tokio::test]
async fn servers_sharing_a_key_file_publish_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared-key.json");
    let path = path.to_str().unwrap();
    let (a, b) = (
        TestServer::start(&["--server-key", path]).await,
        TestServer::start(&["--server-key", path]).await,
    );
    let info = |s: &TestServer| {
        let url = format!("{}/.well-known/mcpmsg", s.base);
        async move { reqwest::get(url).await.unwrap().json::<ServerKeyInfo>().await.unwrap() }
    };
    assert_eq!(info(&a).await.server_key, info(&b).await.server_key);
}
