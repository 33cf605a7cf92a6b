//! Broadcast and adapter vectors (PROTOCOL §18e, §18f),
//! `tests/vectors/mcpmsg-broadcast.json`: three identities; an unsealed
//! typed broadcast to a filter with its SIGN_INPUT and message id; a sealed
//! typed broadcast from alice to bob and carol with their sealing secrets;
//! and a signed adapter registration with a body before and after its
//! operations. The independent checker (`tests/independent/check_broadcast.py`)
//! verifies all of it from this file.
//!
//! `MCPMSG_WRITE_VECTORS=1 cargo test --test broadcast_vectors` rewrites it
//! (the sealed broadcast gets fresh randomness and is kept once published;
//! everything else is deterministic from the seeds).

use mcpmsg_tests::{hex, Keys};
use std::collections::BTreeMap;

use mcpmsg_core::crypto::{b64, SigningSecret};
use mcpmsg_core::inbox::{SenderLog, TimeRules};
use mcpmsg_core::protocol::adapt::{apply, parse_ops};
use mcpmsg_core::protocol::broadcast::check_broadcast;
use mcpmsg_core::protocol::kel::{verify_log as verify_kel, Event};
use mcpmsg_core::protocol::tools::{BroadcastArgs, BroadcastDelivered, BroadcastKind, RegisterAdapterArgs, SignedArgs};
use serde::{Deserialize, Serialize};
use serde_json::Value;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/mcpmsg-broadcast.json");
const TS: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const CLIENTS: [&str; 3] = ["alice", "bob", "carol"];
const TYPED: &str = "application/mcpmsg-typed+json; protocol=code_review@2.0.0";

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct BroadcastVectors {
    /// `<client>_signing`, `<client>_next`, `<client>_sealing`: 64 hex.
    seeds: BTreeMap<String, String>,
    /// Each client's key event log (an inception).
    kels: BTreeMap<String, Vec<Event>>,
    /// alice's unsealed typed broadcast to `review` speakers of `^2`.
    broadcast: BroadcastArgs,
    broadcast_sign_input_hex: String,
    broadcast_message_id: String,
    /// alice's sealed typed broadcast for bob and carol, as sent.
    sealed: BroadcastArgs,
    sealed_sign_input_hex: String,
    sealed_message_id: String,
    plaintext: String,
    /// alice's adapter of code_review from 2.0.0 to 1.1.0.
    adapter: RegisterAdapterArgs,
    adapter_sign_input_hex: String,
    /// A 2.0.0 body and what the adapter makes of it.
    adapter_input: Value,
    adapter_output: Value,
}

fn seeds() -> BTreeMap<String, String> {
    mcpmsg_tests::seeds("broadcast", &CLIENTS)
}

fn keys(seeds: &BTreeMap<String, String>) -> BTreeMap<&'static str, Keys> {
    mcpmsg_tests::keys(seeds, &CLIENTS, TS)
}

fn signed_at<A: SignedArgs>(mut a: A, key: &SigningSecret, ts: u64, nonce: u8) -> A {
    let [key_id, at, n, sig] = a.auth_mut();
    *key_id = key.public().kid();
    *at = ts.to_string();
    *n = b64::encode(&[nonce; 16]);
    sig.clear();
    let s = b64::encode(&key.sign(&a.sign_input()));
    *a.auth_mut()[3] = s;
    a
}

fn sealed(keys: &BTreeMap<&str, Keys>) -> (BroadcastArgs, String) {
    let plaintext = r#"{"summary":"release 4.2 is ready for review ✓","lines":42}"#.to_owned();
    let to = [
        ("bob", &keys["bob"].sealing.public()),
        ("carol", &keys["carol"].sealing.public()),
    ];
    let m = BroadcastArgs::seal_and_sign(
        &keys["alice"].signing,
        "alice",
        &to,
        &plaintext,
        Some("code_review@2.0.0"),
    )
    .unwrap();
    (m, plaintext)
}

const OPS: &str = r#"[{"op":"move","from":"/summary","path":"/title"},{"op":"default","path":"/priority","value":"normal"},{"op":"remove","path":"/draft"}]"#;

fn build(seeds: &BTreeMap<String, String>, published: Option<(BroadcastArgs, String)>) -> BroadcastVectors {
    let keys = keys(seeds);
    let alice = &keys["alice"].signing;
    let body = r#"{"summary":"please review #42","lines":12}"#;
    let broadcast = signed_at(
        BroadcastArgs::new("alice", ["review", "code_review@^2", "active,idle"], TYPED, body),
        alice,
        TS + 5_000,
        0x21,
    );
    let (sealed, plaintext) = published.unwrap_or_else(|| sealed(&keys));
    let adapter = signed_at(
        RegisterAdapterArgs {
            client_id: "alice".into(),
            name: "code_review".into(),
            from: "2.0.0".into(),
            to: "1.1.0".into(),
            ops: OPS.into(),
            ..Default::default()
        },
        alice,
        TS + 6_000,
        0x22,
    );
    let input: Value = serde_json::json!({"summary": "please review #42", "lines": 12, "draft": true});
    let output = apply(&parse_ops(OPS).unwrap(), &input).unwrap();
    BroadcastVectors {
        seeds: seeds.clone(),
        kels: keys.iter().map(|(c, k)| ((*c).to_owned(), k.kel.clone())).collect(),
        broadcast_sign_input_hex: hex(&broadcast.sign_input()),
        broadcast_message_id: broadcast.message_id().unwrap(),
        broadcast,
        sealed_sign_input_hex: hex(&sealed.sign_input()),
        sealed_message_id: sealed.message_id().unwrap(),
        sealed,
        plaintext,
        adapter_sign_input_hex: hex(&adapter.sign_input()),
        adapter,
        adapter_input: input,
        adapter_output: output,
    }
}

fn delivered(b: &BroadcastArgs, to: &str, received_at: u64) -> BroadcastDelivered {
    BroadcastDelivered {
        kind: BroadcastKind::Broadcast,
        message_id: b.message_id().unwrap(),
        recipient_id: to.into(),
        sender_id: b.sender_id.clone(),
        tag: b.tag.clone(),
        protocol: b.protocol.clone(),
        status: b.status.clone(),
        content_type: b.content_type.clone(),
        in_reply_to: b.in_reply_to.clone(),
        message: b.message.clone(),
        wraps: b.wraps.clone(),
        key_id: b.key_id.clone(),
        ts: b.ts.clone(),
        nonce: b.nonce.clone(),
        sig: b.sig.clone(),
        received_at: received_at.to_string(),
        expires_at: (received_at + 300_000).to_string(),
    }
}

#[test]
fn broadcast_vectors_match_the_file_and_verify() {
    let seeds = seeds();
    let published: Option<BroadcastVectors> = std::fs::read_to_string(VECTORS)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    if std::env::var_os("MCPMSG_WRITE_VECTORS").is_some() {
        let keep = published.map(|p| (p.sealed, p.plaintext));
        let v = build(&seeds, keep);
        std::fs::write(VECTORS, serde_json::to_string_pretty(&v).unwrap() + "\n").unwrap();
        return;
    }
    let file = published.expect("tests/vectors/mcpmsg-broadcast.json parses");
    let want = build(&seeds, Some((file.sealed.clone(), file.plaintext.clone())));
    assert_eq!(file, want, "broadcast vectors drifted from the seeds");

    // What a recipient checks, from the file alone.
    let keys = keys(&seeds);
    let alice = verify_kel(&file.kels["alice"]).unwrap();
    let at = [TS];
    let log = SenderLog {
        state: &alice,
        accepted_at: Some(&at),
    };
    let rules = TimeRules::default();
    let received = TS + 5_100;
    let plain = delivered(&file.broadcast, "bob", received);
    let opened = check_broadcast(&plain, "bob", &log, &[], rules, received).unwrap();
    assert_eq!(opened.text, file.broadcast.message);
    let mut altered = plain.clone();
    altered.tag = "docs".into();
    assert!(check_broadcast(&altered, "bob", &log, &[], rules, received).is_err());

    let sealed_at: u64 = file.sealed.ts.parse().unwrap();
    for c in ["bob", "carol"] {
        let d = delivered(&file.sealed, c, sealed_at + 100);
        let opened = check_broadcast(&d, c, &log, &[&keys[c].sealing], rules, sealed_at + 100).unwrap();
        assert_eq!((opened.text.as_str(), opened.sealed), (file.plaintext.as_str(), true));
    }
    // A copy taken to another recipient does not open for it.
    let moved = delivered(&file.sealed, "alice", sealed_at + 100);
    assert!(check_broadcast(&moved, "alice", &log, &[&keys["alice"].sealing], rules, sealed_at + 100).is_err());
    let adapter_sig = mcpmsg_core::protocol::decode_sig("sig", &file.adapter.sig).unwrap();
    keys["alice"]
        .signing
        .public()
        .verify(&file.adapter.sign_input(), &adapter_sig)
        .unwrap();
}
