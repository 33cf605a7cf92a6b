//! Hostile input over raw HTTP: the server answers each with an error, keeps
//! serving, and leaves every queued message where it was.

use mcpmsg_testkit as common;

use common::{register, Ident, TestServer};
use serde_json::{json, Value};

const ACCEPT: &str = "application/json, text/event-stream";

async fn post(url: &str, body: impl Into<reqwest::Body>) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", ACCEPT)
        .header("mcp-protocol-version", "2025-11-25")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn call(name: &str, arguments: Value) -> String {
    json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": name, "arguments": arguments}})
        .to_string()
}

/// The JSON-RPC result of a raw tool call: `(isError, error code)`.
fn tool_error(body: &str) -> (bool, String) {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let r = &v["result"];
    (
        r["isError"] == true,
        r["structuredContent"]["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    )
}

#[tokio::test]
async fn hostile_input_is_refused_and_changes_nothing() {
    hostile_input(&[]).await;
}

/// The same with every call through rmcp (issue 14: the fast path must
/// change no answer).
#[tokio::test]
async fn hostile_input_without_the_fast_path() {
    hostile_input(&["--no-fast-path"]).await;
}

async fn hostile_input(extra: &[&str]) {
    let mut flags = vec!["--max-message-bytes", "1024"];
    flags.extend_from_slice(extra);
    let s = TestServer::start(&flags).await;
    let c = s.client().await;
    let (alice, bob) = (Ident::new("alice"), Ident::new("bob"));
    register(&c, &[&alice, &bob]).await;
    let kept = c.call("send_message", alice.send("bob", "still here")).await.ok()["message_id"].clone();

    // Malformed JSON-RPC: not JSON, not an object, no method, wrong version.
    for body in [
        "{",
        "[]",
        "42",
        r#"{"jsonrpc":"2.0","id":1}"#,
        r#"{"jsonrpc":"1.0","id":1,"method":"tools/list"}"#,
        "\u{0}\u{1}",
    ] {
        let (status, text) = post(&s.url, body).await;
        assert!(
            status >= 400 || text.contains("\"error\""),
            "{body:?} -> {status} {text}"
        );
    }
    // Wrong types everywhere: arguments as a string, an array, numbers.
    let (_, text) = post(&s.url, json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "send_message", "arguments": "x"}}).to_string()).await;
    assert!(text.contains("\"error\"") || tool_error(&text).0, "{text}");
    for bad in [json!([1, 2]), json!(null), json!(true), json!({"nested": {"a": 1}})] {
        let mut args = alice.send("bob", "x");
        args["message"] = bad;
        let (_, text) = post(&s.url, call("send_message", args)).await;
        assert_eq!(tool_error(&text), (true, "invalid_argument".into()), "{text}");
    }
    let mut kel_not_events = bob.checkin(true);
    kel_not_events["kel"] = json!([{"type": "inception", "seq": 0}]);
    let (_, text) = post(&s.url, call("checkin_client", kel_not_events)).await;
    assert_eq!(tool_error(&text), (true, "invalid_argument".into()));
    let (_, text) = post(&s.url, call("rotate_key", json!({"event": "rotate please"}))).await;
    assert_eq!(tool_error(&text), (true, "invalid_argument".into()));

    // Huge strings: over the body limit (an HTTP 413), and within it but over
    // the message limit (too_large), and a huge id (invalid_argument).
    let (status, _) = post(&s.url, call("send_message", alice.send("bob", &"x".repeat(2 << 20)))).await;
    assert_eq!(status, 413);
    let (_, text) = post(&s.url, call("send_message", alice.send("bob", &"x".repeat(4000)))).await;
    assert_eq!(tool_error(&text), (true, "too_large".into()));
    let (_, text) = post(&s.url, call("send_message", alice.send(&"b".repeat(100_000), "x"))).await;
    assert_eq!(tool_error(&text), (true, "invalid_argument".into()));

    // Deeply nested JSON in an argument and as the whole body.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut args = alice.send("bob", "x");
    args["in_reply_to"] = json!("placeholder");
    let body = call("send_message", args).replace("\"placeholder\"", &deep);
    let (status, text) = post(&s.url, body).await;
    assert!(status >= 400 || text.contains("\"error\""), "{status} {text}");
    let (status, text) = post(&s.url, deep.clone()).await;
    assert!(status >= 400 || text.contains("\"error\""), "{status}");

    // Invalid UTF-8 in base64 fields: a nonce and sig that decode to
    // arbitrary bytes but are not what the field needs, non-ASCII text in
    // base64 fields, and a sealed body that is not base64 at all.
    let mut args = alice.send("bob", "x");
    args["nonce"] = json!("//79/v39/v39/v39/v39/g");
    let (_, text) = post(&s.url, call("send_message", args)).await;
    assert_eq!(tool_error(&text), (true, "invalid_argument".into()));
    let mut args = alice.send("bob", "x");
    args["sig"] = json!("é".repeat(43));
    let (_, text) = post(&s.url, call("send_message", args)).await;
    assert_eq!(tool_error(&text), (true, "invalid_argument".into()));
    let raw = call("send_message", alice.send("bob", "x")).into_bytes();
    let mut broken = raw.clone();
    let at = broken.windows(5).position(|w| w == b"\"sig\"").unwrap() + 8;
    broken[at] = 0xff;
    let (status, text) = post(&s.url, broken).await;
    assert!(status >= 400 || text.contains("\"error\""), "{status} {text}");

    // Every refusal above left the server up and bob's queue unchanged.
    let health: Value = reqwest::get(format!("{}/health", s.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let got = c.call("get_messages", bob.get(None, None, None)).await.ok();
    assert_eq!(got["messages"].as_array().unwrap().len(), 1);
    assert_eq!(got["messages"][0]["message_id"], kept);
    s.stop().await;
}
