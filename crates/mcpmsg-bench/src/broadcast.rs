//! Part (g): broadcast (PROTOCOL §18e) to `--broadcast-recipients` clients
//! (1,000 by default) that declared one tag: the server's time until the
//! last copy is queued (a broadcast is answered once its one fan-out step
//! is done), its CPU per broadcast (with `--server-pid`), and send-to-wake
//! at the last recipient, parked in get_messages.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hdrhistogram::Histogram;
use mcpmsg_core::protocol::tools::{BroadcastArgs, DeclareArgs, SignedArgs};
use serde_json::{json, Value};

use crate::rooms::cpu_of;
use crate::rpc::Rpc;
use crate::{blast, body_text, median, pct, Args, Who};

/// Broadcasts whose time and CPU are measured, then wakes measured.
const ROUNDS: usize = 20;

pub(crate) async fn run(rpc: &Arc<Rpc>, a: &Args, tag: &str, pid: Option<u32>) -> Result<(Value, Vec<String>)> {
    let n = a.broadcast_recipients;
    let topic = format!("b{}", tag.to_lowercase());
    let people: Vec<Who> = (0..n).map(|i| Who::new(format!("bench-{tag}-b{i:05}"))).collect();
    let checkins: Vec<(String, String)> = people.iter().map(|w| (rpc.body(&w.checkin()), String::new())).collect();
    blast(rpc, checkins, a.clients, None).await;
    let declare = |w: &Who| {
        DeclareArgs {
            client_id: w.id.clone(),
            tags: topic.clone(),
            protocols: String::new(),
            ..Default::default()
        }
        .signed_by(&w.key)
    };
    // The first alone, so a refusal is shown as the server worded it.
    rpc.call(&declare(&people[0])).await.context("declaring a tag")?;
    let declares: Vec<(String, String)> = people[1..]
        .iter()
        .map(|w| (rpc.body(&declare(w)), String::new()))
        .collect();
    let (_, refused, _) = blast(rpc, declares, a.clients, None).await;
    if refused > 0 {
        bail!("{refused} declarations refused (run the server with a high --rate-per-client)");
    }
    let sender = Who::new(format!("bench-{tag}-caster"));
    crate::register(rpc, &[&sender]).await?;
    let text = body_text(a.size);
    let cast = || BroadcastArgs::new(&sender.id, [topic.as_str(), "", ""], "", &text).signed_by(&sender.key);

    let mut took_ms = Vec::new();
    let cpu = cpu_of(pid, async {
        for _ in 0..ROUNDS {
            let b = cast();
            let started = Instant::now();
            let r = rpc.call(&b).await?;
            took_ms.push(started.elapsed().as_secs_f64() * 1e3);
            if r.delivered.len() != n {
                bail!(
                    "a broadcast reached {} of {n} (run the server with --broadcast-rate 1000000 and --max-broadcast-recipients {n} or more)",
                    r.delivered.len()
                );
            }
        }
        Ok(())
    })
    .await?;
    let queued_ms = median(&mut took_ms);
    let cpu_ms = cpu.map(|c| c * 1e3 / ROUNDS as f64);

    // Send-to-wake at the last recipient (in the fan-out's order), its
    // queue emptied first so the parked read waits for this broadcast.
    let last = &people[n - 1];
    let mut wake = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    for _ in 0..ROUNDS {
        while !rpc.call(&last.get("1000", "0")).await?.messages.is_empty() {}
        let rpc2 = rpc.clone();
        let get = last.get("1000", "5");
        let waiter = tokio::spawn(async move { rpc2.call(&get).await });
        tokio::time::sleep(Duration::from_millis(5)).await;
        let b = cast();
        let started = Instant::now();
        rpc.call(&b).await?;
        if !waiter.await??.messages.is_empty() {
            let _ = wake.record(started.elapsed().as_micros().max(1) as u64);
        }
    }
    let v = json!({"recipients": n, "queued_ms_p50": queued_ms, "server_cpu_ms_per_broadcast": cpu_ms,
        "send_to_wake_last_ms": {"p50": pct(&wake, 0.5), "p99": pct(&wake, 0.99)}});
    let line = format!(
        "{:<46}all queued in {queued_ms:.1} ms (median of {ROUNDS}){}; wake of the last p50 {:.2} ms p99 {:.2} ms",
        format!("broadcast to {n}"),
        cpu_ms.map_or(String::new(), |c| format!(", server {c:.1} ms CPU each")),
        pct(&wake, 0.5),
        pct(&wake, 0.99)
    );
    Ok((v, vec![line]))
}
