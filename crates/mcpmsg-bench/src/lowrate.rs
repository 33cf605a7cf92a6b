//! Part (h): light load. One client, one pooled connection, calls at a
//! steady low rate, one at a time: the server's CPU per call (every
//! thread's, in nanoseconds, from `/proc/<pid>/task/*/schedstat`) for an
//! unsigned tool call, `GET /health` and a signed 1 KiB send, at each of
//! `--low-rates` calls per second (the median of three rounds). Most users
//! send a few messages a minute: this is what they pay. The same calls to a
//! bare responder (`floor`) give what any server on this runtime and
//! machine pays before doing any work.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use mcpmsg_core::protocol::tools::GetMyIdentityArgs;
use serde_json::{json, Value};

use crate::floor::Floor;
use crate::rpc::Rpc;
use crate::{body_text, median, procfs, register, Args, Who};

/// Rounds at each rate; the median is reported.
const ROUNDS: usize = 3;

/// What is called.
#[derive(Clone, Copy)]
enum Kind {
    Identity,
    Health,
    Send,
    /// An unsigned call to the bare responder (see `floor`).
    Floor,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Identity => "get_my_identity",
            Kind::Health => "GET /health",
            Kind::Send => "signed 1 KiB send",
            Kind::Floor => "floor (a bare responder)",
        }
    }
}

/// Server CPU microseconds per call of `kind` at `rate` calls per second,
/// over `calls` calls (bodies signed before the timed part).
async fn per_call(
    rpc: &Rpc,
    pid: u32,
    kind: Kind,
    rate: u64,
    calls: usize,
    to: &(Who, Who),
    size: usize,
) -> Result<f64> {
    let text = body_text(size);
    let bodies: Vec<String> = match kind {
        Kind::Send => (0..calls).map(|_| rpc.body(&to.0.send(&to.1.id, &text))).collect(),
        _ => (0..calls).map(|_| rpc.body(&GetMyIdentityArgs {})).collect(),
    };
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let Some(before) = procfs::cpu_ns(pid) else {
        bail!("cannot read /proc/{pid}/task/*/schedstat");
    };
    for body in bodies {
        tick.tick().await;
        match kind {
            Kind::Health => {
                rpc.http_health().await?;
            }
            _ => {
                rpc.post(body).await?;
            }
        }
    }
    let after = procfs::cpu_ns(pid).unwrap_or(before);
    Ok((after - before) as f64 / 1e3 / calls as f64)
}

pub(crate) async fn run(
    rpc: &Arc<Rpc>,
    a: &Args,
    tag: &str,
    pid: Option<u32>,
    yard_us: f64,
) -> Result<(Value, Vec<String>)> {
    let Some(pid) = pid else {
        return Ok((
            Value::Null,
            vec![format!("{:<46}skipped: needs --server-pid", "light load")],
        ));
    };
    let pair = (
        Who::new(format!("bench-{tag}-lo-a")),
        Who::new(format!("bench-{tag}-lo-b")),
    );
    register(rpc, &[&pair.0, &pair.1]).await?;
    let floor = Floor::start()?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .tcp_nodelay(true)
        .build()?;
    let floor_rpc = Rpc::connect(http, &floor.url).await?;
    let mut lines = Vec::new();
    let mut out = Vec::new();
    for kind in [Kind::Identity, Kind::Health, Kind::Send, Kind::Floor] {
        let (rpc, pid) = match kind {
            Kind::Floor => (&floor_rpc, floor.pid()),
            _ => (&**rpc, pid),
        };
        let mut cells = Vec::new();
        for &rate in &a.low_rates {
            // About two seconds a rate, at least 40 calls, and at most 800
            // (a sender's share of one queue is 1,000 by default).
            let calls = (rate as usize * 2).clamp(40, 800);
            // A few calls first, so the path is not cold from the last
            // kind; then the median of three rounds.
            per_call(rpc, pid, kind, 1000, 5, &pair, a.size).await?;
            let mut rounds = Vec::new();
            for _ in 0..ROUNDS {
                rounds.push(per_call(rpc, pid, kind, rate, calls, &pair, a.size).await?);
                if matches!(kind, Kind::Send) {
                    // Drain, so the queue stays short whatever the rates.
                    while !rpc.call(&pair.1.get("1000", "0")).await?.messages.is_empty() {}
                }
            }
            let us = median(&mut rounds);
            out.push(json!({"call": kind.name(), "rate_per_s": rate, "server_cpu_us": us, "rounds": rounds}));
            let ratio = if matches!(kind, Kind::Send) {
                format!(" ({:.2}x parse+verify)", us / yard_us)
            } else {
                String::new()
            };
            cells.push(format!("{rate}/s {us:.0} µs{ratio}"));
        }
        lines.push(format!(
            "{:<46}{}",
            format!("light load: {}", kind.name()),
            cells.join("; ")
        ));
    }
    Ok((json!(out), lines))
}
