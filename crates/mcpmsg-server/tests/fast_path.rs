//! The fast path (issue 14) changes no answer: the same raw requests, good
//! and hostile, sent to a server with it and to one with `--no-fast-path`,
//! get the same status, content type and JSON body; and the fast path did
//! serve the ordinary calls among them.

use mcpmsg_testkit as common;

use common::TestServer;
use serde_json::{json, Value};

const ACCEPT: &str = "application/json, text/event-stream";

/// One raw request: extra or replacing headers, and a body.
struct Case {
    what: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: String,
}

fn call(id: Value, name: &str, arguments: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": arguments}})
        .to_string()
}

fn case(what: &'static str, body: String) -> Case {
    Case {
        what,
        headers: Vec::new(),
        body,
    }
}

fn with(what: &'static str, headers: Vec<(&'static str, &'static str)>, body: String) -> Case {
    Case { what, headers, body }
}

fn corpus() -> Vec<Case> {
    let identity = call(json!(1), "get_my_identity", json!({}));
    let bad_sig = json!({"client_id": "nobody", "key_id": "0123456789abcdef0123456789abcdef",
        "ts": "1", "nonce": "AAAAAAAAAAAAAAAAAAAAAA", "sig": "x"});
    let mut cases = vec![
        case("an unsigned call", identity.clone()),
        case("a string id", call(json!("seven"), "get_my_identity", json!({}))),
        case("a float id", call(json!(1.5), "get_my_identity", json!({}))),
        case("a null id", call(Value::Null, "get_my_identity", json!({}))),
        case("a public read", call(json!(2), "list_clients", json!({}))),
        case("an unknown client's keys", call(json!(3), "get_client_keys", json!({"client_id": "nobody"}))),
        case("an unknown tool", call(json!(4), "no_such_tool", json!({}))),
        case("a missing argument", call(json!(5), "get_messages", json!({"client_id": "bob"}))),
        case("a wrong type", call(json!(6), "get_messages", json!({"client_id": 5}))),
        case("an unknown argument", call(json!(7), "get_my_identity", json!({"extra": true}))),
        case("a bad signature", call(json!(8), "get_messages", bad_sig.clone())),
        case("an unknown sender", call(json!(9), "send_message", json!({"sender_id": "ghost",
            "recipient_id": "bob", "message": "hi", "key_id": "0123456789abcdef0123456789abcdef",
            "ts": "1", "nonce": "AAAAAAAAAAAAAAAAAAAAAA", "sig": "x"}))),
        case("a progress token", json!({"jsonrpc": "2.0", "id": 10, "method": "tools/call",
            "params": {"name": "get_my_identity", "arguments": {}, "_meta": {"progressToken": 1}}}).to_string()),
        case("a bad progress token", json!({"jsonrpc": "2.0", "id": 10, "method": "tools/call",
            "params": {"name": "get_my_identity", "arguments": {}, "_meta": {"progressToken": [1]}}}).to_string()),
        case("other _meta", json!({"jsonrpc": "2.0", "id": 10, "method": "tools/call",
            "params": {"name": "get_my_identity", "arguments": {}, "_meta": {"note": 1}}}).to_string()),
        case("no arguments", json!({"jsonrpc": "2.0", "id": 11, "method": "tools/call",
            "params": {"name": "get_my_identity"}}).to_string()),
        case("tools/list", json!({"jsonrpc": "2.0", "id": 12, "method": "tools/list"}).to_string()),
        case("a duplicate member", r#"{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"get_my_identity","arguments":{"a":1,"a":2}}}"#.to_owned()),
        with("only JSON accepted", vec![("accept", "application/json")], identity.clone()),
        with("weighted Accept", vec![("accept", "application/json;q=0.9, text/event-stream")], identity.clone()),
        with("a zero weight", vec![("accept", "application/json;q=0, text/event-stream")], identity.clone()),
        with("no protocol version", vec![("mcp-protocol-version", "")], identity.clone()),
        with("protocol 2025-06-18", vec![("mcp-protocol-version", "2025-06-18")], identity.clone()),
        with("an unknown protocol version", vec![("mcp-protocol-version", "1999-01-01")], identity.clone()),
        with("a foreign Host", vec![("host", "evil.example")], identity.clone()),
        with("an upper-case Host", vec![("host", "LOCALHOST")], identity.clone()),
        with("text/plain", vec![("content-type", "text/plain")], identity.clone()),
        with("a session id", vec![("mcp-session-id", "abc")], identity.clone()),
        with("an Mcp-Method header", vec![("mcp-method", "tools/list")], identity.clone()),
        with("an Mcp-Name header", vec![("mcp-name", "get_my_identity")], identity),
    ];
    cases.extend(current());
    cases
}

/// 2026-07-28 calls: the client context in `_meta`, method and tool in
/// headers; then each of those wrong in one way.
fn current() -> Vec<Case> {
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "corpus", "version": "1"}});
    let body = |name: &str, arguments: Value, meta: Value| {
        json!({"jsonrpc": "2.0", "id": 20, "method": "tools/call",
            "params": {"name": name, "arguments": arguments, "_meta": meta}})
        .to_string()
    };
    let headers = |name: &'static str| {
        vec![
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", name),
        ]
    };
    let identity = body("get_my_identity", json!({}), meta.clone());
    let without = |key: &str| {
        let mut m = meta.clone();
        m.as_object_mut().unwrap().remove(key);
        m
    };
    let no_capabilities = without("io.modelcontextprotocol/clientCapabilities");
    let no_info = without("io.modelcontextprotocol/clientInfo");
    let mut old_version = meta.clone();
    old_version["io.modelcontextprotocol/protocolVersion"] = "2025-11-25".into();
    let mut progress = meta.clone();
    progress["progressToken"] = 5.into();
    let bad_sig = json!({"client_id": "nobody", "key_id": "0123456789abcdef0123456789abcdef",
        "ts": "1", "nonce": "AAAAAAAAAAAAAAAAAAAAAA", "sig": "x"});
    vec![
        with("2026: an unsigned call", headers("get_my_identity"), identity.clone()),
        with(
            "2026: a refused signed call",
            headers("get_messages"),
            body("get_messages", bad_sig, meta.clone()),
        ),
        with(
            "2026: a public read",
            headers("list_clients"),
            body("list_clients", json!({}), meta.clone()),
        ),
        with(
            "2026: no client name",
            headers("get_my_identity"),
            body("get_my_identity", json!({}), no_info),
        ),
        with(
            "2026: no capabilities",
            headers("get_my_identity"),
            body("get_my_identity", json!({}), no_capabilities),
        ),
        with(
            "2026: another version in _meta",
            headers("get_my_identity"),
            body("get_my_identity", json!({}), old_version),
        ),
        with(
            "2026: a progress token",
            headers("get_my_identity"),
            body("get_my_identity", json!({}), progress),
        ),
        with(
            "2026: no _meta",
            headers("get_my_identity"),
            call(json!(21), "get_my_identity", json!({})),
        ),
        with(
            "2026: another tool in Mcp-Name",
            headers("list_clients"),
            identity.clone(),
        ),
        with(
            "2026: Mcp-Name in base64",
            headers("=?base64?Z2V0X215X2lkZW50aXR5?="),
            identity.clone(),
        ),
        with(
            "2026: no Mcp-Name",
            vec![("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call")],
            identity.clone(),
        ),
        with(
            "2026: another Mcp-Method",
            vec![
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/list"),
                ("mcp-name", "get_my_identity"),
            ],
            identity,
        ),
    ]
}

/// Status, content type and body (JSON when it is JSON) of one case.
async fn answer(url: &str, c: &Case) -> (u16, String, Value) {
    let mut headers = vec![
        ("content-type", "application/json"),
        ("accept", ACCEPT),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    for (k, v) in &c.headers {
        headers.retain(|(h, _)| h != k);
        if !v.is_empty() {
            headers.push((k, v));
        }
    }
    let mut r = reqwest::Client::new().post(url).body(c.body.clone());
    for (k, v) in headers {
        r = r.header(k, v);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .map_or(String::new(), |v| v.to_str().unwrap().to_owned());
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, content_type, body)
}

async fn fast_path_calls(s: &TestServer) -> Value {
    let health: Value = reqwest::get(format!("{}/health", s.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    health["fast_path_calls"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fast_path_answers_exactly_as_rmcp_does() {
    let (fast, slow) = (
        TestServer::start(&[]).await,
        TestServer::start(&["--no-fast-path"]).await,
    );
    for c in corpus() {
        let (a, b) = (answer(&fast.url, &c).await, answer(&slow.url, &c).await);
        assert_eq!(a, b, "{}: the fast path answered {a:?}, rmcp {b:?}", c.what);
    }
    // The ordinary calls went the fast way (no rmcp service built for them).
    let served = fast_path_calls(&fast).await.as_u64().unwrap();
    assert!(served >= 14, "fast path served {served}");
    // And so do an rmcp client's, as the CLI and the bridge make them.
    let client = fast.client().await;
    client.call("get_my_identity", json!({})).await.ok();
    assert_eq!(
        fast_path_calls(&fast).await.as_u64().unwrap(),
        served + 1,
        "an rmcp client's call took the fast path"
    );
    assert_eq!(fast_path_calls(&slow).await, Value::Null);
    fast.stop().await;
    slow.stop().await;
}
