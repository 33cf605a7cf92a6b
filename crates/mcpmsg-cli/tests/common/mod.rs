//! The harness of the CLI's end-to-end tests: a real server on a free
//! loopback port, users whose identities the real CLI made, real bridges
//! over stdio, and relays that act as a hostile server or network.
#![allow(dead_code)]

pub mod ide;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use clap::Parser;
use mcpmsg_core::crypto::b64;
use mcpmsg_core::keyfile::KeyFile;
use mcpmsg_core::protocol::{new_nonce, now_ms, sign_input};
use mcpmsg_server::config::ServerArgs;
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

pub const MCPMSG: &str = env!("CARGO_BIN_EXE_mcpmsg");

pub struct Server {
    pub port: u16,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// The server's broker, for what no tool triggers yet (events).
    pub broker: std::sync::Arc<mcpmsg_server::broker::Broker>,
}

/// The server key every test server of this process uses unless told
/// otherwise: one key, like one server restarted (tests never touch the
/// user's default key).
fn shared_server_key() -> String {
    let path = std::env::temp_dir().join(format!("mcpmsg-cli-tests-{}.server-key.json", std::process::id()));
    path.to_str().expect("a UTF-8 temporary path").to_owned()
}

impl Server {
    pub async fn start(port: u16) -> Self {
        Self::start_with_key(port, &shared_server_key()).await
    }

    /// A server signing with the key in `key_file` (made there if absent).
    pub async fn start_with_key(port: u16, key_file: &str) -> Self {
        let port = port.to_string();
        let args = [
            "mcpmsg-server",
            "--port",
            &port,
            "--lease",
            "1",
            "--server-key",
            key_file,
        ];
        let config = ServerArgs::parse_from(args).validate().unwrap();
        let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let shutdown = CancellationToken::new();
        let broker = mcpmsg_server::server::broker(&config, shutdown.clone()).await.unwrap();
        let app = mcpmsg_server::server::router(&config, broker.clone());
        let stop = shutdown.clone();
        let task = tokio::spawn(async move { mcpmsg_server::server::serve(listener, app, &config, stop).await });
        Self {
            port,
            shutdown,
            task,
            broker,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// A user's folder with an identity made by the real CLI.
pub struct User {
    pub dir: tempfile::TempDir,
    pub id: String,
}

impl User {
    pub fn new(id: &str, url: &str) -> Self {
        let u = Self {
            dir: tempfile::tempdir().unwrap(),
            id: id.into(),
        };
        u.mcpmsg(&["init", "--id", id, "--server", url]);
        u.mcpmsg(&["checkin"]);
        u
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("mcp_recipients.json")
    }

    /// Runs the CLI as this user, stdin closed.
    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new(MCPMSG)
            .arg("--config")
            .arg(self.config())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub fn mcpmsg(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "mcpmsg {args:?}: {}\nstdout: {}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs the CLI expecting failure; returns its stdout and stderr.
    pub fn mcpmsg_fails_with_output(&self, args: &[&str]) -> (String, String) {
        let out = self.run(args);
        assert!(!out.status.success(), "mcpmsg {args:?} succeeded");
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    /// Runs the CLI expecting failure; returns its stderr.
    pub fn mcpmsg_fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "mcpmsg {args:?} succeeded");
        String::from_utf8(out.stderr).unwrap()
    }

    pub fn pin(&self, other: &User) {
        self.mcpmsg(&["recipients", "add", &other.id, "--name", &format!("{}'s IDE", other.id)]);
    }

    pub fn keys(&self) -> KeyFile {
        KeyFile::decode(
            &std::fs::read_to_string(self.dir.path().join(format!("{}.key", self.id))).unwrap(),
            None,
        )
        .unwrap()
    }

    pub async fn bridge(&self) -> Bridge {
        self.bridge_with(&[]).await
    }

    /// A bridge started with extra `flags` (`--no-watch`, ...).
    pub async fn bridge_with(&self, flags: &[&str]) -> Bridge {
        let mut cmd = tokio::process::Command::new(MCPMSG);
        cmd.arg("--config").arg(self.config()).arg("bridge").args(flags);
        let (transport, _) = TokioChildProcess::builder(cmd).stderr(Stdio::null()).spawn().unwrap();
        Bridge(().serve(transport).await.expect("bridge starts"))
    }
}

pub struct Bridge(pub RunningService<RoleClient, ()>);

/// A bridge started by `cmd` (an `mcpmsg ... bridge` command).
pub async fn bridge_from(mut cmd: tokio::process::Command) -> Bridge {
    cmd.stderr(Stdio::null());
    let (transport, _) = TokioChildProcess::builder(cmd).stderr(Stdio::null()).spawn().unwrap();
    Bridge(().serve(transport).await.expect("bridge starts"))
}

impl Bridge {
    pub async fn call(&self, tool: &str, args: Value) -> (bool, String, Value) {
        let Value::Object(map) = args else { unreachable!() };
        let r = self
            .0
            .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(map))
            .await
            .unwrap();
        let text = r
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect::<Vec<_>>()
            .join("\n");
        (
            r.is_error == Some(true),
            text,
            r.structured_content.unwrap_or(Value::Null),
        )
    }

    pub async fn ok(&self, tool: &str, args: Value) -> Value {
        let (err, text, v) = self.call(tool, args).await;
        assert!(!err, "{tool}: {text}");
        v
    }

    /// Reads until at least `n` messages arrived.
    pub async fn read(&self, n: usize) -> Vec<Value> {
        let mut all = Vec::new();
        for _ in 0..10 {
            let v = self.ok("get_messages", json!({"wait_s": 3})).await;
            all.extend(v["messages"].as_array().unwrap().iter().cloned());
            if all.len() >= n {
                break;
            }
        }
        all
    }
}

/// A raw signed `get_messages` for `who`, as a third party holding the key would send it.
pub fn raw_get(who: &User, ack: &str) -> Value {
    let keys = who.keys();
    let key = keys.signing.as_ref().unwrap();
    let (kid, ts, nonce) = (key.public().kid(), now_ms().to_string(), new_nonce());
    let sig = b64::encode(&key.sign(&sign_input("get", &[&who.id, "", "", ack, &kid, &ts, &nonce])));
    json!({"client_id": who.id, "ack": ack, "key_id": kid, "ts": ts, "nonce": nonce, "sig": sig})
}

pub async fn raw_call(url: &str, tool: &str, args: Value) -> Value {
    let client = ().serve(StreamableHttpClientTransport::from_uri(url.to_owned())).await.unwrap();
    let Value::Object(map) = args else { unreachable!() };
    let r = client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(map))
        .await
        .unwrap();
    assert_ne!(r.is_error, Some(true), "{tool}: {:?}", r.content);
    r.structured_content.unwrap()
}

pub fn pair(url: &str) -> (User, User) {
    let (alice, bob) = (User::new("alice", url), User::new("bob", url));
    alice.pin(&bob);
    bob.pin(&alice);
    (alice, bob)
}

/// A relay in front of `upstream`, as a hostile server or network: each
/// request may be answered by `intercept` (its raw body in, a JSON-RPC
/// answer out) instead of the server, and each JSON answer of the server
/// passes through `rewrite`. Returns the relay's URL.
pub async fn relay<I, R>(upstream: String, intercept: I, rewrite: R) -> String
where
    I: Fn(&[u8]) -> Option<String> + Clone + Send + Sync + 'static,
    R: Fn(&mut Value) + Clone + Send + Sync + 'static,
{
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    let http = reqwest::Client::new();
    let handler = move |headers: HeaderMap, body: Bytes| {
        let (http, upstream, intercept, rewrite) = (http.clone(), upstream.clone(), intercept.clone(), rewrite.clone());
        async move {
            if let Some(answer) = intercept(&body) {
                return (StatusCode::OK, [("content-type", "application/json")], answer);
            }
            let mut req = http.post(&upstream).body(body);
            for name in ["content-type", "accept", "mcp-protocol-version", "mcp-session-id"] {
                if let Some(v) = headers.get(name) {
                    req = req.header(name, v.as_bytes());
                }
            }
            let r = req.send().await.unwrap();
            let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
            let text = r.text().await.unwrap();
            let Ok(mut v) = serde_json::from_str::<Value>(&text) else {
                return (status, [("content-type", "application/json")], text);
            };
            rewrite(&mut v);
            (status, [("content-type", "application/json")], v.to_string())
        }
    };
    let app = axum::Router::new().route("/mcp", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// A relay that alters every delivered message body, as a compromised
/// server or network would; returns its URL.
pub async fn tampering_proxy(upstream: String) -> String {
    relay(
        upstream,
        |_| None,
        |v: &mut Value| {
            if let Some(msgs) = v["result"]["structuredContent"]["messages"].as_array_mut() {
                for m in msgs {
                    let body = m["message"].as_str().unwrap().to_owned();
                    let mid = body.len() / 2;
                    let flipped = if &body[mid..mid + 1] == "A" { "B" } else { "A" };
                    m["message"] = json!(format!("{}{flipped}{}", &body[..mid], &body[mid + 1..]));
                }
            }
        },
    )
    .await
}
