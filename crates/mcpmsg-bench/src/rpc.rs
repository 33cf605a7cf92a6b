//! A minimal MCP client over Streamable HTTP: `initialize`, then
//! `tools/call` as plain JSON-RPC POSTs. It follows a session id if the
//! server hands one out and reads SSE replies as well as JSON ones, so it
//! can drive any server that speaks the protocol.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use mcpmsg_core::protocol::tools::{parse_output, ToolArgs};

pub(crate) const PROTOCOL: &str = "2025-11-25";

pub struct Rpc {
    http: reqwest::Client,
    url: String,
    session: Option<String>,
    next: AtomicU64,
}

impl Rpc {
    pub async fn connect(http: reqwest::Client, url: &str) -> Result<Self> {
        let mut rpc = Self {
            http,
            url: url.to_owned(),
            session: None,
            next: AtomicU64::new(1),
        };
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "mcpmsg-bench", "version": env!("CARGO_PKG_VERSION")}}});
        let r = rpc
            .request(init.to_string())
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        rpc.session = r
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = r.text().await?;
        parse(&body).context("initialize failed")?;
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        rpc.request(note.to_string()).send().await?;
        Ok(rpc)
    }

    fn request(&self, body: String) -> reqwest::RequestBuilder {
        let mut r = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", PROTOCOL)
            .body(body);
        if let Some(s) = &self.session {
            r = r.header("mcp-session-id", s);
        }
        r
    }

    /// The JSON-RPC body of a tool call, to build ahead of the timed part.
    pub fn body<A: ToolArgs>(&self, args: &A) -> String {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let tool = A::TOOL.as_str();
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": args}})
            .to_string()
    }

    /// Posts a prepared body; returns the tool result (`structuredContent`),
    /// or an error with the refusal text.
    pub async fn post(&self, body: String) -> Result<Value> {
        let text = self.request(body).send().await?.text().await?;
        let result = parse(&text)?;
        if result["isError"] == true {
            bail!("{}", result["content"][0]["text"].as_str().unwrap_or("refused"));
        }
        Ok(result["structuredContent"].clone())
    }

    /// The server's `/health`, next to its MCP endpoint.
    pub async fn http_health(&self) -> Result<Value> {
        let base = self.url.trim_end_matches('/').trim_end_matches("/mcp");
        Ok(self.http.get(format!("{base}/health")).send().await?.json().await?)
    }

    pub async fn call<A: ToolArgs>(&self, args: &A) -> Result<A::Output> {
        let answer = self.post(self.body(args)).await?;
        Ok(parse_output::<A>(answer)?)
    }
}

/// The `result` of a JSON-RPC response, plain or as the last SSE `data:`.
fn parse(text: &str) -> Result<Value> {
    let json = if text.trim_start().starts_with('{') {
        text.to_owned()
    } else {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(str::trim)
            .rfind(|d| d.starts_with('{'))
            .unwrap_or("")
            .to_owned()
    };
    let v: Value = serde_json::from_str(&json).with_context(|| format!("not a JSON-RPC reply: {:.200}", text))?;
    if let Some(e) = v.get("error") {
        bail!("JSON-RPC error: {e}");
    }
    Ok(v["result"].clone())
}
