//! A real `redis-server` on a free loopback port, for the tests.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
    extra: Vec<String>,
    tls: bool,
}

/// The files of a TLS Redis: its CA, and a client certificate it accepts.
pub struct TlsFiles {
    pub ca: String,
    pub cert: String,
    pub key: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A port for redis-server given its arguments: a Cluster node also binds
/// its bus on port + 10000, so it needs a port of at most 55535 whose bus
/// port is free too (Linux hands out ephemeral ports up to 60999).
fn port_for(extra: &[String]) -> u16 {
    if !extra.iter().any(|a| a == "--cluster-enabled") {
        return free_port();
    }
    loop {
        let port = free_port();
        if port <= 55535 && std::net::TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
}

impl RedisServer {
    /// Starts redis-server with an append-only file synced on every write,
    /// so a restart keeps everything that was acknowledged.
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("mcpmsg-redis-{}-{}", std::process::id(), free_port()));
        Self::start_with(dir, &[])
    }

    fn start_with(dir: PathBuf, extra: &[&str]) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let mut r = Self {
            port: port_for(&extra),
            dir,
            child: None,
            extra,
            tls: false,
        };
        r.spawn();
        r
    }

    /// Starts redis-server speaking only TLS, with a certificate for
    /// 127.0.0.1 from a CA made for the test, and requiring client
    /// certificates from that CA (Redis's default, `tls-auth-clients yes`).
    pub fn start_tls() -> (Self, TlsFiles) {
        let dir = std::env::temp_dir().join(format!("mcpmsg-redis-tls-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = make_certificates(&dir);
        (Self::start_tls_with(dir.clone(), &dir, &[]), files)
    }

    /// A TLS redis-server with its data in `dir` and the certificates of
    /// `make_certificates` in `certs`.
    fn start_tls_with(dir: PathBuf, certs: &std::path::Path, extra: &[&str]) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        let p = |f: &str| certs.join(f).to_str().unwrap().to_owned();
        let mut tls = vec![
            "--tls-cert-file".into(),
            p("server.pem"),
            "--tls-key-file".into(),
            p("server.key"),
            "--tls-ca-cert-file".into(),
            p("ca.pem"),
        ];
        tls.extend(extra.iter().map(|s| s.to_string()));
        let mut r = Self {
            port: port_for(&tls),
            dir,
            child: None,
            extra: tls,
            tls: true,
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let port = self.port.to_string();
        let ports = if self.tls {
            vec!["--port", "0", "--tls-port", &port]
        } else {
            vec!["--port", &port]
        };
        let child = Command::new("redis-server")
            .args(ports)
            .args([
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is needed for these tests (apt-get install redis-server; .ci/run installs it)");
        self.child = Some(child);
        let started = Instant::now();
        loop {
            // Another test's server may have taken the port between our
            // choice and our bind: ours then exits, and the one answering is
            // not ours. Choose again rather than share a store.
            if self
                .child
                .as_mut()
                .is_some_and(|c| c.try_wait().ok().flatten().is_some())
            {
                self.port = port_for(&self.extra);
                return self.spawn();
            }
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                if self.tls {
                    return; // listening; the handshake is the client's test
                }
                if self.answers_from_our_dir(&mut s) {
                    return;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the server on `s` is the one started here: it answers
    /// `CONFIG GET dir` with this server's directory.
    fn answers_from_our_dir(&self, s: &mut std::net::TcpStream) -> bool {
        use std::io::{Read, Write};
        if s.write_all(b"CONFIG GET dir\r\n").is_err() {
            return false;
        }
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut reply = Vec::new();
        let mut buf = [0u8; 512];
        // Its own name is unique (pid and port); Redis reports the path it
        // resolved, which may differ above it.
        let want = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            reply.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&reply);
            if text.matches("\r\n").count() >= 5 {
                return text.contains(&want);
            }
        }
        false
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/0", self.port)
    }

    /// Stops it (SIGTERM: it finishes writing its append-only file).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            let _ = c.wait();
        }
    }

    /// Kills it (SIGKILL): only what its append-only file already holds
    /// survives.
    pub fn crash(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Starts it again on the same port and data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all
/// P-256, made with the openssl command (`.ci/run` installs it if missing).
fn make_certificates(dir: &std::path::Path) -> TlsFiles {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl command is needed for the TLS tests (apt-get install openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=mcpmsg test CA",
            ],
        ]
        .concat(),
    );
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (name, ext) in [("server", "server.ext"), ("client", "client.ext")] {
        let (key, csr, pem) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"));
        openssl(
            &[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    &key,
                    "-out",
                    &csr,
                    "-subj",
                    &format!("/CN=mcpmsg test {name}"),
                ],
            ]
            .concat(),
        );
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            ext,
        ]);
    }
    let p = |f: &str| dir.join(f).to_str().unwrap().to_owned();
    TlsFiles {
        ca: p("ca.pem"),
        cert: p("client.pem"),
        key: p("client.key"),
    }
}

/// A three-node Redis Cluster (no replicas) on free loopback ports.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
    /// redis-cli's TLS flags, for a cluster that speaks only TLS.
    cli_tls: Vec<String>,
}

const CLUSTER_ARGS: [&str; 6] = [
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    "nodes.conf",
    "--cluster-node-timeout",
    "2000",
];

impl RedisCluster {
    pub fn start() -> Self {
        let base = std::env::temp_dir().join(format!("mcpmsg-cluster-{}-{}", std::process::id(), free_port()));
        let nodes = (0..3)
            .map(|i| RedisServer::start_with(base.join(format!("n{i}")), &CLUSTER_ARGS))
            .collect();
        Self::form(nodes, Vec::new())
    }

    /// A cluster that speaks only TLS, between its nodes too, and requires
    /// client certificates.
    pub fn start_tls() -> (Self, TlsFiles) {
        let base = std::env::temp_dir().join(format!("mcpmsg-cluster-tls-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&base).unwrap();
        let files = make_certificates(&base);
        let args = [&CLUSTER_ARGS[..], &["--tls-cluster", "yes"]].concat();
        let nodes = (0..3)
            .map(|i| RedisServer::start_tls_with(base.join(format!("n{i}")), &base, &args))
            .collect();
        let cli_tls = [
            "--tls",
            "--cacert",
            &files.ca,
            "--cert",
            &files.cert,
            "--key",
            &files.key,
        ]
        .map(str::to_owned)
        .to_vec();
        (Self::form(nodes, cli_tls), files)
    }

    fn form(nodes: Vec<RedisServer>, cli_tls: Vec<String>) -> Self {
        let addrs: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let out = Command::new("redis-cli")
            .args(&cli_tls)
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli is needed (it comes with redis-server)");
        assert!(
            out.status.success(),
            "cluster create: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let started = Instant::now();
        for n in &nodes {
            loop {
                let info = Command::new("redis-cli")
                    .args(&cli_tls)
                    .args(["-p", &n.port.to_string(), "cluster", "info"])
                    .output()
                    .unwrap();
                if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
                    break;
                }
                assert!(started.elapsed() < Duration::from_secs(20), "cluster did not become ok");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Self { nodes, cli_tls }
    }

    pub fn url(&self) -> String {
        let addrs: Vec<String> = self.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let scheme = if self.cli_tls.is_empty() {
            "redis-cluster"
        } else {
            "rediss-cluster"
        };
        format!("{scheme}://{}", addrs.join(","))
    }
}
