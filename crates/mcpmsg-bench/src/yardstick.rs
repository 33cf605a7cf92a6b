//! The yardsticks a server's costs are read against: parsing a send and
//! checking its signature in-process (in warm batches, and one at a time
//! at a light load's rate), and the server's own signature on each
//! acceptance.

use std::time::{Duration, Instant};

use mcpmsg_core::crypto::SigningSecret;
use mcpmsg_core::protocol::SendMessage;
use serde_json::Value;

use crate::rpc::Rpc;
use crate::{body_text, median, Who};

/// (c): median microseconds to parse one send request and verify it.
pub(crate) fn parse_and_verify_us(rpc: &Rpc, size: usize) -> f64 {
    let who = Who::new("bench-yardstick".into());
    let body = rpc.body(&who.send("someone", &body_text(size)));
    let key = who.key.public();
    let mut batches = Vec::new();
    for _ in 0..15 {
        let started = Instant::now();
        for _ in 0..200 {
            parse_and_verify(&body, &key);
        }
        batches.push(started.elapsed().as_secs_f64() * 1e6 / 200.0);
    }
    median(&mut batches)
}

/// What the yardstick times: a send's JSON-RPC body parsed the plain way
/// and its signature checked.
pub(crate) fn parse_and_verify(body: &str, key: &mcpmsg_core::crypto::SigningPublicKey) {
    let v: Value = serde_json::from_str(body).unwrap();
    let m: SendMessage = serde_json::from_value(v["params"]["arguments"].clone()).unwrap();
    m.verify(key).unwrap();
}

/// Median microseconds to sign a send's acceptance (PROTOCOL §12a: about
/// 200 bytes under the server key), which the server does for every
/// accepted send besides checking the sender's signature.
pub(crate) fn sign_acceptance_us() -> f64 {
    let key = SigningSecret::generate();
    let statement = sign_input_like(200);
    let mut batches = Vec::new();
    for _ in 0..15 {
        let started = Instant::now();
        for _ in 0..200 {
            std::hint::black_box(key.sign(std::hint::black_box(&statement)));
        }
        batches.push(started.elapsed().as_secs_f64() * 1e6 / 200.0);
    }
    median(&mut batches)
}

fn sign_input_like(n: usize) -> Vec<u8> {
    mcpmsg_core::protocol::sign_input("acceptance", &[&"x".repeat(n)])
}

/// Median microseconds of one in-process parse + `verify_strict` when they
/// come `rate` a second, each after a pause: the yardstick's batches of
/// 200 run with warm caches, which a light load never has.
pub(crate) async fn parse_verify_at(rpc: &Rpc, rate: u64, samples: usize, size: usize) -> f64 {
    let who = Who::new("bench-yardstick-lo".into());
    let body = rpc.body(&who.send("someone", &body_text(size)));
    let key = who.key.public();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut us = Vec::with_capacity(samples);
    for _ in 0..samples {
        tick.tick().await;
        // No await between the two readings: one thread, one stretch.
        let started = Instant::now();
        parse_and_verify(&body, &key);
        us.push(started.elapsed().as_secs_f64() * 1e6);
    }
    median(&mut us)
}
