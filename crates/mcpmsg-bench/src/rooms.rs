//! Part (f): rooms and pairing (PROTOCOL §15, §16). For rooms of 2, 10
//! and 50 members: the sender's cost of sealing one message (in process),
//! the server's CPU per room message against a 1:1 send's (with
//! `--server-pid`), and send-to-wake at the last member. Then pairing
//! throughput: clients entering the queue at once, pairs made per second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use hdrhistogram::Histogram;
use mcpmsg_core::crypto::SealingPublicKey;
use mcpmsg_core::protocol::new_nonce;
use mcpmsg_core::protocol::room::{statement, Op, RoomSealParts, RoomState};
use mcpmsg_core::protocol::tools::{ChangeRoomArgs, EnterQueueArgs, SendRoomMessageArgs, SignedArgs};
use serde_json::{json, Value};

use crate::rpc::Rpc;
use crate::{blast, body_text, median, pct, procfs, register, Args, Who};

/// Room sizes measured.
const SIZES: [usize; 3] = [2, 10, 50];

/// Rounds of `--room-sends` messages whose server CPU is summed.
const ROUNDS: usize = 5;

/// A room of `n` members made through `rpc`: the first creates it and
/// invites the others, who join.
async fn make_room(rpc: &Rpc, members: &[Who]) -> Result<RoomState> {
    let sign = |w: &Who, at: Option<&RoomState>, op, member: &str| -> ChangeRoomArgs {
        let title = if at.is_none() { "bench" } else { "" };
        statement(at, op, &w.id, member, title).signed_by(&w.key)
    };
    let create = sign(&members[0], None, Op::Create, "");
    rpc.call(&create).await?;
    let mut state = RoomState::create(&create)?;
    for w in &members[1..] {
        let s = sign(&members[0], Some(&state), Op::Invite, &w.id);
        rpc.call(&s).await?;
        state.apply(&s)?;
        let s = sign(w, Some(&state), Op::Join, "");
        rpc.call(&s).await?;
        state.apply(&s)?;
    }
    Ok(state)
}

fn sealed(from: &Who, state: &RoomState, to: &[(&str, &SealingPublicKey)], text: &str) -> SendRoomMessageArgs {
    let nonce = new_nonce();
    let parts = RoomSealParts::now(&from.id, state, &nonce);
    SendRoomMessageArgs::seal_and_sign(&from.key, parts, to, text).expect("sealing to generated keys")
}

/// Server CPU seconds while `work` runs, if the server is local.
pub(crate) async fn cpu_of<F: std::future::Future<Output = Result<()>>>(
    pid: Option<u32>,
    work: F,
) -> Result<Option<f64>> {
    let ticks = procfs::clock_ticks();
    let before = pid.and_then(|p| procfs::cpu_seconds(p, ticks));
    work.await?;
    let after = pid.and_then(|p| procfs::cpu_seconds(p, ticks));
    Ok(before.zip(after).map(|(b, a)| a - b))
}

/// One room size: sealing cost, server CPU per message, send-to-wake at
/// the last member.
async fn one_size(
    rpc: &Arc<Rpc>,
    a: &Args,
    tag: &str,
    n: usize,
    pid: Option<u32>,
    one_to_one_us: Option<f64>,
) -> Result<(Value, String)> {
    let members: Vec<Who> = (0..n).map(|i| Who::new(format!("bench-{tag}-r{n}-{i}"))).collect();
    register(rpc, &members.iter().collect::<Vec<_>>()).await?;
    let state = make_room(rpc, &members).await?;
    let keys: Vec<SealingPublicKey> = members[1..].iter().map(|w| w.sealing.public()).collect();
    let to: Vec<(&str, &SealingPublicKey)> = members[1..].iter().map(|w| w.id.as_str()).zip(keys.iter()).collect();
    let text = body_text(a.size);
    let sender = &members[0];

    let mut seal_us = Vec::new();
    for _ in 0..15 {
        let started = Instant::now();
        for _ in 0..10 {
            std::hint::black_box(sealed(sender, &state, &to, &text));
        }
        seal_us.push(started.elapsed().as_secs_f64() * 1e6 / 10.0);
    }
    let seal_us = median(&mut seal_us);

    // CPU is read in clock ticks (10 ms): several rounds, summed, for a few
    // percent. Each round drains the queues outside the measured window.
    let k = a.room_sends;
    let mut cpu = Some(0.0);
    for _ in 0..ROUNDS {
        let bodies: Vec<(String, String)> = (0..k)
            .map(|_| (rpc.body(&sealed(sender, &state, &to, &text)), String::new()))
            .collect();
        let mut refused = 0;
        let round = cpu_of(pid, async {
            refused = blast(rpc, bodies, a.clients.min(8), None).await.1;
            Ok(())
        })
        .await?;
        if refused > 0 {
            bail!("{refused} room messages refused in a room of {n} (run the server with a high --rate-per-client)");
        }
        cpu = cpu.zip(round).map(|(c, r)| c + r);
        for w in &members[1..] {
            while !rpc.call(&w.get("1000", "0")).await?.messages.is_empty() {}
        }
    }
    let server_us = cpu.map(|c| c * 1e6 / (k * ROUNDS) as f64);

    let last = &members[n - 1];
    let mut wake = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    for _ in 0..a.room_sends.min(200) {
        let rpc2 = rpc.clone();
        let get = last.get("1000", "5");
        let waiter = tokio::spawn(async move { rpc2.call(&get).await });
        tokio::time::sleep(Duration::from_millis(3)).await;
        let m = sealed(sender, &state, &to, &text);
        let started = Instant::now();
        rpc.call(&m).await?;
        let got = waiter.await??;
        if !got.messages.is_empty() {
            let _ = wake.record(started.elapsed().as_micros().max(1) as u64);
        }
    }
    for w in &members[1..n - 1] {
        while !rpc.call(&w.get("1000", "0")).await?.messages.is_empty() {}
    }
    let ratio = server_us.zip(one_to_one_us).map(|(r, o)| r / o);
    let v = json!({
        "members": n, "seal_us": seal_us, "server_cpu_us_per_message": server_us,
        "vs_one_to_one": ratio, "send_to_wake_last_member_ms": {"p50": pct(&wake, 0.5), "p99": pct(&wake, 0.99)},
    });
    let cpu_text = match (server_us, ratio) {
        (Some(us), Some(r)) => format!("server {us:.0} µs/msg ({r:.2}x a 1:1 send)"),
        (Some(us), None) => format!("server {us:.0} µs/msg"),
        _ => "server CPU: needs --server-pid".into(),
    };
    let line = format!(
        "{:<46}seal {seal_us:.0} µs; {cpu_text}; wake p50 {:.2} ms p99 {:.2} ms",
        format!("room of {n}, sealed"),
        pct(&wake, 0.5),
        pct(&wake, 0.99)
    );
    Ok((v, line))
}

/// Server CPU per 1:1 send, sent the same way as the room messages.
async fn one_to_one_us(rpc: &Arc<Rpc>, a: &Args, tag: &str, pid: Option<u32>) -> Result<Option<f64>> {
    let (x, y) = (Who::new(format!("bench-{tag}-1a")), Who::new(format!("bench-{tag}-1b")));
    register(rpc, &[&x, &y]).await?;
    let text = body_text(a.size);
    let mut cpu = Some(0.0);
    for _ in 0..ROUNDS {
        let bodies: Vec<(String, String)> = (0..a.room_sends)
            .map(|_| (rpc.body(&x.send(&y.id, &text)), String::new()))
            .collect();
        let round = cpu_of(pid, async {
            blast(rpc, bodies, a.clients.min(8), None).await;
            Ok(())
        })
        .await?;
        cpu = cpu.zip(round).map(|(c, r)| c + r);
        while !rpc.call(&y.get("1000", "0")).await?.messages.is_empty() {}
    }
    Ok(cpu.map(|c| c * 1e6 / (a.room_sends * ROUNDS) as f64))
}

/// Pairing throughput: `a.pair_clients` clients, registered first, enter
/// the queue at once (`a.clients` requests in flight).
async fn pairing(rpc: &Arc<Rpc>, a: &Args, tag: &str, pid: Option<u32>) -> Result<(Value, String)> {
    let n = a.pair_clients - a.pair_clients % 2;
    let people: Vec<Who> = (0..n).map(|i| Who::new(format!("bench-{tag}-p{i}"))).collect();
    let checkins: Vec<(String, String)> = people.iter().map(|w| (rpc.body(&w.checkin()), String::new())).collect();
    blast(rpc, checkins, a.clients, None).await;
    let bodies: Vec<(String, String)> = people
        .iter()
        .rev()
        .map(|w| {
            let e = EnterQueueArgs {
                client_id: w.id.clone(),
                wait_s: "60".into(),
                ..Default::default()
            }
            .signed_by(&w.key);
            (rpc.body(&e), String::new())
        })
        .collect();
    let mut took = 0.0;
    let mut refused = 0;
    let cpu = cpu_of(pid, async {
        let (_, bad, secs) = blast(rpc, bodies, a.clients, None).await;
        took = secs;
        refused = bad;
        Ok(())
    })
    .await?;
    let pairs = (n / 2) as f64 / took;
    let v = json!({"clients": n, "seconds": took, "pairs_per_s": pairs, "refused": refused,
        "server_cpu_us_per_entry": cpu.map(|c| c * 1e6 / n as f64)});
    let line = format!(
        "{:<46}{pairs:.0} pairs/s ({n} clients entering at once, {} in flight{})",
        "pairing",
        a.clients,
        cpu.map_or(String::new(), |c| format!(
            ", server {:.0} µs per entry",
            c * 1e6 / n as f64
        ))
    );
    Ok((v, line))
}

/// Runs the part.
pub(crate) async fn run(rpc: &Arc<Rpc>, a: &Args, tag: &str, pid: Option<u32>) -> Result<(Value, Vec<String>)> {
    let one = one_to_one_us(rpc, a, tag, pid).await?;
    let mut lines = vec![match one {
        Some(us) => format!("{:<46}server {us:.0} µs/msg", "1:1 send, the same way (baseline)"),
        None => format!(
            "{:<46}server CPU: needs --server-pid",
            "1:1 send, the same way (baseline)"
        ),
    }];
    let mut rooms = Vec::new();
    for n in SIZES {
        let (v, line) = one_size(rpc, a, tag, n, pid, one).await?;
        rooms.push(v);
        lines.push(line);
    }
    let (pair, line) = pairing(rpc, a, tag, pid).await?;
    lines.push(line);
    Ok((
        json!({"one_to_one_server_cpu_us": one, "rooms": rooms, "pairing": pair}),
        lines,
    ))
}
