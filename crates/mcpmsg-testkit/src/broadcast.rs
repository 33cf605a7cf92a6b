//! Broadcast (PROTOCOL §18e) as clients use it, and the scenarios every
//! store and topology must pass: a filter fanned out to exactly its
//! matches, each once, blocks honoured, the signature verified by every
//! recipient, a sealed broadcast opened by exactly its recipients, and the
//! refusals with their codes, nothing queued.

use mcpmsg_core::crypto::SealingPublicKey;
use mcpmsg_core::protocol::broadcast::SEALED_BROADCAST_CONTENT_TYPE;
use mcpmsg_core::protocol::tools::{BroadcastArgs, BroadcastDelivered, DeclareArgs, SignedArgs};
use serde_json::{json, Value};

use super::protocols::REVIEW_SCHEMA;
use super::{register, Client, Ident};

/// The content type of a typed `code_review` 1.1.0 message.
pub const REVIEW_1_1: &str = "application/mcpmsg-typed+json; protocol=code_review@1.1.0";

impl Ident {
    /// broadcast arguments: to `[tag, protocol, status]`, unsealed.
    pub fn broadcast(&self, filter: [&str; 3], content_type: &str, text: &str) -> Value {
        self.signed(BroadcastArgs::new(&self.id, filter, content_type, text))
    }

    /// broadcast arguments, sealed for exactly `to`.
    pub fn sealed_broadcast(&self, to: &[(&str, &SealingPublicKey)], text: &str) -> Value {
        serde_json::to_value(BroadcastArgs::seal_and_sign(self.key(), &self.id, to, text, None).unwrap()).unwrap()
    }

    /// declare_capabilities arguments.
    pub fn declare(&self, tags: &str, protocols: &str) -> Value {
        self.signed(DeclareArgs {
            client_id: self.id.clone(),
            tags: tags.to_owned(),
            protocols: protocols.to_owned(),
            ..Default::default()
        })
    }
}

/// The broadcasts in `who`'s queue, taken.
pub async fn broadcasts(c: &Client, who: &Ident) -> Vec<BroadcastDelivered> {
    let got = c.call("get_messages", who.get(Some("100"), None, None)).await.ok();
    got["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "broadcast")
        .map(|m| serde_json::from_value(m.clone()).unwrap())
        .collect()
}

/// Registers protocol `name` 1.0.0, 1.1.0 and 2.0.0 as `owner`, with the
/// review schema.
pub async fn register_review(c: &Client, owner: &Ident, name: &str) {
    for v in ["1.0.0", "1.1.0", "2.0.0"] {
        c.call("register_protocol", owner.protocol(name, v, REVIEW_SCHEMA, "", ""))
            .await
            .ok();
    }
}

/// `n` clients, alternately on the two nodes: the even ones declare tag
/// `review` and code_review 1.1.0, the odd ones tag `docs` and 2.0.0; every
/// tenth blocks the sender. A broadcast to `review` speakers of `^1.0`
/// reaches exactly the even ones that do not block, each once, verified;
/// the odd ones get nothing; a retry queues nothing new.
pub async fn a_filter_reaches_each_match_once(cs: [&Client; 2], n: usize) {
    let sender = Ident::new("announcer");
    register(cs[0], &[&sender]).await;
    register_review(cs[0], &sender, "code_review").await;
    let clients: Vec<Ident> = (0..n).map(|i| Ident::new(&format!("agent-{i:04}"))).collect();
    for (i, who) in clients.iter().enumerate() {
        let c = cs[i % 2];
        register(c, &[who]).await;
        let (tag, version) = if i % 2 == 0 {
            ("review", "1.1.0")
        } else {
            ("docs", "2.0.0")
        };
        c.call(
            "declare_capabilities",
            who.declare(tag, &format!("code_review@{version}")),
        )
        .await
        .ok();
        if i % 10 == 0 {
            c.call("block_client", who.block(&sender.id, "block")).await.ok();
        }
    }
    let body = r#"{"title":"please review #42","lines":12}"#;
    let request = sender.broadcast(["review", "code_review@^1.0", ""], REVIEW_1_1, body);
    let r = cs[1].call("broadcast", request.clone()).await.ok();
    let expected: Vec<&str> = clients
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0 && i % 10 != 0)
        .map(|(_, c)| c.id.as_str())
        .collect();
    let blocked: Vec<&str> = clients.iter().step_by(10).map(|c| c.id.as_str()).collect();
    assert_eq!(r["duplicate"], false);
    assert_eq!(r["delivered"], json!(expected));
    let skipped: Vec<(&str, &str)> = r["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["member"].as_str().unwrap(), s["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(skipped, blocked.iter().map(|b| (*b, "blocked")).collect::<Vec<_>>());
    let again = cs[0].call("broadcast", request).await.ok();
    assert_eq!(
        (again["duplicate"].clone(), again["message_id"].clone()),
        (json!(true), r["message_id"].clone())
    );
    let key = sender.key().public();
    for (i, who) in clients.iter().enumerate() {
        let got = broadcasts(cs[(i + 1) % 2], who).await;
        if !expected.contains(&who.id.as_str()) {
            assert!(got.is_empty(), "{} got {got:?}", who.id);
            continue;
        }
        assert_eq!(got.len(), 1, "{} got {got:?}", who.id);
        let b = &got[0];
        assert_eq!(
            (b.message_id.as_str(), b.recipient_id.as_str()),
            (r["message_id"].as_str().unwrap(), who.id.as_str())
        );
        assert_eq!((b.message.as_str(), b.content_type.as_str()), (body, REVIEW_1_1));
        let sig = mcpmsg_core::protocol::decode_sig("sig", &b.sig).unwrap();
        key.verify(&b.as_send().sign_input(), &sig)
            .expect("the broadcast verifies");
        let mut altered = b.as_send();
        altered.tag = "docs".to_owned();
        assert!(key.verify(&altered.sign_input(), &sig).is_err());
        assert!(broadcasts(cs[i % 2], who).await.is_empty(), "taken once");
    }
}

/// A sealed broadcast for two of three clients: each recipient opens it,
/// the third gets nothing; refusals (a filter beside wraps, a stale kid,
/// yourself among the recipients, an unregistered one) queue nothing.
pub async fn a_sealed_broadcast_opens_for_exactly_its_recipients(cs: [&Client; 2]) {
    let (a, b, c, d) = (
        Ident::new("sealer"),
        Ident::new("bea"),
        Ident::new("cid"),
        Ident::new("dot"),
    );
    register(cs[0], &[&a, &b, &c, &d]).await;
    let (bk, ck) = (b.sealing_key(), c.sealing_key());
    let to = [("bea", &bk), ("cid", &ck)];
    let r = cs[0]
        .call("broadcast", a.sealed_broadcast(&to, "for your eyes"))
        .await
        .ok();
    assert_eq!(r["delivered"], json!(["bea", "cid"]));
    for who in [&b, &c] {
        let got = broadcasts(cs[1], who).await;
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].content_type, SEALED_BROADCAST_CONTENT_TYPE);
        assert_ne!(got[0].message, "for your eyes", "the server holds ciphertext");
        let opened = got[0].as_send().open(&who.id, who.sealing.last().unwrap()).unwrap();
        assert_eq!(opened, "for your eyes");
    }
    assert!(broadcasts(cs[1], &d).await.is_empty());

    let mut with_filter: BroadcastArgs = serde_json::from_value(a.sealed_broadcast(&to, "x")).unwrap();
    with_filter.tag = "review".to_owned();
    let msg = cs[0]
        .call(
            "broadcast",
            serde_json::to_value(with_filter.signed_by(a.key())).unwrap(),
        )
        .await
        .refused("invalid_argument");
    assert!(msg.starts_with("tag, protocol, status:"), "{msg}");
    let stale = d.sealing_key();
    let msg = cs[0]
        .call("broadcast", a.sealed_broadcast(&[("bea", &stale)], "x"))
        .await
        .refused("invalid_argument");
    assert!(msg.contains("not its current sealing key"), "{msg}");
    let ak = a.sealing_key();
    cs[0]
        .call("broadcast", a.sealed_broadcast(&[("sealer", &ak)], "x"))
        .await
        .refused("invalid_argument");
    // A sealed typed body: the server cannot read it, but the version it
    // names must be registered.
    let unregistered = BroadcastArgs::seal_and_sign(a.key(), &a.id, &to, "{}", Some("nothing_here@1.0.0")).unwrap();
    let msg = cs[0]
        .call("broadcast", serde_json::to_value(unregistered).unwrap())
        .await
        .refused("unknown_protocol");
    assert!(msg.contains("nothing_here@1.0.0"), "{msg}");
    let ghost = Ident::new("ghost");
    let gk = ghost.sealing_key();
    cs[0]
        .call("broadcast", a.sealed_broadcast(&[("ghost", &gk)], "x"))
        .await
        .refused("unknown_recipient");
    for who in [&b, &c, &d] {
        assert!(broadcasts(cs[1], who).await.is_empty(), "a refusal queues nothing");
    }
}

/// Unsealed refusals, each with its code, queue nothing: no filter, a bad
/// status, a body the schema refuses, wraps without sealing; every match
/// blocking the sender is `blocked`.
pub async fn broadcast_refusals_queue_nothing(c: &Client) {
    let (a, b) = (Ident::new("caster"), Ident::new("listener"));
    register(c, &[&a, &b]).await;
    register_review(c, &a, "review_note").await;
    c.call("declare_capabilities", b.declare("notes", "review_note@1.1.0"))
        .await
        .ok();
    let typed = "application/mcpmsg-typed+json; protocol=review_note@1.1.0";
    for (filter, ct, body, code, starts) in [
        (["", "", "active"], "", "hi", "invalid_argument", "tag, protocol:"),
        (["notes", "", "online"], "", "hi", "invalid_argument", "status:"),
        (["notes", "Code Review", ""], "", "hi", "invalid_argument", "protocol:"),
        (
            ["notes", "", ""],
            typed,
            r#"{"lines":"x"}"#,
            "schema_mismatch",
            "message does not match",
        ),
    ] {
        let msg = c.call("broadcast", a.broadcast(filter, ct, body)).await.refused(code);
        assert!(msg.starts_with(starts), "{filter:?}: {msg}");
    }
    let mut wraps: BroadcastArgs = BroadcastArgs::new(&a.id, ["notes", "", ""], "", "hi");
    wraps.wraps = "listener:00000000000000000000000000000000:x".to_owned();
    let msg = c
        .call("broadcast", serde_json::to_value(wraps.signed_by(a.key())).unwrap())
        .await
        .refused("invalid_argument");
    assert!(msg.starts_with("wraps:"), "{msg}");
    assert!(broadcasts(c, &b).await.is_empty(), "a refusal queues nothing");
    c.call("block_client", b.block(&a.id, "block")).await.ok();
    c.call("broadcast", a.broadcast(["notes", "", ""], "", "hi"))
        .await
        .refused("blocked");
    // An identity that ended is matched by no broadcast any more.
    let mut retiree = Ident::new("retiree");
    register(c, &[&retiree]).await;
    c.call("declare_capabilities", retiree.declare("notes", "")).await.ok();
    c.call("block_client", b.block(&a.id, "unblock")).await.ok();
    let before = c.call("broadcast", a.broadcast(["notes", "", ""], "", "hi")).await.ok();
    assert_eq!(before["delivered"], json!(["listener", "retiree"]));
    // Both just made signed calls: a filter on other statuses keeps neither.
    let away = c
        .call("broadcast", a.broadcast(["notes", "", "idle,offline"], "", "hi"))
        .await
        .ok();
    assert_eq!(away["delivered"], json!([]), "{away}");
    let here = c
        .call("broadcast", a.broadcast(["notes", "", "active"], "", "hi"))
        .await
        .ok();
    assert_eq!(here["delivered"], json!(["listener", "retiree"]), "{here}");
    let end = retiree.revoke_with_next(mcpmsg_core::protocol::now_ms());
    c.call("revoke_key", json!({"event": end})).await.ok();
    let after = c.call("broadcast", a.broadcast(["notes", "", ""], "", "hi")).await.ok();
    assert_eq!(after["delivered"], json!(["listener"]), "{after}");
    c.call("block_client", b.block(&a.id, "block")).await.ok();
    // No match at all is not an error: nobody to tell.
    let none = c
        .call("broadcast", a.broadcast(["nobody", "", ""], "", "hi"))
        .await
        .ok();
    assert_eq!(
        (none["delivered"].clone(), none["skipped"].clone()),
        (json!([]), json!([]))
    );
}
