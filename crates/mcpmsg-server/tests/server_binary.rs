//! The `mcpmsg-server` binary: flag validation, environment, signals.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mcpmsg-server");

fn refused(args: &[&str], envs: &[(&str, &str)]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .envs(envs.iter().copied())
        .env_remove("MCPMSG_PORT")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn bad_values_exit_2_naming_the_flag_before_binding() {
    assert_eq!(
        refused(&["--port", "x"], &[]),
        "mcpmsg-server: error: --port: \"x\" is not a port number (0-65535)\n"
    );
    assert_eq!(
        refused(&["--message-ttl", "0"], &[]),
        "mcpmsg-server: error: --message-ttl: must be from 1 to 604800, got 0\n"
    );
    assert_eq!(
        refused(&["--max-wait", "60"], &[]),
        "mcpmsg-server: error: --max-wait: must be from 0 to 50, got 60\n"
    );
    assert!(refused(&["--store", "cassandra"], &[])
        .starts_with("mcpmsg-server: error: --store: \"cassandra\" is not a store"));
    assert!(refused(&["--host", "0.0.0.0"], &[])
        .starts_with("mcpmsg-server: error: --allowed-host: binding 0.0.0.0 (not loopback) needs"));
    assert!(refused(&["--keys", "/nonexistent/keys"], &[]).starts_with("mcpmsg-server: error: --keys: "));
    assert_eq!(
        refused(&[], &[("MCP_SERVER_PORT", "99999")]),
        "mcpmsg-server: error: MCP_SERVER_PORT: \"99999\" is not a port number (0-65535)\n"
    );
    assert!(
        refused(&["--lease=abc"], &[]).contains("invalid value 'abc' for '--lease <SECS>'"),
        "clap names the flag"
    );
    assert_eq!(
        refused(&["--store", "rediss://db:6380/0#insecure"], &[]),
        "mcpmsg-server: error: --store: a rediss:// URL takes no #fragment: certificate checks cannot be turned off (#insecure); give the CA that signed Redis's certificate with --redis-ca\n"
    );
    assert_eq!(
        refused(&["--store", "redis://db:6379/0", "--redis-ca", "Cargo.toml"], &[]),
        "mcpmsg-server: error: --redis-ca: applies to a TLS store only: use rediss://HOST:PORT/DB or rediss-cluster://HOST:PORT,...\n"
    );
    assert!(refused(
        &["--store", "rediss://db:6380/0", "--redis-ca", "/nonexistent/ca.pem"],
        &[]
    )
    .starts_with("mcpmsg-server: error: --redis-ca: /nonexistent/ca.pem is not a readable file"));
    assert!(
        refused(&["--store", "rediss://db:6380/0", "--redis-cert", "Cargo.toml"], &[]).contains("--redis-key <FILE>"),
        "a certificate without its key"
    );
}

/// A password in a Redis URL never reaches the logs or an error message.
#[test]
fn a_redis_password_is_never_printed() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(BIN)
        .args(["--port", "0", "--log-level", "debug", "--store"])
        .arg(format!("redis://mcpmsg:hunter2@127.0.0.1:{closed}/0"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot use Redis at redis://mcpmsg:***@127.0.0.1:{closed}/0")),
        "{stderr}"
    );
}

#[test]
fn serves_on_the_seed_port_variable_and_stops_on_sigterm() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .env("MCP_SERVER_PORT", port.to_string())
        .env("LOG_LEVEL", "warn")
        .env("XDG_DATA_HOME", data.path())
        .env_remove("MCPMSG_SERVER_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let health = loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            s.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
            let mut body = String::new();
            s.read_to_string(&mut body).unwrap();
            break body;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(health.contains("\"status\":\"ok\""), "{health}");
    // The server key was created at its default place, private.
    use std::os::unix::fs::PermissionsExt;
    let key = data.path().join("mcpmsg/server-key.json");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

/// A server key file others can read is refused, and its seed never shown.
#[test]
fn a_server_key_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.json");
    let seed = "A".repeat(43);
    std::fs::write(&key, format!("{{\"mcpmsg_server_key\": 1, \"seed\": \"{seed}\"}}")).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(BIN)
        .args(["--port", "0", "--server-key"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("mode 644 lets others read it"), "{stderr}");
    assert!(!stderr.contains(&seed), "{stderr}");
}
