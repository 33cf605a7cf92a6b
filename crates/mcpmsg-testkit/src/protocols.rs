//! The protocol registry (PROTOCOL §18) as clients use it, and the
//! scenario every store and topology must pass: registration and its
//! refusals with their exact codes, reading, and discovery with filters
//! and pages.

use mcpmsg_core::protocol::tools::{RegisterProtocolArgs, SignedArgs};
use serde_json::{json, Value};

use super::{register, Client, Ident};

/// A schema of a review request: `title` (string) required, `lines` an
/// integer.
pub const REVIEW_SCHEMA: &str =
    r#"{"type":"object","required":["title"],"properties":{"title":{"type":"string"},"lines":{"type":"integer"}}}"#;

impl Ident {
    /// register_protocol arguments.
    pub fn protocol(&self, name: &str, version: &str, schema: &str, tags: &str, co_owners: &str) -> Value {
        self.signed(RegisterProtocolArgs {
            client_id: self.id.clone(),
            name: name.to_owned(),
            version: version.to_owned(),
            schema: schema.to_owned(),
            kinds: "point_to_point,broadcast".to_owned(),
            description: format!("{name}, as {} registers it ✓", self.id),
            tags: tags.to_owned(),
            co_owners: co_owners.to_owned(),
            ..Default::default()
        })
    }
}

/// alice registers `code_review` 1.0.0 and 1.1.0 with bob as co-owner;
/// bob adds 2.0.0; carol may not; duplicates, bad names, versions and
/// schemas are refused with their codes and register nothing; reading
/// and discovery return what was registered, with the signed registration.
pub async fn the_registry_keeps_names_owned_and_versions_immutable(c: &Client) {
    let (a, b, carol) = (Ident::new("alice"), Ident::new("bob"), Ident::new("carol"));
    register(c, &[&a, &b, &carol]).await;
    let r = c
        .call(
            "register_protocol",
            a.protocol("code_review", "1.0.0", REVIEW_SCHEMA, "ci,review", "bob"),
        )
        .await
        .ok();
    assert_eq!(
        (r["owner"].as_str(), r["co_owners"].clone()),
        (Some("alice"), json!(["bob"])),
        "{r}"
    );
    let msg = c
        .call(
            "register_protocol",
            a.protocol("code_review", "1.0.0", REVIEW_SCHEMA, "ci", "bob"),
        )
        .await
        .refused("protocol_exists");
    assert!(msg.contains("code_review@1.0.0"), "{msg}");
    c.call(
        "register_protocol",
        a.protocol("code_review", "1.1.0", REVIEW_SCHEMA, "ci,review", "bob"),
    )
    .await
    .ok();
    // A co-owner adds versions, but does not change the co-owners.
    c.call(
        "register_protocol",
        b.protocol("code_review", "2.0.0", REVIEW_SCHEMA, "review", ""),
    )
    .await
    .ok();
    c.call(
        "register_protocol",
        b.protocol("code_review", "2.1.0", REVIEW_SCHEMA, "review", "carol"),
    )
    .await
    .refused("not_owner");
    let msg = c
        .call(
            "register_protocol",
            carol.protocol("code_review", "3.0.0", REVIEW_SCHEMA, "", ""),
        )
        .await
        .refused("not_owner");
    assert!(msg.contains("belongs to alice"), "{msg}");
    let msg = c
        .call(
            "register_protocol",
            a.protocol("code_review", "1.2", REVIEW_SCHEMA, "", ""),
        )
        .await
        .refused("invalid_argument");
    assert!(msg.starts_with("version: not a semver version"), "{msg}");
    c.call(
        "register_protocol",
        a.protocol("Code-Review", "1.0.0", REVIEW_SCHEMA, "", ""),
    )
    .await
    .refused("invalid_argument");
    let msg = c
        .call(
            "register_protocol",
            a.protocol("broken", "1.0.0", r#"{"type": 5}"#, "", ""),
        )
        .await
        .refused("invalid_schema");
    assert!(msg.contains("refused by the JSON Schema compiler"), "{msg}");
    c.call("register_protocol", a.protocol("broken", "1.0.0", "{not json", "", ""))
        .await
        .refused("invalid_schema");
    // A forged registration (bob's name on alice's signature) is refused.
    let mut forged = a.protocol("forged", "1.0.0", REVIEW_SCHEMA, "", "");
    forged["client_id"] = json!("bob");
    c.call("register_protocol", forged).await.refused("bad_signature");

    // Reading: the highest version, one in a range, an exact one.
    let p = c.call("get_protocol", json!({"name": "code_review"})).await.ok();
    assert_eq!(p["registration"]["version"], "2.0.0");
    assert_eq!(p["registration"]["client_id"], "bob");
    let reg: RegisterProtocolArgs = serde_json::from_value(p["registration"].clone()).unwrap();
    let bob_key = b.key().public();
    let sig = mcpmsg_core::crypto::b64::decode_array::<64>(&reg.sig).unwrap();
    bob_key
        .verify(&reg.sign_input(), &sig)
        .expect("the registration is bob's, as signed");
    let p = c
        .call("get_protocol", json!({"name": "code_review", "version": "^1"}))
        .await
        .ok();
    assert_eq!(p["registration"]["version"], "1.1.0");
    assert_eq!(p["registration"]["schema"], REVIEW_SCHEMA);
    c.call("get_protocol", json!({"name": "code_review", "version": "3.0.0"}))
        .await
        .refused("unknown_protocol");
    c.call("get_protocol", json!({"name": "broken"}))
        .await
        .refused("unknown_protocol");

    // Discovery: everything, by range, by tag, and a page at a time.
    c.call(
        "register_protocol",
        carol.protocol("deploy_notice", "0.1.0", "true", "ci", ""),
    )
    .await
    .ok();
    let ids = |v: &Value| -> Vec<String> {
        v["protocols"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| format!("{}@{}", p["name"].as_str().unwrap(), p["version"].as_str().unwrap()))
            .collect()
    };
    let all = c.call("discover_protocols", json!({})).await.ok();
    assert_eq!(
        ids(&all),
        [
            "code_review@1.0.0",
            "code_review@1.1.0",
            "code_review@2.0.0",
            "deploy_notice@0.1.0"
        ]
    );
    let r = c
        .call(
            "discover_protocols",
            json!({"name": "code_review", "range": ">=1.1, <3"}),
        )
        .await
        .ok();
    assert_eq!(ids(&r), ["code_review@1.1.0", "code_review@2.0.0"]);
    let r = c.call("discover_protocols", json!({"tag": "ci"})).await.ok();
    assert_eq!(
        ids(&r),
        ["code_review@1.0.0", "code_review@1.1.0", "deploy_notice@0.1.0"]
    );
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = json!({"limit": "3"});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let page = c.call("discover_protocols", args).await.ok();
        pages.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, ids(&all), "the pages together are the whole list, once each");
    c.call("discover_protocols", json!({"range": "one"}))
        .await
        .refused("invalid_argument");
}

/// Declarations (registered versions only), `list_clients` filtered by
/// them, `negotiate` and `compatibility_matrix` on a fixed set; `cs[1]`
/// may be another node.
pub async fn declarations_filter_and_negotiate(cs: [&Client; 2]) {
    use mcpmsg_core::protocol::tools::DeclareArgs;
    let (a, b, carol) = (Ident::new("alice"), Ident::new("bob"), Ident::new("carol"));
    register(cs[0], &[&a, &b, &carol]).await;
    for v in ["1.0.0", "1.1.0", "2.0.0"] {
        cs[0]
            .call("register_protocol", a.protocol("code_review", v, REVIEW_SCHEMA, "", ""))
            .await
            .ok();
    }
    let declare = |who: &Ident, tags: &str, protocols: &str| {
        who.signed(DeclareArgs {
            client_id: who.id.clone(),
            tags: tags.to_owned(),
            protocols: protocols.to_owned(),
            ..Default::default()
        })
    };
    let d = cs[0]
        .call(
            "declare_capabilities",
            declare(&a, "ci,review", "code_review@1.0.0,code_review@1.1.0"),
        )
        .await
        .ok();
    assert_eq!(d["protocols"], json!(["code_review@1.0.0", "code_review@1.1.0"]));
    cs[1]
        .call(
            "declare_capabilities",
            declare(&b, "review,docs", "code_review@1.0.0,code_review@2.0.0"),
        )
        .await
        .ok();
    let msg = cs[1]
        .call("declare_capabilities", declare(&carol, "", "code_review@9.0.0"))
        .await
        .refused("unknown_protocol");
    assert!(msg.contains("code_review@9.0.0"), "{msg}");
    cs[1]
        .call("declare_capabilities", declare(&carol, "", "code_review"))
        .await
        .refused("invalid_argument");

    let listed = |args: Value| async move {
        let r = cs[1].call("list_clients", args).await.ok();
        r["clients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["client_id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(listed(json!({"tag": "ci"})).await, ["alice"]);
    assert_eq!(listed(json!({"protocol": "code_review@^2"})).await, ["bob"]);
    assert_eq!(listed(json!({"protocol": "code_review"})).await, ["alice", "bob"]);
    let all = cs[0].call("list_clients", json!({})).await.ok();
    let carol_entry = all["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == "carol")
        .unwrap()
        .clone();
    assert!(
        carol_entry.get("protocols").is_none(),
        "no declaration, no member: {carol_entry}"
    );
    cs[0]
        .call("list_clients", json!({"protocol": "Bad"}))
        .await
        .refused("invalid_argument");

    let n = cs[1].call("negotiate", json!({"a": "alice", "b": "bob"})).await.ok();
    assert_eq!(n["protocols"][0]["name"], "code_review");
    assert_eq!(n["protocols"][0]["version"], "1.0.0", "{n}");
    assert_eq!(
        (n["tags_both"].clone(), n["tags_only_a"].clone()),
        (json!(["review"]), json!(["ci"]))
    );
    let m = cs[0]
        .call("compatibility_matrix", json!({"client_ids": "alice,bob,carol"}))
        .await
        .ok();
    assert_eq!(m["pairs"].as_array().unwrap().len(), 3);
    assert_eq!(
        m["pairs"][1]["only_a"],
        json!(["code_review@1.0.0", "code_review@1.1.0"]),
        "{m}"
    );
    cs[0]
        .call("compatibility_matrix", json!({"client_ids": "alice"}))
        .await
        .refused("invalid_argument");
    cs[0]
        .call("negotiate", json!({"a": "alice", "b": "nobody"}))
        .await
        .refused("unknown_recipient");
}

/// A typed message: the server validates an unsealed body against the
/// registered schema it names, refuses a mismatch with `schema_mismatch`
/// and the path at fault, and queues nothing.
pub async fn typed_messages_are_validated(c: &Client) {
    use mcpmsg_core::protocol::{new_nonce, now_ms, SendMessage, SendParts};
    let (a, b) = (Ident::new("alice"), Ident::new("bob"));
    register(c, &[&a, &b]).await;
    c.call(
        "register_protocol",
        a.protocol("code_review", "1.0.0", REVIEW_SCHEMA, "", ""),
    )
    .await
    .ok();
    let typed = |protocol: &str, body: &str| {
        let nonce = new_nonce();
        let parts = SendParts {
            sender_id: &a.id,
            recipient_id: &b.id,
            in_reply_to: None,
            ts: now_ms(),
            nonce: &nonce,
        };
        let ct = mcpmsg_core::protocol::registry::typed_content_type(protocol);
        serde_json::to_value(SendMessage::sign(a.key(), parts, Some(&ct), body)).unwrap()
    };
    c.call(
        "send_message",
        typed("code_review@1.0.0", r#"{"title": "fix", "lines": 12}"#),
    )
    .await
    .ok();
    let msg = c
        .call(
            "send_message",
            typed("code_review@1.0.0", r#"{"title": "fix", "lines": "twelve"}"#),
        )
        .await
        .refused("schema_mismatch");
    assert!(msg.contains("at /lines"), "{msg}");
    let msg = c
        .call("send_message", typed("code_review@1.0.0", r#"{"lines": 1}"#))
        .await
        .refused("schema_mismatch");
    assert!(msg.contains("title"), "{msg}");
    c.call("send_message", typed("code_review@1.0.0", "not json"))
        .await
        .refused("schema_mismatch");
    c.call("send_message", typed("code_review@2.0.0", "{}"))
        .await
        .refused("unknown_protocol");
    c.call("send_message", typed("code_review", "{}"))
        .await
        .refused("invalid_argument");
    // Only the valid one was queued, its content type as signed.
    let got = c.call("get_messages", b.get(None, None, None)).await.ok();
    let items = got["messages"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{got}");
    assert_eq!(
        items[0]["content_type"],
        "application/mcpmsg-typed+json; protocol=code_review@1.0.0"
    );
}
