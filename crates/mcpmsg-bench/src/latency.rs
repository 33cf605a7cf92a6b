//! Part (b): open-loop sends at a fixed rate to parked receivers, and the
//! time from each send to the wake of its receiver.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::rpc::Rpc;
use crate::{pct, presign, register, Args, Who};
use mcpmsg_core::protocol::tools::InboxItem;

/// When each of `n` sends is due: the i-th at `t0 + i / rate`.
#[derive(Clone, Copy)]
struct Schedule {
    t0: Instant,
    interval_ns: f64,
    end: Instant,
    n: usize,
}

impl Schedule {
    fn due(&self, i: usize) -> Instant {
        self.t0 + Duration::from_nanos((i as f64 * self.interval_ns) as u64)
    }
}

/// What the receivers share: which message is which send, when each was
/// actually posted, and how many arrived.
struct Tally {
    index: HashMap<String, usize>,
    sent_at: Vec<AtomicU64>,
    received: AtomicUsize,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds")
}

/// (b): open-loop sends at `rate` to `waiters` parked receivers.
pub(crate) async fn run(rpc: &Arc<Rpc>, sender: &Who, a: &Args, tag: &str) -> Result<(Value, Vec<String>)> {
    let waiters: Vec<Who> = (0..a.waiters).map(|i| Who::new(format!("bench-{tag}-w{i}"))).collect();
    register(rpc, &waiters.iter().collect::<Vec<_>>()).await?;
    let names: Vec<String> = waiters.iter().map(|w| w.id.clone()).collect();
    let n = (a.rate * a.latency_duration) as usize;
    let bodies = presign(rpc, sender, &names, n, a.size);
    let tally = Arc::new(Tally {
        index: bodies.iter().enumerate().map(|(i, (_, id))| (id.clone(), i)).collect(),
        sent_at: (0..n).map(|_| AtomicU64::new(0)).collect(),
        received: AtomicUsize::new(0),
    });
    let t0 = Instant::now() + Duration::from_secs(1);
    let schedule = Schedule {
        t0,
        interval_ns: 1e9 / a.rate as f64,
        end: t0 + Duration::from_secs(a.latency_duration + 5),
        n,
    };
    let parked: Vec<_> = waiters
        .into_iter()
        .map(|w| park(rpc.clone(), w, tally.clone(), schedule))
        .collect();
    // Let every waiter park before the first send.
    tokio::time::sleep_until(t0.into()).await;
    let accepted = send_on_schedule(rpc, bodies, &tally, schedule).await;
    let (mut sched, mut actual) = (histogram(), histogram());
    for p in parked {
        let (s, a2) = p.await?;
        sched.add(s)?;
        actual.add(a2)?;
    }
    let got = tally.received.load(Ordering::Relaxed);
    Ok(report(a, accepted, got, &sched, &actual))
}

/// A receiver parked in `get_messages`, recording each arrival from its
/// scheduled and its actual send time.
fn park(rpc: Arc<Rpc>, w: Who, tally: Arc<Tally>, s: Schedule) -> JoinHandle<(Histogram<u64>, Histogram<u64>)> {
    tokio::spawn(async move {
        let (mut sched, mut actual) = (histogram(), histogram());
        while Instant::now() < s.end && tally.received.load(Ordering::Relaxed) < s.n {
            let Ok(r) = rpc.call(&w.get("100", "2")).await else {
                continue;
            };
            let now = Instant::now();
            for item in &r.messages {
                let InboxItem::Message(m) = item else { continue };
                let Some(&i) = tally.index.get(&m.message_id) else {
                    continue;
                };
                let at = s.t0 + Duration::from_nanos(tally.sent_at[i].load(Ordering::Relaxed));
                let _ = sched.record(now.saturating_duration_since(s.due(i)).as_micros().max(1) as u64);
                let _ = actual.record(now.saturating_duration_since(at).as_micros().max(1) as u64);
                tally.received.fetch_add(1, Ordering::Relaxed);
            }
        }
        (sched, actual)
    })
}

/// Posts each body at its due time (open loop: a slow answer does not
/// delay the next send). Returns how many were accepted.
async fn send_on_schedule(rpc: &Arc<Rpc>, bodies: Vec<(String, String)>, tally: &Arc<Tally>, s: Schedule) -> usize {
    let mut posts = Vec::with_capacity(s.n);
    for (i, (body, _)) in bodies.into_iter().enumerate() {
        tokio::time::sleep_until(s.due(i).into()).await;
        let (rpc, tally) = (rpc.clone(), tally.clone());
        posts.push(tokio::spawn(async move {
            tally.sent_at[i].store(s.t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
            rpc.post(body).await.is_ok()
        }));
    }
    let mut accepted = 0;
    for p in posts {
        accepted += usize::from(p.await.unwrap_or(false));
    }
    accepted
}

fn report(a: &Args, sent: usize, got: usize, sched: &Histogram<u64>, actual: &Histogram<u64>) -> (Value, Vec<String>) {
    let v = json!({
        "rate": a.rate, "waiters": a.waiters, "sent": sent, "received": got,
        "from_scheduled_ms": {"p50": pct(sched, 0.5), "p99": pct(sched, 0.99), "p99_9": pct(sched, 0.999)},
        "from_actual_ms": {"p50": pct(actual, 0.5), "p99": pct(actual, 0.99), "p99_9": pct(actual, 0.999)},
    });
    let line = |what: &str, h: &Histogram<u64>| {
        format!(
            "{what:<46}p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms",
            pct(h, 0.5),
            pct(h, 0.99),
            pct(h, 0.999)
        )
    };
    let lines = vec![
        format!(
            "send-to-wake at {} msg/s, {} waiters ({sent} sent, {got} woken):",
            a.rate, a.waiters
        ),
        line("  from the scheduled send time", sched),
        line("  from the actual send time", actual),
    ];
    (v, lines)
}
