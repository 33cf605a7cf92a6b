//! The light-load yardstick: a bare HTTP/1.1 responder on the same tokio
//! runtime as the server, run as a child process (`--serve-floor`) and
//! measured like one. It reads each request whole and writes a fixed
//! JSON-RPC answer, nothing else, so its CPU per call at a low rate is what
//! waking a runtime worker, two socket calls and cold caches cost on this
//! machine before any server does any work.

use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The answer to every POST: a JSON-RPC result any MCP client accepts.
const ANSWER: &str =
    r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"floor"}],"structuredContent":{}}}"#;

/// A request larger than this is refused (the bench never sends one).
const MAX_REQUEST: usize = 1 << 20;

/// Serves on a free loopback port, printed on the first line of stdout,
/// until killed. Runs on the bench's `#[tokio::main]` runtime, built like
/// the server's (one worker per core).
pub(crate) async fn serve() -> Result<()> {
    // The bench holds our stdin: when it ends, however it ends (Ctrl-C
    // included, which skips its destructors), so do we.
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?.port());
    loop {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        tokio::spawn(async move {
            // A connection that breaks just ends.
            let _ = answer(tcp).await;
        });
    }
}

/// Answers the requests of one keep-alive connection.
async fn answer(tcp: TcpStream) -> Result<()> {
    let (read, mut write) = tcp.into_split();
    let mut read = BufReader::new(read);
    let mut line = String::new();
    loop {
        let mut length = 0usize;
        let mut post = false;
        let mut first = true;
        loop {
            line.clear();
            if read.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            if first {
                post = line.starts_with("POST ");
                first = false;
            } else if line == "\r\n" {
                break;
            } else if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse()?;
                }
            }
        }
        if length > MAX_REQUEST {
            bail!("request too large");
        }
        let mut body = vec![0u8; length];
        read.read_exact(&mut body).await?;
        let answer = if post { ANSWER } else { "{}" };
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        write.write_all(response.as_bytes()).await?;
    }
}

/// The responder as a child process of this bench, and its MCP URL.
pub(crate) struct Floor {
    child: Child,
    pub url: String,
}

impl Floor {
    pub fn start() -> Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("--serve-floor")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the floor responder")?;
        let mut port = String::new();
        let stdout = child.stdout.take().context("no stdout")?;
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut port)?;
        let port: u16 = port.trim().parse().context("the floor responder gave no port")?;
        Ok(Self {
            child,
            url: format!("http://127.0.0.1:{port}/mcp"),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
