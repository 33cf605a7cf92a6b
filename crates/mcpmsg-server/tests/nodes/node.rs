//! A server process on a shared store, started as users start it (the
//! real binary, its flags), and its health check read over a plain socket.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mcpmsg_testkit as common;
use serde_json::Value;

pub struct Node {
    child: Child,
    port: u16,
}

impl Node {
    pub fn start(redis: &str) -> Self {
        Self::start_with(redis, &[])
    }

    pub fn start_with(redis: &str, extra: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Nodes sharing a store share the server key file (PROTOCOL §12).
        let key = std::env::temp_dir().join(format!(
            "mcpmsg-test-server-key-{}.json",
            redis.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        ));
        let child = Command::new(env!("CARGO_BIN_EXE_mcpmsg-server"))
            .arg("--server-key")
            .arg(&key)
            .args([
                "--port",
                &port.to_string(),
                "--store",
                redis,
                "--lease",
                "1",
                "--log-level",
                "warn",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let node = Self { child, port };
        let started = Instant::now();
        while health(&node.base()).0 != 200 {
            assert!(started.elapsed() < Duration::from_secs(10), "node did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        node
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("{}/mcp", self.base())
    }

    pub async fn client_2026(&self) -> common::Client {
        let t = rmcp::transport::StreamableHttpClientTransport::from_uri(self.url());
        let mode = rmcp::ClientLifecycleMode::Discover {
            preferred_versions: vec![rmcp::model::ProtocolVersion::V_2026_07_28],
        };
        common::Client {
            svc: rmcp::ClientServiceExt::serve_with_lifecycle((), t, mode).await.unwrap(),
        }
    }

    pub async fn client(&self) -> common::Client {
        let t = rmcp::transport::StreamableHttpClientTransport::from_uri(self.url());
        common::Client {
            svc: rmcp::ServiceExt::serve((), t).await.unwrap(),
        }
    }

    /// SIGKILL: no graceful anything.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn health(base: &str) -> (u16, Value) {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(base.trim_start_matches("http://")) else {
        return (0, Value::Null);
    };
    s.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, body)
}
