//! Part (i): the same signed-send throughput measured by a load generator
//! that is not ours: `wrk` (Debian's package) replays bodies this bench
//! signed beforehand (scripts/wrk-replay.lua, each body once), so a figure
//! does not rest on our own HTTP client. It shares the two cores with the
//! server, so its own CPU per request is reported beside the server's.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::load::presign;
use crate::rpc::{Rpc, PROTOCOL};
use crate::{drain, median, procfs, register, Args, Who};

/// The replay script, written beside the bodies for each run.
const SCRIPT: &str = include_str!("../../../scripts/wrk-replay.lua");

/// One wrk round: requests per second, requests, refused, and the CPU
/// nanoseconds wrk used (read until it exits, every 20 ms).
fn wrk_round(url: &str, dir: &std::path::Path, bodies: &[(String, String)], a: &Args) -> Result<(f64, u64, u64, u64)> {
    let file = dir.join("bodies.jsonl");
    let text: String = bodies.iter().map(|(b, _)| format!("{b}\n")).collect();
    std::fs::write(&file, text)?;
    let script = dir.join("wrk-replay.lua");
    std::fs::write(&script, SCRIPT)?;
    let mut child = Command::new("wrk")
        .args(["-t1", &format!("-c{}", a.clients), &format!("-d{}s", a.duration), "-s"])
        .arg(&script)
        .arg(url)
        .arg("--")
        .arg(&file)
        .arg(PROTOCOL)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("wrk is needed for this part (apt-get install wrk)")?;
    let mut wrk_ns = 0;
    while child.try_wait()?.is_none() {
        if let Some(ns) = procfs::cpu_ns(child.id()) {
            wrk_ns = ns;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("wrk failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    }
    let field = |prefix: &str| {
        stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|r| r.trim().to_owned()))
    };
    let rate: f64 = field("Requests/sec:")
        .and_then(|r| r.parse().ok())
        .context("wrk printed no Requests/sec")?;
    let requests: u64 = stdout
        .lines()
        .find_map(|l| l.trim().split_once(" requests in ").and_then(|(n, _)| n.parse().ok()))
        .context("wrk printed no request count")?;
    let refused = field("mcpmsg-refused").and_then(|r| r.parse().ok()).unwrap_or(u64::MAX);
    if refused > 0 {
        eprintln!(
            "mcpmsg-bench: wrk: {refused} sends refused, the first with {}",
            field("mcpmsg-first-refusal").unwrap_or_default()
        );
    }
    Ok((rate, requests, refused, wrk_ns))
}

pub(crate) async fn run(
    rpc: &Arc<Rpc>,
    url: &str,
    a: &Args,
    tag: &str,
    pid: Option<u32>,
    yard: f64,
) -> Result<(Value, Vec<String>)> {
    let label = "signed sends by wrk (independent client)";
    if Command::new("wrk").arg("--version").output().is_err() {
        return Ok((
            Value::Null,
            vec![format!("{label:<46}skipped: wrk not found (apt-get install wrk)")],
        ));
    }
    let sender = Who::new(format!("bench-{tag}-wrk"));
    // Enough receivers that no sender's share of a queue (1,000 by
    // default) fills in a round, whatever the rate.
    let receivers: Vec<Who> = (0..256).map(|i| Who::new(format!("bench-{tag}-wr{i}"))).collect();
    register(rpc, &[&sender]).await?;
    register(rpc, &receivers.iter().collect::<Vec<_>>()).await?;
    let names: Vec<String> = receivers.iter().map(|w| w.id.clone()).collect();
    let dir = std::env::temp_dir().join(format!("mcpmsg-bench-wrk-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (mut rates, mut server_us, mut wrk_us, mut refused_all) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for _ in 0..a.rounds {
        // More bodies than a round can send: each is replayed once.
        let bodies = presign(rpc, &sender, &names, 40_000 * a.duration as usize, a.size);
        let before = pid.and_then(procfs::cpu_ns);
        let (rate, requests, refused, wrk_ns) = wrk_round(url, &dir, &bodies, a)?;
        let after = pid.and_then(procfs::cpu_ns);
        rates.push(rate);
        refused_all += refused;
        if let (Some(b), Some(x)) = (before, after) {
            server_us.push((x - b) as f64 / 1e3 / requests.max(1) as f64);
        }
        wrk_us.push(wrk_ns as f64 / 1e3 / requests.max(1) as f64);
        drain(rpc, &receivers).await?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let rate = median(&mut rates);
    let wrk = median(&mut wrk_us);
    let server = (!server_us.is_empty()).then(|| median(&mut server_us));
    let v = json!({"requests_per_s": rate, "server_cpu_us_per_send": server, "wrk_cpu_us_per_send": wrk,
        "refused": refused_all, "rounds": a.rounds});
    let mut line = format!(
        "{label:<46}{rate:.0} msg/s (median of {} x {} s, {} connections); wrk {wrk:.1} µs CPU per send",
        a.rounds, a.duration, a.clients
    );
    if let Some(s) = server {
        line.push_str(&format!(
            "; server {s:.1} µs per send = {:.2}x parse + verify",
            s / yard
        ));
    }
    if refused_all > 0 {
        line.push_str(&format!("; {refused_all} refused"));
    }
    Ok((v, vec![line]))
}
