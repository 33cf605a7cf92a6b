//! Version adapters (PROTOCOL §18f) as owners register them, and the
//! scenario every store and topology must pass: who may register which
//! adapter, each refusal with its exact code (nothing registered by it),
//! and the listing in semver order with each registration as signed.

use mcpmsg_core::protocol::tools::{RegisterAdapterArgs, SignedArgs};
use serde_json::{json, Value};

use super::protocols::REVIEW_SCHEMA;
use super::{register, Client, Ident};

const DROP_LINES: &str = r#"[{"op":"remove","path":"/lines"}]"#;

impl Ident {
    /// register_adapter arguments.
    pub fn adapter(&self, name: &str, from: &str, to: &str, ops: &str) -> Value {
        self.signed(RegisterAdapterArgs {
            client_id: self.id.clone(),
            name: name.to_owned(),
            from: from.to_owned(),
            to: to.to_owned(),
            ops: ops.to_owned(),
            ..Default::default()
        })
    }
}

/// `owner` registers `adapt_me` 1.0.0 and 2.0.0, the co-owner `co` 3.0.0;
/// `stranger` owns nothing. Through `cs[0]` and `cs[1]` alternately.
pub async fn adapters_are_owned_once_and_listed(cs: [&Client; 2]) {
    let (owner, co, stranger) = (Ident::new("adowner"), Ident::new("adco"), Ident::new("adstranger"));
    register(cs[0], &[&owner, &co, &stranger]).await;
    for v in ["1.0.0", "2.0.0"] {
        cs[0]
            .call(
                "register_protocol",
                owner.protocol("adapt_me", v, REVIEW_SCHEMA, "", "adco"),
            )
            .await
            .ok();
    }
    cs[1]
        .call(
            "register_protocol",
            co.protocol("adapt_me", "3.0.0", REVIEW_SCHEMA, "", ""),
        )
        .await
        .ok();
    let r = cs[1]
        .call(
            "register_adapter",
            owner.adapter("adapt_me", "2.0.0", "1.0.0", DROP_LINES),
        )
        .await
        .ok();
    assert_eq!(
        (r["from"].clone(), r["to"].clone()),
        (json!("2.0.0"), json!("1.0.0")),
        "{r}"
    );
    // The co-owner registered 3.0.0: it may join it to 2.0.0.
    cs[0]
        .call("register_adapter", co.adapter("adapt_me", "3.0.0", "2.0.0", DROP_LINES))
        .await
        .ok();

    let refusals = [
        (
            owner.adapter("adapt_me", "2.0.0", "1.0.0", DROP_LINES),
            "protocol_exists",
            "registered already",
        ),
        (
            stranger.adapter("adapt_me", "1.0.0", "2.0.0", DROP_LINES),
            "not_owner",
            "one of the two versions (adowner)",
        ),
        // A co-owner, but not whoever registered either version.
        (
            co.adapter("adapt_me", "1.0.0", "2.0.0", DROP_LINES),
            "not_owner",
            "one of the two versions (adowner)",
        ),
        (
            owner.adapter("adapt_me", "1.0.0", "9.0.0", DROP_LINES),
            "unknown_protocol",
            "adapt_me@9.0.0",
        ),
        (
            owner.adapter("nothing_here", "1.0.0", "2.0.0", DROP_LINES),
            "unknown_protocol",
            "nothing_here@1.0.0",
        ),
        (
            owner.adapter("adapt_me", "1.0.0", "1.0.0", DROP_LINES),
            "invalid_argument",
            "to:",
        ),
        (
            owner.adapter("adapt_me", "1.0.0", "v2", DROP_LINES),
            "invalid_argument",
            "to:",
        ),
        (
            owner.adapter("adapt_me", "1.0.0", "2.0.0", "[]"),
            "invalid_argument",
            "ops:",
        ),
        (
            owner.adapter("adapt_me", "1.0.0", "2.0.0", r#"[{"op":"copy"}]"#),
            "invalid_argument",
            "ops:",
        ),
        (
            owner.adapter("Adapt", "1.0.0", "2.0.0", DROP_LINES),
            "invalid_argument",
            "name:",
        ),
    ];
    for (i, (args, code, says)) in refusals.into_iter().enumerate() {
        let msg = cs[i % 2].call("register_adapter", args).await.refused(code);
        assert!(msg.contains(says), "{code}: {msg}");
    }

    let list = cs[1].call("list_adapters", json!({"name": "adapt_me"})).await.ok();
    let pairs: Vec<(String, String)> = list["adapters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let r = &a["registration"];
            (
                r["from"].as_str().unwrap().to_owned(),
                r["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [("2.0.0", "1.0.0"), ("3.0.0", "2.0.0")].map(|(f, t)| (f.to_owned(), t.to_owned()));
    assert_eq!(pairs, want, "by from, then to; nothing a refusal tried");
    let first: RegisterAdapterArgs = serde_json::from_value(list["adapters"][0]["registration"].clone()).unwrap();
    let sig = mcpmsg_core::protocol::decode_sig("sig", &first.sig).unwrap();
    owner
        .key()
        .public()
        .verify(&first.sign_input(), &sig)
        .expect("listed as signed");
    cs[0]
        .call("list_adapters", json!({"name": "nothing_here"}))
        .await
        .refused("unknown_protocol");
}
