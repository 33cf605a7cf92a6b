//! The independent acceptance client (tests/independent/acceptance.py,
//! official Python MCP SDK, written from PROTOCOL.md alone) against the real
//! `mcpmsg-server` process, in both protocol modes. It needs python3 with
//! the packages of tests/independent/requirements.txt; `.ci/run` installs
//! them. Missing, the test fails and says so: it never skips.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server process, and the directory of its key (removed after it).
struct Server(Child, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The server with `flags`, and its key in a directory of its own.
fn start(flags: &[&str]) -> (Server, String) {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_mcpmsg-server"))
        .args(["--port", &port.to_string(), "--log-level", "warn", "--server-key"])
        .arg(dir.path().join("server-key.json"))
        .args(flags)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Server(child, dir), format!("http://127.0.0.1:{port}/mcp"))
}

fn run(url: &str, mode: &str) -> String {
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/independent/acceptance.py"
        ))
        .args([url, "--mode", mode])
        .output()
        .expect("python3 is needed for the acceptance client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named"),
        "install the acceptance client's packages: python3 -m pip install -r tests/independent/requirements.txt\n{stderr}"
    );
    assert!(out.status.success(), "acceptance ({mode}) failed:\n{stdout}{stderr}");
    assert!(stdout.ends_with("10 passed, 0 failed\n"), "{stdout}");
    stdout.into_owned()
}

#[test]
fn independent_client_passes_with_sessions() {
    let (_server, url) = start(&[]);
    run(&url, "session");
}

/// The whole suite in both modes (2025-11-25 after a handshake, and
/// 2026-07-28 per request), its calls served by the fast path (issue 14)
/// on one server and by rmcp on the other: the same checks pass, with the
/// same output.
#[test]
fn the_fast_path_passes_the_suite_as_rmcp_does() {
    let (_fast, fast_url) = start(&[]);
    let (_slow, slow_url) = start(&["--no-fast-path"]);
    for mode in ["session", "sessionless"] {
        assert_eq!(run(&fast_url, mode), run(&slow_url, mode), "{mode}");
    }
    let calls = |url: &str| {
        let health = format!("{}/health", url.trim_end_matches("/mcp"));
        let rt = tokio::runtime::Runtime::new().unwrap();
        let v: serde_json::Value = rt.block_on(async { reqwest::get(health).await.unwrap().json().await.unwrap() });
        v["fast_path_calls"].clone()
    };
    assert!(
        calls(&fast_url).as_u64().unwrap() > 20,
        "the suite's calls went the fast way"
    );
    assert_eq!(calls(&slow_url), serde_json::Value::Null);
}

#[test]
fn independent_client_passes_sessionless() {
    let (_server, url) = start(&[]);
    run(&url, "sessionless");
}

/// The same checks against a server that keeps sessions (`--sessions`,
/// for 2025-11-25 pushes): nothing of v1 may change.
#[test]
fn independent_client_passes_against_a_server_with_sessions() {
    let (_server, url) = start(&["--sessions"]);
    run(&url, "session");
    run(&url, "sessionless");
}

/// Push (PROTOCOL §13) with the official Python SDK: `mode` is `listen`
/// (2026-07-28) or `subscribe` (2025-11-25, on a server with sessions).
fn push(url: &str, mode: &str) {
    let out = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/independent/push.py"))
        .args([url, "--mode", mode])
        .output()
        .expect("python3 is needed for the independent client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "push ({mode}) failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with(&format!("ok {mode}:")), "{stdout}");
}

#[test]
fn the_independent_client_is_poked_through_listen() {
    let (_server, url) = start(&[]);
    push(&url, "listen");
}

#[test]
fn the_independent_session_client_is_poked_through_subscribe() {
    let (_server, url) = start(&["--sessions"]);
    push(&url, "subscribe");
}
