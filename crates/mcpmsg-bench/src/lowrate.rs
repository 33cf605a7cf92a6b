//! Part (h): light load. One client, one pooled connection, calls at a
//! steady low rate, one at a time: the server's CPU per call (every
//! thread's, in nanoseconds, from `/proc/<pid>/task/*/schedstat`) for an
//! unsigned tool call, `GET /health` and a signed 1 KiB send, at each of
//! `--low-rates` calls per second (the median of three rounds). Most users
//! send a few messages a minute: this is what they pay. The same calls to a
//! bare responder (`floor`), taking turns with the server's in each round,
//! give what any server on this runtime and machine pays before doing any
//! work, and each figure is also given against it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use mcpmsg_core::protocol::tools::GetMyIdentityArgs;
use serde_json::{json, Value};

use crate::floor::Floor;
use crate::rpc::Rpc;
use crate::yardstick::parse_verify_at;
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
    let kinds = [Kind::Identity, Kind::Health, Kind::Send, Kind::Floor];
    // us[kind][rate][round]. The kinds take turns within each round, so
    // the machine's load, which drifts over minutes on shared cores, weighs
    // on the server's figures and the floor's alike; each figure is also
    // given as the median of its rounds' ratios to the floor's.
    let mut us = vec![vec![Vec::new(); a.low_rates.len()]; kinds.len()];
    for (r, &rate) in a.low_rates.iter().enumerate() {
        // About two seconds a rate, at least 40 calls, and at most 800
        // (a sender's share of one queue is 1,000 by default).
        let calls = (rate as usize * 2).clamp(40, 800);
        for _ in 0..ROUNDS {
            for (k, &kind) in kinds.iter().enumerate() {
                let (rpc, pid) = match kind {
                    Kind::Floor => (&floor_rpc, floor.pid()),
                    _ => (&**rpc, pid),
                };
                // A few calls first, so the path is not cold from the
                // last kind.
                per_call(rpc, pid, kind, 1000, 5, &pair, a.size).await?;
                us[k][r].push(per_call(rpc, pid, kind, rate, calls, &pair, a.size).await?);
                if matches!(kind, Kind::Send) {
                    // Drain, so the queue stays short whatever the rates.
                    while !rpc.call(&pair.1.get("1000", "0")).await?.messages.is_empty() {}
                }
            }
        }
    }
    let mut cold = Vec::new();
    for &rate in &a.low_rates {
        cold.push(parse_verify_at(rpc, rate, (rate as usize * 2).clamp(40, 800), a.size).await);
    }
    let floor_rounds = us[kinds.len() - 1].clone();
    let mut lines = Vec::new();
    let mut out = Vec::new();
    for (k, &kind) in kinds.iter().enumerate() {
        let mut cells = Vec::new();
        for (r, &rate) in a.low_rates.iter().enumerate() {
            let rounds = us[k][r].clone();
            let cpu = median(&mut rounds.clone());
            let mut ratios: Vec<f64> = rounds.iter().zip(&floor_rounds[r]).map(|(x, f)| x / f).collect();
            let to_floor = median(&mut ratios);
            out.push(
                json!({"call": kind.name(), "rate_per_s": rate, "server_cpu_us": cpu, "rounds": rounds,
                "to_floor": to_floor}),
            );
            let mut notes = Vec::new();
            if !matches!(kind, Kind::Floor) {
                notes.push(format!("{to_floor:.1}x floor"));
            }
            if matches!(kind, Kind::Send) {
                notes.push(format!("{:.2}x parse+verify", cpu / yard_us));
                notes.push(format!("{:.2}x at this rate", cpu / cold[r]));
            }
            let notes = if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join(", "))
            };
            cells.push(format!("{rate}/s {cpu:.0} µs{notes}"));
        }
        lines.push(format!(
            "{:<46}{}",
            format!("light load: {}", kind.name()),
            cells.join("; ")
        ));
    }
    let cells: Vec<String> = a
        .low_rates
        .iter()
        .zip(&cold)
        .map(|(rate, us)| format!("{rate}/s {us:.1} µs"))
        .collect();
    lines.push(format!(
        "{:<46}{}",
        "light load: in-process parse + verify",
        cells.join("; ")
    ));
    out.push(json!({"call": "in-process parse + verify", "rates_per_s": a.low_rates, "us": cold}));
    Ok((json!(out), lines))
}
