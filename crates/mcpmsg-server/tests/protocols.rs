//! The protocol registry (PROTOCOL §18) on both stores and across nodes.

use mcpmsg_testkit as common;

use common::protocols::the_registry_keeps_names_owned_and_versions_immutable;
use common::redis::RedisServer;
use common::TestServer;

#[tokio::test(flavor = "multi_thread")]
async fn the_registry_in_memory() {
    let s = TestServer::start(&[]).await;
    the_registry_keeps_names_owned_and_versions_immutable(&s.client().await).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_registry_across_two_redis_nodes() {
    let redis = RedisServer::start();
    let [n1, n2] = TestServer::two_nodes(&redis.url()).await;
    the_registry_keeps_names_owned_and_versions_immutable(&n1.client().await).await;
    // The other node reads the same registry and its owners.
    let c2 = n2.client().await;
    let all = c2.call("discover_protocols", serde_json::json!({})).await.ok();
    assert_eq!(all["protocols"].as_array().unwrap().len(), 4, "{all}");
    let dave = common::Ident::new("dave");
    common::register(&c2, &[&dave]).await;
    let msg = c2
        .call(
            "register_protocol",
            dave.protocol("code_review", "9.0.0", common::protocols::REVIEW_SCHEMA, "", ""),
        )
        .await
        .refused("not_owner");
    assert!(msg.contains("belongs to alice"), "{msg}");
    n1.stop().await;
    n2.stop().await;
}

/// Registry limits refuse with `too_large` naming their flags, and a
/// schema over the size or depth limit with `invalid_schema`.
#[tokio::test(flavor = "multi_thread")]
async fn registry_limits_refuse_with_their_codes() {
    use common::protocols::REVIEW_SCHEMA;
    use common::{register, Ident};
    let flags = [
        "--max-protocols",
        "1",
        "--max-protocol-versions",
        "1",
        "--max-schema-bytes",
        "200",
        "--max-schema-depth",
        "3",
    ];
    let s = TestServer::start(&flags).await;
    let c = s.client().await;
    let a = Ident::new("alice");
    register(&c, &[&a]).await;
    c.call("register_protocol", a.protocol("one", "1.0.0", REVIEW_SCHEMA, "", ""))
        .await
        .ok();
    let msg = c
        .call("register_protocol", a.protocol("one", "1.1.0", REVIEW_SCHEMA, "", ""))
        .await
        .refused("too_large");
    assert!(msg.contains("--max-protocol-versions"), "{msg}");
    let msg = c
        .call("register_protocol", a.protocol("two", "1.0.0", REVIEW_SCHEMA, "", ""))
        .await
        .refused("too_large");
    assert!(msg.contains("--max-protocols"), "{msg}");
    let big = format!(r#"{{"description": "{}"}}"#, "x".repeat(300));
    let msg = c
        .call("register_protocol", a.protocol("one", "2.0.0", &big, "", ""))
        .await
        .refused("invalid_schema");
    assert!(msg.contains("over the limit of 200"), "{msg}");
    let deep = r#"{"properties": {"a": {"properties": {"b": {"type": "string"}}}}}"#;
    let msg = c
        .call("register_protocol", a.protocol("one", "2.0.0", deep, "", ""))
        .await
        .refused("invalid_schema");
    assert!(msg.contains("deep, over the limit of 3"), "{msg}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn declarations_and_negotiation_in_memory() {
    let s = TestServer::start(&[]).await;
    let c = s.client().await;
    common::protocols::declarations_filter_and_negotiate([&c, &c]).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn declarations_and_negotiation_across_two_redis_nodes() {
    let redis = RedisServer::start();
    let [n1, n2] = TestServer::two_nodes(&redis.url()).await;
    let (c1, c2) = (n1.client().await, n2.client().await);
    common::protocols::declarations_filter_and_negotiate([&c1, &c2]).await;
    n1.stop().await;
    n2.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn typed_messages_are_validated_on_both_stores() {
    let s = TestServer::start(&[]).await;
    common::protocols::typed_messages_are_validated(&s.client().await).await;
    s.stop().await;
    let redis = RedisServer::start();
    let s = TestServer::start(&["--store", &redis.url()]).await;
    common::protocols::typed_messages_are_validated(&s.client().await).await;
    s.stop().await;
}

/// Version adapters (PROTOCOL §18f): registered by an owner who signed one
/// of the two versions, once, refused with exact codes, listed in order.
#[tokio::test(flavor = "multi_thread")]
async fn adapters_on_both_stores_and_across_nodes() {
    let s = TestServer::start(&[]).await;
    let c = s.client().await;
    common::adapters::adapters_are_owned_once_and_listed([&c, &c]).await;
    s.stop().await;
    let redis = RedisServer::start();
    let [n1, n2] = TestServer::two_nodes(&redis.url()).await;
    let (c1, c2) = (n1.client().await, n2.client().await);
    common::adapters::adapters_are_owned_once_and_listed([&c1, &c2]).await;
    n1.stop().await;
    n2.stop().await;
}

/// `--max-adapters` refuses one more with `too_large`, naming the flag.
#[tokio::test(flavor = "multi_thread")]
async fn the_adapter_limit_refuses_with_too_large() {
    use common::{register, Ident};
    let s = TestServer::start(&["--max-adapters", "1"]).await;
    let c = s.client().await;
    let a = Ident::new("alice");
    register(&c, &[&a]).await;
    for v in ["1.0.0", "2.0.0"] {
        c.call(
            "register_protocol",
            a.protocol("one", v, common::protocols::REVIEW_SCHEMA, "", ""),
        )
        .await
        .ok();
    }
    let ops = r#"[{"op":"remove","path":"/lines"}]"#;
    c.call("register_adapter", a.adapter("one", "1.0.0", "2.0.0", ops))
        .await
        .ok();
    let msg = c
        .call("register_adapter", a.adapter("one", "2.0.0", "1.0.0", ops))
        .await
        .refused("too_large");
    assert!(msg.contains("--max-adapters"), "{msg}");
    s.stop().await;
}
