use serde_json::json;

use super::*;
use crate::crypto::SigningSecret;
use crate::protocol::sign_input;

#[test]
fn names_round_trip_and_are_unique() {
    for t in ToolName::ALL {
        assert_eq!(ToolName::parse(t.as_str()), Some(t));
    }
    let mut names: Vec<_> = ToolName::ALL.iter().map(|t| t.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), ToolName::ALL.len());
    assert_eq!(ToolName::parse("nope"), None);
}

#[test]
fn the_signed_order_is_the_protocols() {
    let key = SigningSecret::generate();
    let get = GetMessagesArgs {
        client_id: "alice".into(),
        wait_s: Some("5".into()),
        ..Default::default()
    }
    .signed_by(&key);
    // PROTOCOL §5: "get": client_id, max, wait_s, ack, key_id, ts, nonce;
    // an absent argument is signed as "".
    let want = sign_input("get", &["alice", "", "5", "", &get.key_id, &get.ts, &get.nonce]);
    assert_eq!(get.sign_input(), want);
    let sig = crate::crypto::b64::decode_array::<64>(&get.sig).unwrap();
    key.public().verify(&want, &sig).unwrap();

    let send = SendMessage {
        sender_id: "a".into(),
        recipient_id: "b".into(),
        message: "m".into(),
        content_type: Some("text/plain".into()),
        in_reply_to: None,
        ..Default::default()
    }
    .signed_by(&key);
    let want = sign_input(
        "send",
        &["a", "b", "text/plain", "", "m", &send.key_id, &send.ts, &send.nonce],
    );
    assert_eq!(send.sign_input(), want);
    // send_message_and_wait signs exactly what send_message signs.
    let (back, _) = SendAndWaitArgs::new(send.clone(), Some(3)).into_parts();
    assert_eq!(back, send);
    assert_eq!(SendAndWaitArgs::new(send.clone(), None).sign_input(), send.sign_input());
}

#[test]
fn unknown_missing_and_mistyped_members_are_named() {
    let auth = json!({"client_id": "a", "key_id": "k", "ts": "1", "nonce": "n", "sig": "s"});
    let with = |k: &str, v: serde_json::Value| {
        let mut a = auth.clone();
        a[k] = v;
        a
    };
    let e = parse_args::<GetMessagesArgs>(with("extra\u{1b}", json!(1))).unwrap_err();
    assert_eq!(
        e.0,
        "unknown argument \"extra\\\\u{1b}\"; this tool takes client_id, max, wait_s, ack, key_id, ts, nonce, sig"
    );
    let mut missing = auth.clone();
    missing.as_object_mut().unwrap().remove("sig");
    assert_eq!(parse_args::<GetMessagesArgs>(missing).unwrap_err().0, "sig: required");
    assert_eq!(
        parse_args::<GetMessagesArgs>(with("max", json!(5))).unwrap_err().0,
        "max: expected a string"
    );
    assert_eq!(
        parse_args::<GetMyIdentityArgs>(json!({"x": 1})).unwrap_err().0,
        "unknown argument \"x\"; this tool takes no arguments"
    );
    assert_eq!(
        parse_args::<GetClientKeysArgs>(json!({"who": "a"})).unwrap_err().0,
        "unknown argument \"who\"; this tool takes client_id"
    );
    let e = parse_args::<RotateKeyArgs>(json!({"event": {"type": "rotation", "client_id": 5}})).unwrap_err();
    assert!(e.0.starts_with("event"), "{e}");
    // null is an absent optional argument.
    assert_eq!(
        parse_args::<GetMessagesArgs>(with("max", json!(null))).unwrap().max,
        None
    );
}

#[test]
fn schemas_describe_closed_inputs_with_patterns() {
    let schema = serde_json::to_value(schemars::schema_for!(GetMessagesArgs)).unwrap();
    assert_eq!(schema["additionalProperties"], json!(false));
    assert_eq!(schema["properties"]["key_id"]["pattern"], json!(KID_PATTERN));
    assert_eq!(schema["properties"]["ack"]["enum"], json!(["auto", "manual"]));
    let required = schema["required"].as_array().unwrap();
    for m in ["client_id", "key_id", "ts", "nonce", "sig"] {
        assert!(required.contains(&json!(m)), "{m}");
    }
    assert!(!required.contains(&json!("max")));
}

#[test]
fn arguments_from_text_are_judged_as_from_a_tree() {
    use super::{parse_args, parse_args_text, GetMessagesArgs};
    let cases = [
        r#"{"client_id": "bob", "key_id": "k", "ts": "1", "nonce": "n", "sig": "s"}"#,
        r#"{"client_id": 5, "key_id": "k", "ts": "1", "nonce": "n", "sig": "s"}"#,
        r#"{"client_id": "bob", "key_id": "k", "ts": "1", "nonce": "n"}"#,
        r#"{"client_id": "bob", "key_id": "k", "ts": "1", "nonce": "n", "sig": "s", "extra": true}"#,
        r#"{"client_id": "bob", "max": [1], "key_id": "k", "ts": "1", "nonce": "n", "sig": "s"}"#,
        r#"{"client_id": "bob", "key_id": "k", "ts": 1.5, "nonce": "n", "sig": "s"}"#,
    ];
    for text in cases {
        let tree: serde_json::Value = serde_json::from_str(text).unwrap();
        let a = parse_args::<GetMessagesArgs>(tree).map_err(|e| e.0);
        let b = parse_args_text::<GetMessagesArgs>(text).map_err(|e| e.0);
        assert_eq!(a, b, "{text}");
    }
}
