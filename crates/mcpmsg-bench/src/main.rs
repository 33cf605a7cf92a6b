//! `mcpmsg-bench`: measures a server that speaks the mcpmsg protocol.
//!
//! In one invocation: (c) the in-process cost of parsing a send and
//! `verify_strict` on this machine, the yardstick; (d) idle RSS and memory
//! per queued message; (a) signed-send throughput, with server CPU per send
//! as a ratio of the yardstick; (b) send-to-wake latency, open loop, from
//! both the scheduled and the actual send time. CPU and memory are read
//! from /proc when `--server-pid` names a local server. Requests are signed
//! before each timed part so the load generator spends its CPU on HTTP.

mod broadcast;
mod crosscheck;
mod floor;
mod latency;
mod load;
mod lowrate;
mod procfs;
mod push;
mod rooms;
mod rpc;
mod typed;
mod yardstick;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use hdrhistogram::Histogram;
use mcpmsg_core::crypto::{b64, SealingSecret, SigningSecret};
use mcpmsg_core::protocol::kel::Event;
use mcpmsg_core::protocol::tools::{CheckinClientArgs, GetMessagesArgs};
use mcpmsg_core::protocol::{new_nonce, now_ms, SendMessage, SendParts, SignedArgs};
use serde_json::{json, Value};

use load::{blast, presign};
use rpc::Rpc;

#[derive(Parser, Debug)]
#[command(
    name = "mcpmsg-bench",
    version,
    about = "Benchmark a server that speaks the mcpmsg protocol"
)]
struct Args {
    /// Run as the light-load part's bare responder (started by the bench itself)
    #[arg(long, hide = true)]
    serve_floor: bool,
    /// A server's MCP endpoint, optionally labelled (`redis=http://...`);
    /// repeat to compare servers in one run
    #[arg(long = "url", default_value = "http://127.0.0.1:8123/mcp")]
    urls: Vec<String>,
    /// Pid of each server (same order as --url) when it runs on this machine: enables CPU and memory figures
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
    /// HOST:PORT of the Redis behind a redis-backed server: adds Redis's own memory per queued message, split into the message in its queue and its replay record
    #[arg(long)]
    redis: Option<String>,
    /// Concurrent senders for the throughput and memory parts
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Seconds of each throughput round
    #[arg(long, default_value_t = 3)]
    duration: u64,
    /// Throughput rounds; the median is reported
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Messages per second offered in the latency part (open loop)
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Receivers parked in get_messages during the latency part
    #[arg(long, default_value_t = 1000)]
    waiters: usize,
    /// Seconds of the latency part
    #[arg(long, default_value_t = 10)]
    latency_duration: u64,
    /// Messages queued for the memory part
    #[arg(long, default_value_t = 100_000)]
    queued: usize,
    /// Message size in bytes
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Parts to run (push: send-to-poke of a subscriptions/listen listener; rooms: room fan-out and pairing; broadcast: to --broadcast-recipients; lowrate: server CPU per call of one client at --low-rates, beside a bare responder's; wrk: the throughput part driven by wrk; broadcast, lowrate and wrk are not in the default set)
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "verify,typed,memory,throughput,latency,push,rooms"
    )]
    parts: Vec<String>,
    /// LABEL=URL: where the push part's listener listens for the target labelled LABEL (another node sharing its store, to measure a poke across nodes); default: the target itself
    #[arg(long = "listen-url")]
    listen_urls: Vec<String>,
    /// Sends in the push part, one at a time
    #[arg(long, default_value_t = 200)]
    push_sends: usize,
    /// Messages sent to each room (and 1:1, for the baseline) in the rooms part
    #[arg(long, default_value_t = 300)]
    room_sends: usize,
    /// Clients entering the pairing queue at once in the rooms part
    #[arg(long, default_value_t = 2000)]
    pair_clients: usize,
    /// Recipients of each broadcast in the broadcast part (the server needs --max-broadcast-recipients at least this, and a high --broadcast-rate)
    #[arg(long, default_value_t = 1000)]
    broadcast_recipients: usize,
    /// Calls per second of the light-load part, one client calling one at a time
    #[arg(long, value_delimiter = ',', default_value = "20,200,1000")]
    low_rates: Vec<u64>,
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

/// A bench identity with its key.
struct Who {
    id: String,
    key: SigningSecret,
    sealing: SealingSecret,
    kel: Vec<Event>,
}

impl Who {
    fn new(id: String) -> Self {
        let key = SigningSecret::generate();
        let sealing = SealingSecret::generate();
        let kel = vec![Event::inception(
            &id,
            &key,
            &sealing.public(),
            &SigningSecret::generate().public(),
            now_ms(),
        )];
        Self { id, key, sealing, kel }
    }

    fn checkin(&self) -> CheckinClientArgs {
        CheckinClientArgs {
            client_id: self.id.clone(),
            name: "bench".into(),
            capabilities: "bench".into(),
            kel: Some(self.kel.clone()),
            ..Default::default()
        }
        .signed_by(&self.key)
    }

    fn get(&self, max: &str, wait_s: &str) -> GetMessagesArgs {
        GetMessagesArgs {
            client_id: self.id.clone(),
            max: Some(max.into()),
            wait_s: Some(wait_s.into()),
            ..Default::default()
        }
        .signed_by(&self.key)
    }

    fn send(&self, to: &str, body: &str) -> SendMessage {
        let nonce = new_nonce();
        let parts = SendParts {
            sender_id: &self.id,
            recipient_id: to,
            in_reply_to: None,
            ts: now_ms(),
            nonce: &nonce,
        };
        SendMessage::sign(&self.key, parts, Some("text/markdown"), body)
    }
}

fn body_text(size: usize) -> String {
    "mcpmsg bench payload. ".chars().cycle().take(size).collect()
}

async fn register(rpc: &Rpc, who: &[&Who]) -> Result<()> {
    for w in who {
        rpc.call(&w.checkin())
            .await
            .with_context(|| format!("registering {}", w.id))?;
    }
    Ok(())
}

async fn drain(rpc: &Rpc, who: &[Who]) -> Result<()> {
    for w in who {
        while !rpc.call(&w.get("1000", "0")).await?.messages.is_empty() {}
    }
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn pct(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = Args::parse();
    if a.serve_floor {
        return floor::serve().await;
    }
    let mut reports = Vec::new();
    let mut text = Vec::new();
    for (i, target) in a.urls.iter().enumerate() {
        let (label, url) = match target.split_once('=') {
            Some((l, u)) => (l.to_owned(), u.to_owned()),
            None => (format!("server {}", i + 1), target.clone()),
        };
        let (report, lines) = run_target(&a, &label, &url, a.server_pids.get(i).copied()).await?;
        text.extend(lines);
        text.push(String::new());
        reports.push(report);
    }
    if reports.len() > 1 {
        let p50 = |r: &Value| r["latency"]["from_actual_ms"]["p50"].as_f64();
        for r in &reports[1..] {
            if let (Some(x), Some(base)) = (p50(r), p50(&reports[0])) {
                text.push(format!(
                    "{} vs {}: send-to-wake p50 from the actual send {:+.2} ms",
                    r["label"].as_str().unwrap_or("?"),
                    reports[0]["label"].as_str().unwrap_or("?"),
                    x - base
                ));
            }
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        println!("{}", text.join("\n").trim_end());
    }
    Ok(())
}

/// Redis's `used_memory`, read over a plain connection (`INFO memory`).
fn redis_used_memory(addr: &str) -> Option<u64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.write_all(b"INFO memory\r\n").ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut buf = vec![0u8; 8192];
    let n = s.read(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf[..n]);
    text.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
}

async fn run_target(a: &Args, label: &str, url: &str, server_pid: Option<u32>) -> Result<(Value, Vec<String>)> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .tcp_nodelay(true)
        .build()?;
    let rpc = Arc::new(Rpc::connect(http.clone(), url).await?);
    let tag = b64::encode(mcpmsg_core::crypto::random_bytes::<3>().as_ref()).replace(['-', '_'], "x");
    let part = |p: &str| a.parts.iter().any(|x| x == p);
    let mut out = serde_json::Map::new();
    out.insert("label".into(), json!(label));
    out.insert("url".into(), json!(url));
    out.insert("message_bytes".into(), json!(a.size));
    let mut lines = vec![format!("{label}: mcpmsg-bench against {url} ({} B messages)", a.size)];

    let yard = yardstick::parse_and_verify_us(&rpc, a.size);
    let sign = yardstick::sign_acceptance_us();
    if part("verify") {
        out.insert("parse_verify_us".into(), json!(yard));
        out.insert("sign_acceptance_us".into(), json!(sign));
        lines.push(format!(
            "{:<46}{yard:.1} µs per send (median of 15 x 200, one core)",
            "in-process parse + verify_strict"
        ));
        lines.push(format!(
            "{:<46}{sign:.1} µs per send (median of 15 x 200, one core)",
            "in-process sign of the acceptance (§12a)"
        ));
    }
    if part("typed") {
        let typed = typed::parse_and_validate_us(a.size);
        out.insert("parse_validate_us".into(), json!(typed));
        lines.push(format!(
            "{:<46}{typed:.1} µs per body ({:.1}% of parse + verify; median of 15 x 200, one core)",
            "in-process parse + JSON Schema validation",
            100.0 * typed / yard
        ));
    }
    let sender = Who::new(format!("bench-{tag}-sender"));
    register(&rpc, &[&sender]).await?;

    if part("memory") {
        if let Some(pid) = server_pid {
            memory_part(a, &rpc, &sender, &tag, pid, &mut out, &mut lines).await?;
        } else {
            lines.push(format!(
                "{:<46}skipped: needs --server-pid",
                "memory per queued message"
            ));
        }
    }

    if part("throughput") {
        throughput_part(a, &rpc, &sender, &tag, server_pid, (yard, sign), &mut out, &mut lines).await?;
    }

    if part("latency") {
        let (lat, l) = latency::run(&rpc, &sender, a, &tag).await?;
        out.insert("latency".into(), lat);
        lines.extend(l);
    }
    if part("push") {
        let listen_url = a
            .listen_urls
            .iter()
            .find_map(|l| l.strip_prefix(label).and_then(|r| r.strip_prefix('=')))
            .unwrap_or(url);
        let (push, l) = push::run(&rpc, listen_url, a, &tag).await?;
        out.insert("push".into(), push);
        lines.extend(l);
    }
    if part("rooms") {
        let (rooms, l) = rooms::run(&rpc, a, &tag, server_pid).await?;
        out.insert("rooms".into(), rooms);
        lines.extend(l);
    }
    if part("wrk") {
        let (w, l) = crosscheck::run(&rpc, url, a, &tag, server_pid, yard).await?;
        out.insert("wrk".into(), w);
        lines.extend(l);
    }
    if part("lowrate") {
        let (low, l) = lowrate::run(&rpc, a, &tag, server_pid, yard).await?;
        out.insert("light_load".into(), low);
        lines.extend(l);
    }
    if part("broadcast") {
        let (cast, l) = broadcast::run(&rpc, a, &tag, server_pid).await?;
        out.insert("broadcast".into(), cast);
        lines.extend(l);
    }
    if let Some(pid) = server_pid {
        out.insert("final_rss_bytes".into(), json!(procfs::rss_bytes(pid)));
    }
    Ok((Value::Object(out), lines))
}

/// (d): idle RSS, then memory per queued message (and Redis's, split into
/// the message in its queue and its replay record, with `--redis`).
async fn memory_part(
    a: &Args,
    rpc: &Arc<Rpc>,
    sender: &Who,
    tag: &str,
    pid: u32,
    out: &mut serde_json::Map<String, Value>,
    lines: &mut Vec<String>,
) -> Result<()> {
    let idle = procfs::rss_bytes(pid).unwrap_or(0);
    let receivers: Vec<Who> = (0..a.queued.div_ceil(1000))
        .map(|i| Who::new(format!("bench-{tag}-mem{i}")))
        .collect();
    register(rpc, &receivers.iter().collect::<Vec<_>>()).await?;
    let names: Vec<String> = receivers.iter().map(|w| w.id.clone()).collect();
    let bodies = presign(rpc, sender, &names, a.queued, a.size);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = procfs::rss_bytes(pid).unwrap_or(0);
    let redis_before = a.redis.as_deref().and_then(redis_used_memory);
    let (ok, bad, _) = blast(rpc, bodies, a.clients, None).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = procfs::rss_bytes(pid).unwrap_or(0);
    let redis_after = a.redis.as_deref().and_then(redis_used_memory);
    let store: Value = rpc.http_health().await.unwrap_or(Value::Null);
    let redis_store = store["store"].as_str() == Some("redis");
    let mut redis_lines = Vec::new();
    let mut drained = false;
    if let (Some(b), Some(x), true) = (redis_before, redis_after, redis_store) {
        let per = x.saturating_sub(b) as f64 / ok.max(1) as f64;
        out.insert("redis_bytes_per_queued_message".into(), json!(per));
        redis_lines.push(format!(
            "{:<46}{:.2} KiB (used_memory +{:.1} MiB)",
            "Redis memory per queued message",
            per / 1024.0,
            x.saturating_sub(b) as f64 / 1048576.0
        ));
        // Draining frees the messages; what stays is each send's
        // replay-window record (and the drain's own few), which
        // Redis drops when the window has passed.
        drain(rpc, &receivers).await?;
        drained = true;
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Some(d) = a.redis.as_deref().and_then(redis_used_memory) {
            let queued = x.saturating_sub(d) as f64 / ok.max(1) as f64;
            out.insert("redis_bytes_per_message_in_queue".into(), json!(queued));
            out.insert("redis_bytes_per_replay_record".into(), json!(per - queued));
            redis_lines.push(format!(
                "{:<46}{:.2} KiB (freed when it is delivered)",
                "  of which the message in its queue",
                queued / 1024.0
            ));
            redis_lines.push(format!(
                "{:<46}{:.2} KiB (kept for 2 x max skew)",
                "  and its nonce's replay record",
                (per - queued) / 1024.0
            ));
        }
    }
    lines.extend(redis_lines);
    let per = after.saturating_sub(before) as f64 / ok.max(1) as f64;
    out.insert("idle_rss_bytes".into(), json!(idle));
    out.insert("bytes_per_queued_message".into(), json!(per));
    lines.push(format!(
        "{:<46}{:.1} MiB",
        "server RSS before the run",
        idle as f64 / 1048576.0
    ));
    lines.push(format!(
        "{:<46}{:.2} KiB ({} queued, {} refused, RSS +{:.1} MiB)",
        "memory per queued message",
        per / 1024.0,
        ok,
        bad,
        after.saturating_sub(before) as f64 / 1048576.0
    ));
    if !drained {
        drain(rpc, &receivers).await?;
    }
    Ok(())
}

/// (a): signed-send throughput, with server CPU per send against the yardstick.
#[allow(clippy::too_many_arguments)]
async fn throughput_part(
    a: &Args,
    rpc: &Arc<Rpc>,
    sender: &Who,
    tag: &str,
    server_pid: Option<u32>,
    (yard, sign): (f64, f64),
    out: &mut serde_json::Map<String, Value>,
    lines: &mut Vec<String>,
) -> Result<()> {
    let ticks = procfs::clock_ticks();
    let receivers: Vec<Who> = (0..64).map(|i| Who::new(format!("bench-{tag}-tp{i}"))).collect();
    register(rpc, &receivers.iter().collect::<Vec<_>>()).await?;
    let names: Vec<String> = receivers.iter().map(|w| w.id.clone()).collect();
    let mut rates = Vec::new();
    let mut cpus = Vec::new();
    for _ in 0..a.rounds {
        let bodies = presign(rpc, sender, &names, 30_000 * a.duration as usize, a.size);
        let cpu0 = server_pid.and_then(|p| procfs::cpu_seconds(p, ticks));
        let deadline = Instant::now() + Duration::from_secs(a.duration);
        let (ok, bad, secs) = blast(rpc, bodies, a.clients, Some(deadline)).await;
        let cpu1 = server_pid.and_then(|p| procfs::cpu_seconds(p, ticks));
        if bad > 0 {
            eprintln!("mcpmsg-bench: {bad} sends refused in a throughput round");
        }
        rates.push(ok as f64 / secs);
        if let (Some(c0), Some(c1)) = (cpu0, cpu1) {
            cpus.push((c1 - c0) * 1e6 / ok.max(1) as f64);
        }
        drain(rpc, &receivers).await?;
    }
    let rate = median(&mut rates);
    out.insert("throughput_msgs_per_s".into(), json!(rate));
    lines.push(format!(
        "{:<46}{:.0} msg/s (median of {} x {} s, {} clients)",
        "signed-send throughput", rate, a.rounds, a.duration, a.clients
    ));
    if !cpus.is_empty() {
        let cpu = median(&mut cpus);
        out.insert("server_cpu_us_per_send".into(), json!(cpu));
        out.insert("server_cpu_ratio".into(), json!(cpu / yard));
        out.insert("server_cpu_ratio_with_acceptance".into(), json!(cpu / (yard + sign)));
        lines.push(format!(
            "{:<46}{:.1} µs per send = {:.2}x parse + verify ({:.2}x parse + verify + the acceptance's signature)",
            "server CPU",
            cpu,
            cpu / yard,
            cpu / (yard + sign)
        ));
    }
    Ok(())
}
