//! The HTTP edge over raw HTTP: Origin, JSON-RPC errors with their codes,
//! duplicate members (A5), batches and protocol 2025-03-26, `/health` for
//! strangers, and half-sent requests that must not hold the server.

use mcpmsg_testkit as common;

use std::time::Duration;

use common::{register, Ident, TestServer};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

async fn post_with(url: &str, body: impl Into<reqwest::Body>, headers: &[(&str, &str)]) -> (u16, String) {
    let mut r = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25");
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = r.body(body).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn post(url: &str, body: impl Into<reqwest::Body>) -> (u16, String) {
    post_with(url, body, &[]).await
}

fn rpc_code(body: &str) -> i64 {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("no JSON-RPC error: {body}"))
}

fn call(name: &str, arguments: Value) -> String {
    json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": name, "arguments": arguments}})
        .to_string()
}

#[tokio::test]
async fn malformed_json_rpc_gets_json_rpc_errors() {
    let s = TestServer::start(&[]).await;
    for (body, code) in [
        ("{", -32700),
        ("\u{0}\u{1}", -32700),
        ("[]", -32600),
        (r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]"#, -32600),
        ("42", -32600),
        (r#"{"jsonrpc":"1.0","id":1,"method":"tools/list"}"#, -32600),
        (r#"{"jsonrpc":"2.0","id":1}"#, -32600),
        (r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}"#, -32602),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_clients","arguments":"x"}}"#,
            -32602,
        ),
        (r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#, -32602),
    ] {
        let (status, text) = post(&s.url, body).await;
        assert_eq!(status, 400, "{body:?} -> {text}");
        assert_eq!(rpc_code(&text), code, "{body:?} -> {text}");
    }
    s.stop().await;
}

#[tokio::test]
async fn duplicate_members_are_refused() {
    let s = TestServer::start(&[]).await;
    let c = s.client().await;
    let (mut alice, bob) = (Ident::new("alice"), Ident::new("bob"));
    register(&c, &[&alice, &bob]).await;
    // A rotation whose `signing_key` appears twice: a last-wins parser
    // would check one key and store the text with both.
    let event = serde_json::to_string(&alice.rotate()).unwrap();
    let doubled = event.replacen("{", r#"{"seq":"9","#, 1);
    let body = call("rotate_key", json!({"event": "PLACEHOLDER"})).replace("\"PLACEHOLDER\"", &doubled);
    let (status, text) = post(&s.url, body).await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["result"]["isError"], true, "{text}");
    assert_eq!(v["result"]["structuredContent"]["error"]["code"], "invalid_argument");
    assert!(v["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .starts_with("[invalid_argument] duplicate member \"seq\""));
    // A duplicate argument of a send.
    let send = call("send_message", alice.send("bob", "x")).replacen(r#""message":"#, r#""message":"y","message":"#, 1);
    let (_, text) = post(&s.url, send).await;
    assert!(text.contains("[invalid_argument] duplicate member"), "{text}");
    // Outside a tool call: a JSON-RPC error.
    let (status, text) = post(&s.url, r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/list"}"#).await;
    assert_eq!((status, rpc_code(&text)), (400, -32600), "{text}");
    // Nothing changed: the rotation did not happen.
    let keys = c.call("get_client_keys", json!({"client_id": "alice"})).await.ok();
    assert_eq!(keys["kel"].as_array().unwrap().len(), 1);
    s.stop().await;
}

#[tokio::test]
async fn origins_and_health_for_strangers() {
    let s = TestServer::start(&["--allowed-origin", "https://app.example.com"]).await;
    let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    for origin in ["https://evil.example", "http://localhost.evil.example", "null"] {
        let (status, text) = post_with(&s.url, list, &[("origin", origin)]).await;
        assert_eq!(status, 403, "{origin}: {text}");
    }
    for origin in [
        "http://localhost:3000",
        "http://127.0.0.1:8123",
        "https://app.example.com",
    ] {
        let (status, text) = post_with(&s.url, list, &[("origin", origin)]).await;
        assert_ne!(status, 403, "{origin}: {text}");
    }
    let http = reqwest::Client::new();
    let full: Value = http
        .get(format!("{}/health", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(full["store"], "memory");
    let stranger: Value = http
        .get(format!("{}/health", s.base))
        .header("host", "probe.example")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stranger, json!({"status": "ok"}));
    let evil = http
        .get(format!("{}/health", s.base))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status().as_u16(), 403);
    s.stop().await;
}

#[tokio::test]
async fn protocol_2025_03_26_is_not_offered() {
    let s = TestServer::start(&[]).await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "old", "version": "1"}}});
    // An old client sends no MCP-Protocol-Version header.
    let r = reqwest::Client::new()
        .post(&s.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(init.to_string())
        .send()
        .await
        .unwrap();
    let (status, text) = (r.status().as_u16(), r.text().await.unwrap());
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let offered = v["result"]["protocolVersion"].as_str().unwrap();
    assert_ne!(offered, "2025-03-26", "{text}");
    assert!(offered > "2025-03-26", "{offered}");
    s.stop().await;
}

#[tokio::test]
async fn a_tool_without_arguments_says_so() {
    let s = TestServer::start(&[]).await;
    let c = s.client().await;
    let msg = c
        .call("get_my_identity", json!({"x": 1}))
        .await
        .refused("invalid_argument");
    assert_eq!(msg, "unknown argument \"x\"; this tool takes no arguments");
    let msg = c
        .call("get_client_keys", json!({"who": 1}))
        .await
        .refused("invalid_argument");
    assert_eq!(msg, "unknown argument \"who\"; this tool takes client_id");
    s.stop().await;
}

/// Half-sent requests are dropped after the read timeout, and the
/// connection cap keeps them from exhausting the server: `/health` answers.
#[tokio::test]
async fn half_sent_requests_cannot_hold_the_server() {
    let s = TestServer::start(&["--read-timeout", "1", "--max-connections", "8"]).await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    let heads = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    let body = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\ncontent-length: 100\r\n\r\n{\"jsonrpc\"";
    // Every connection the server allows, held with half the headers, then
    // with the headers and half a body.
    for part in [heads, body] {
        let mut held = Vec::new();
        for _ in 0..8 {
            let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
            tcp.write_all(part.as_bytes()).await.unwrap();
            held.push(tcp);
        }
        let health = tokio::time::timeout(Duration::from_secs(10), reqwest::get(format!("{}/health", s.base)))
            .await
            .expect("/health answers while half-sent requests are held")
            .unwrap();
        assert_eq!(health.status().as_u16(), 200);
    }
    s.stop().await;
}
