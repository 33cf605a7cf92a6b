//! Typed messages, adapters and broadcast from the shell, as users run
//! them (PROTOCOL §18d-§18f): bob speaks code_review 2.0.0 and carol only
//! 1.1.0; they negotiate, bob sends a typed 2.0.0 body the server checks,
//! and carol reads it through alice's registered adapter after its
//! signature verified; bob reads carol's 1.0.0 message through a chain of
//! two. A broadcast reaches both, and a sealed one opens for each.

mod common;

use common::*;
use serde_json::Value;

const V1: &str = r#"{"type":"object","required":["title"],"properties":{"title":{"type":"string"},"lines":{"type":"integer"}},"additionalProperties":false}"#;
const V2: &str = r#"{"type":"object","required":["summary"],"properties":{"summary":{"type":"string"},"lines":{"type":"integer"}},"additionalProperties":false}"#;

/// A sealed send of `body` from `from` to `to` as code_review 2.0.0, signed
/// with `from`'s key, made without the CLI's own check.
fn sealed_typed(from: &User, to: &User, _url: &str, body: &str) -> Value {
    use mcpmsg_core::protocol::{new_nonce, now_ms, SendMessage, SendParts};
    let keys = from.keys();
    let to_keys = to.keys();
    let nonce = new_nonce();
    let parts = SendParts {
        sender_id: &from.id,
        recipient_id: &to.id,
        in_reply_to: None,
        ts: now_ms(),
        nonce: &nonce,
    };
    let sealing = to_keys.sealing.as_ref().unwrap().public();
    let m = SendMessage::seal_and_sign_typed(
        keys.signing.as_ref().unwrap(),
        parts,
        &sealing,
        body,
        Some("code_review@2.0.0"),
    )
    .unwrap();
    serde_json::to_value(m).unwrap()
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_older_reader_reads_a_newer_typed_message_through_an_adapter() {
    let server = Server::start(0).await;
    let url = server.url();
    let (a, b, c) = (
        User::new("alice", &url),
        User::new("bob", &url),
        User::new("carol", &url),
    );
    // Everyone pins everyone: messages from an unpinned sender are rejected.
    for (x, y) in [(&a, &b), (&a, &c), (&b, &c)] {
        x.pin(y);
        y.pin(x);
    }
    let dir = tempfile::tempdir().unwrap();
    let (v1, v2) = (write(dir.path(), "v1.json", V1), write(dir.path(), "v2.json", V2));
    for (v, schema) in [("1.0.0", &v1), ("1.1.0", &v1), ("2.0.0", &v2)] {
        a.mcpmsg(&["protocol", "register", "code_review", v, "--schema", schema]);
    }
    let down = write(
        dir.path(),
        "down.json",
        r#"[{"op":"move","from":"/summary","path":"/title"}]"#,
    );
    let done = a.mcpmsg(&["protocol", "adapter", "code_review", "2.0.0", "1.1.0", "--ops", &down]);
    assert!(
        done.starts_with("registered an adapter of code_review from 2.0.0 to 1.1.0"),
        "{done}"
    );
    let err = b.mcpmsg_fails(&["protocol", "adapter", "code_review", "1.1.0", "2.0.0", "--ops", &down]);
    assert!(err.contains("not_owner"), "{err}");
    let err = a.mcpmsg_fails(&["protocol", "adapter", "code_review", "2.0.0", "1.1.0", "--ops", &down]);
    assert!(err.contains("protocol_exists"), "{err}");

    b.mcpmsg(&["declare", "--tags", "review", "--protocols", "code_review@2.0.0"]);
    c.mcpmsg(&["declare", "--tags", "review", "--protocols", "code_review@1.1.0"]);
    let n = b.mcpmsg(&["negotiate", "carol"]);
    assert!(
        n.starts_with("code_review: no compatible version (you speak 2.0.0; carol speaks 1.1.0)"),
        "{n}"
    );

    // A body that does not match is refused before it is signed.
    let err = b.mcpmsg_fails(&[
        "send",
        "carol",
        r#"{"title":"old form"}"#,
        "--typed",
        "code_review@2.0.0",
    ]);
    assert!(err.contains("does not match code_review@2.0.0"), "{err}");
    let body = r#"{"summary":"please review #42","lines":12}"#;
    let sent = b.mcpmsg(&["send", "carol", body, "--typed", "code_review@2.0.0", "--no-seal"]);
    assert!(
        sent.contains("(in the clear)"),
        "in the clear, so the server validated it: {sent}"
    );
    let got: Value = serde_json::from_str(&c.mcpmsg(&["recv", "--json"])).unwrap();
    let m = &got[0];
    assert_eq!(
        (m["verified"].clone(), m["sealed"].clone()),
        (Value::Bool(true), Value::Bool(false)),
        "{got}"
    );
    assert_eq!(m["text"], body, "the original, as signed");
    assert_eq!(m["protocol"], "code_review@2.0.0");
    assert_eq!(m["read_as"], "1.1.0");
    assert_eq!(m["adapted_via"], serde_json::json!(["2.0.0>1.1.0"]));
    let adapted: Value = serde_json::from_str(m["adapted"].as_str().unwrap()).unwrap();
    assert_eq!(adapted, serde_json::json!({"title": "please review #42", "lines": 12}));

    // Sealed: the server cannot check it; carol checks it after opening,
    // then adapts it.
    let sent = b.mcpmsg(&["send", "carol", body, "--typed", "code_review@2.0.0"]);
    assert!(sent.contains("(sealed)"), "{sent}");
    let got: Value = serde_json::from_str(&c.mcpmsg(&["recv", "--json"])).unwrap();
    assert_eq!(
        (got[0]["sealed"].clone(), got[0]["read_as"].clone()),
        (Value::Bool(true), "1.1.0".into()),
        "{got}"
    );
    // A sealed typed body that does not match its schema (made by hand: the
    // CLI checks before it signs) is shown as rejected.
    let bad = sealed_typed(&b, &c, &server.url(), r#"{"title":"the old form"}"#);
    raw_call(&server.url(), "send_message", bad).await;
    let (shown, _) = c.mcpmsg_fails_with_output(&["recv"]);
    assert!(
        shown.contains("REJECTED from bob") && shown.contains("the body does not match code\\_review@2.0.0"),
        "{shown}"
    );

    // No chain from 1.1.0 to 2.0.0: bob is told so, never shown a guess.
    c.mcpmsg(&["send", "bob", r#"{"title":"done"}"#, "--typed", "code_review@1.1.0"]);
    let text = b.mcpmsg(&["recv"]);
    assert!(
        text.contains("UNREADABLE in the versions you speak: no registered adapter chain from 1.1.0"),
        "{text}"
    );

    // A chain of two: 1.0.0 > 1.1.0 sets a default, 1.1.0 > 2.0.0 renames;
    // bob reads carol's 1.0.0 message as 2.0.0 through both, verified.
    let up1 = write(
        dir.path(),
        "up1.json",
        r#"[{"op":"default","path":"/lines","value":0}]"#,
    );
    let up2 = write(
        dir.path(),
        "up2.json",
        r#"[{"op":"move","from":"/title","path":"/summary"}]"#,
    );
    a.mcpmsg(&["protocol", "adapter", "code_review", "1.0.0", "1.1.0", "--ops", &up1]);
    a.mcpmsg(&["protocol", "adapter", "code_review", "1.1.0", "2.0.0", "--ops", &up2]);
    c.mcpmsg(&[
        "send",
        "bob",
        r#"{"title":"an old request"}"#,
        "--typed",
        "code_review@1.0.0",
    ]);
    let got: Value = serde_json::from_str(&b.mcpmsg(&["recv", "--json"])).unwrap();
    assert_eq!(got[0]["verified"], true, "{got}");
    assert_eq!(got[0]["adapted_via"], serde_json::json!(["1.0.0>1.1.0", "1.1.0>2.0.0"]));
    let adapted: Value = serde_json::from_str(got[0]["adapted"].as_str().unwrap()).unwrap();
    assert_eq!(adapted, serde_json::json!({"summary": "an old request", "lines": 0}));

    // A typed broadcast to 1.x speakers and a sealed one to the tag.
    let r = b.mcpmsg(&[
        "broadcast",
        "--protocol",
        "code_review@^1",
        "--typed",
        "code_review@2.0.0",
        body,
    ]);
    assert!(r.contains("delivered to 1 client(s)"), "{r}");
    let got: Value = serde_json::from_str(&c.mcpmsg(&["recv", "--json"])).unwrap();
    assert_eq!(
        (got[0]["verified"].clone(), got[0]["read_as"].clone()),
        (Value::Bool(true), "1.1.0".into())
    );
    assert_eq!(got[0]["broadcast"], "protocol code_review@^1");
    let r = a.mcpmsg(&["broadcast", "--tag", "review", "--seal", "secret plans"]);
    assert!(r.contains("(sealed): delivered to 2 client(s)"), "{r}");
    for who in [&b, &c] {
        let got: Value = serde_json::from_str(&who.mcpmsg(&["recv", "--json"])).unwrap();
        assert_eq!(
            (got[0]["sealed"].clone(), got[0]["text"].clone()),
            (Value::Bool(true), "secret plans".into()),
            "{got}"
        );
    }
    let err = a.mcpmsg_fails(&["broadcast", "hello"]);
    assert!(err.contains("name a --tag or a --protocol"), "{err}");

    // Through the IDEs' bridges: bob's model sends a typed body (a wrong
    // one is refused by the bridge before signing) and broadcasts; carol's
    // model reads both as 1.1.0 through the adapter.
    let (ide_b, ide_c) = (b.bridge().await, c.bridge().await);
    let (err, text, _) = ide_b
        .call(
            "send_typed",
            serde_json::json!({"to": "carol", "protocol": "code_review@2.0.0", "body": {"title": "x"}}),
        )
        .await;
    assert!(err && text.contains("does not match code_review@2.0.0"), "{text}");
    let sent = ide_b
        .ok(
            "send_typed",
            serde_json::json!({"to": "carol", "protocol": "code_review@2.0.0", "body": {"summary": "from the IDE"}}),
        )
        .await;
    assert!(sent["message_id"].is_string(), "{sent}");
    let r = ide_b
        .ok(
            "broadcast",
            serde_json::json!({"text": "to reviewers", "tag": "review"}),
        )
        .await;
    assert_eq!(r["delivered"], serde_json::json!(["carol"]), "{r}");
    let got = ide_c.read(2).await;
    let typed = got
        .iter()
        .find(|m| m["protocol"] == "code_review@2.0.0")
        .expect("the typed message");
    assert_eq!(
        (typed["verified"].clone(), typed["read_as"].clone()),
        (Value::Bool(true), "1.1.0".into())
    );
    assert_eq!(typed["adapted"], r#"{"title":"from the IDE"}"#);
    let cast = got
        .iter()
        .find(|m| m["broadcast"] == "tag review")
        .expect("the broadcast");
    assert_eq!(cast["text"], "to reviewers");
    server.stop().await;
}
