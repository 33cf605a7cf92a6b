//! Room vectors (PROTOCOL §15), `tests/vectors/mcpmsg-rooms.json`: three
//! identities, a membership log of five statements (create, two
//! invitations, two joins) with each statement's SIGN_INPUT and hash, and a
//! sealed room message for the other two members with their sealing
//! secrets, and bob's typing signal (§15d). The independent checker (`tests/independent/check_rooms.py`)
//! verifies the log and opens the message as each member from this file.
//!
//! `MCPMSG_WRITE_VECTORS=1 cargo test --test room_vectors` rewrites it
//! (the sealed message gets fresh randomness and is kept once published;
//! everything else is deterministic from the seeds).

use mcpmsg_tests::{hex, Keys};
use std::collections::BTreeMap;

use mcpmsg_core::crypto::b64;
use mcpmsg_core::inbox::{SenderLog, TimeRules};
use mcpmsg_core::protocol::kel::{verify_log as verify_kel, Event, KelState};
use mcpmsg_core::protocol::room::{
    check_signal, room_id_of, statement, statement_hash, verify_log, Op, RoomSealParts, RoomState, Trust,
};
use mcpmsg_core::protocol::tools::{
    ChangeRoomArgs, SendRoomMessageArgs, SendSignalArgs, SignalDelivered, SignalKind, SignedArgs,
};
use serde::{Deserialize, Serialize};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/mcpmsg-rooms.json");
const TS: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const MEMBERS: [&str; 3] = ["alice", "bob", "carol"];

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct RoomVectors {
    /// `<member>_signing`, `<member>_next`, `<member>_sealing`: 64 hex.
    seeds: BTreeMap<String, String>,
    /// Each member's key event log (an inception) and its accepted_at.
    kels: BTreeMap<String, KelVector>,
    room_id: String,
    /// The log as `get_room_log` returns it, with each statement's
    /// SIGN_INPUT and hash beside it.
    statements: Vec<ChangeRoomArgs>,
    accepted_at: Vec<String>,
    sign_input_hex: Vec<String>,
    hashes: Vec<String>,
    epoch: String,
    members: Vec<String>,
    /// A sealed message from alice at the log's epoch, as sent.
    sealed: SendRoomMessageArgs,
    sealed_sign_input_hex: String,
    message_id: String,
    plaintext: String,
    /// bob's typing signal in the room, as sent (deterministic: Ed25519).
    signal: SendSignalArgs,
    signal_sign_input_hex: String,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct KelVector {
    kel: Vec<Event>,
    accepted_at: Vec<String>,
}

fn seeds() -> BTreeMap<String, String> {
    mcpmsg_tests::seeds("room", &MEMBERS)
}

fn keys(seeds: &BTreeMap<String, String>) -> BTreeMap<&'static str, Keys> {
    mcpmsg_tests::keys(seeds, &MEMBERS, TS)
}

/// The log, deterministic: fixed times and nonces.
fn log(keys: &BTreeMap<&str, Keys>) -> (Vec<ChangeRoomArgs>, RoomState) {
    let steps = [
        ("alice", Op::Create, "", "release train"),
        ("alice", Op::Invite, "bob", ""),
        ("alice", Op::Invite, "carol", ""),
        ("bob", Op::Join, "", ""),
        ("carol", Op::Join, "", ""),
    ];
    let mut state: Option<RoomState> = None;
    let mut out = Vec::new();
    for (i, (by, op, member, title)) in steps.into_iter().enumerate() {
        let mut s = statement(state.as_ref(), op, by, member, title);
        let k = &keys[by].signing;
        s.key_id = k.public().kid();
        s.ts = (TS + 1000 * (i as u64 + 1)).to_string();
        s.nonce = b64::encode(&[0x40 + i as u8; 16]);
        s.sig = b64::encode(&k.sign(&s.sign_input()));
        match state.as_mut() {
            None => state = Some(RoomState::create(&s).unwrap()),
            Some(st) => st.apply(&s).unwrap(),
        }
        out.push(s);
    }
    (out, state.unwrap())
}

fn sealed(keys: &BTreeMap<&str, Keys>, state: &RoomState) -> (SendRoomMessageArgs, String) {
    let plaintext = "Release at 17:00. The room's key is wrapped for bob and carol ✓".to_owned();
    let nonce = b64::encode(&[0x55; 16]);
    let parts = RoomSealParts {
        sender_id: "alice",
        room_id: state.room_id(),
        epoch: state.epoch(),
        in_reply_to: None,
        ts: TS + 9000,
        nonce: &nonce,
    };
    let to = [
        ("bob", &keys["bob"].sealing.public()),
        ("carol", &keys["carol"].sealing.public()),
    ];
    let m = SendRoomMessageArgs::seal_and_sign(&keys["alice"].signing, parts, &to, &plaintext).unwrap();
    (m, plaintext)
}

fn signal(keys: &BTreeMap<&str, Keys>, state: &RoomState) -> SendSignalArgs {
    let mut s = SendSignalArgs {
        sender_id: "bob".into(),
        room_id: state.room_id().to_owned(),
        signal: "typing".into(),
        key_id: keys["bob"].signing.public().kid(),
        ts: (TS + 9500).to_string(),
        nonce: b64::encode(&[0x66; 16]),
        sig: String::new(),
    };
    s.sig = b64::encode(&keys["bob"].signing.sign(&s.sign_input()));
    s
}

fn build(seeds: &BTreeMap<String, String>, published: Option<(SendRoomMessageArgs, String)>) -> RoomVectors {
    let keys = keys(seeds);
    let (statements, state) = log(&keys);
    let (sealed, plaintext) = published.unwrap_or_else(|| sealed(&keys, &state));
    let sig = b64::decode_array::<64>(&sealed.sig).unwrap();
    let signal = signal(&keys, &state);
    RoomVectors {
        seeds: seeds.clone(),
        kels: keys
            .iter()
            .map(|(m, k)| {
                let v = KelVector {
                    kel: k.kel.clone(),
                    accepted_at: vec![k.kel[0].ts().to_owned()],
                };
                ((*m).to_owned(), v)
            })
            .collect(),
        room_id: room_id_of(&statements[0]).unwrap(),
        accepted_at: statements.iter().map(|s| s.ts.clone()).collect(),
        sign_input_hex: statements.iter().map(|s| hex(&s.sign_input())).collect(),
        hashes: statements.iter().map(|s| statement_hash(s).unwrap()).collect(),
        statements,
        epoch: state.epoch().to_string(),
        members: state.members().iter().cloned().collect(),
        sealed_sign_input_hex: hex(&sealed.sign_input()),
        message_id: mcpmsg_core::protocol::message_id(&sig),
        sealed,
        plaintext,
        signal_sign_input_hex: hex(&signal.sign_input()),
        signal,
    }
}

#[test]
fn room_vectors_match_the_file_and_verify() {
    let seeds = seeds();
    let published: Option<RoomVectors> = std::fs::read_to_string(VECTORS)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    if std::env::var_os("MCPMSG_WRITE_VECTORS").is_some() {
        let keep = published.map(|p| (p.sealed, p.plaintext));
        let v = build(&seeds, keep);
        std::fs::write(VECTORS, serde_json::to_string_pretty(&v).unwrap() + "\n").unwrap();
        return;
    }
    let file = published.expect("tests/vectors/mcpmsg-rooms.json parses");
    let want = build(&seeds, Some((file.sealed.clone(), file.plaintext.clone())));
    assert_eq!(file, want, "room vectors drifted from the seeds");

    // What a member checks, from the file alone.
    let logs: BTreeMap<String, (KelState, Vec<u64>)> = file
        .kels
        .iter()
        .map(|(m, k)| {
            let at = k.accepted_at.iter().map(|t| t.parse().unwrap()).collect();
            (m.clone(), (verify_kel(&k.kel).unwrap(), at))
        })
        .collect();
    let at: Vec<u64> = file.accepted_at.iter().map(|t| t.parse().unwrap()).collect();
    let trust = Trust {
        logs: &logs,
        server_key: None,
        rules: TimeRules::default(),
    };
    let room = verify_log(&file.statements, &at, &[], trust).unwrap();
    assert_eq!(room.state.room_id(), file.room_id);
    assert_eq!(room.state.epoch().to_string(), file.epoch);
    let keys = keys(&seeds);
    for m in ["bob", "carol"] {
        assert_eq!(file.sealed.open(m, &keys[m].sealing).unwrap(), file.plaintext);
    }
    assert!(file.sealed.open("alice", &keys["alice"].sealing).is_err());

    // bob's signal, as alice would be handed it, verifies; altered, it does not.
    let s = &file.signal;
    let mut delivered = SignalDelivered {
        kind: SignalKind::Signal,
        recipient_id: "alice".into(),
        sender_id: s.sender_id.clone(),
        room_id: s.room_id.clone(),
        signal: s.signal.clone(),
        key_id: s.key_id.clone(),
        ts: s.ts.clone(),
        nonce: s.nonce.clone(),
        sig: s.sig.clone(),
        received_at: s.ts.clone(),
        expires_at: (TS + 19_500).to_string(),
    };
    let (state, at) = &logs["bob"];
    let bob = SenderLog {
        state,
        accepted_at: Some(at),
    };
    let now = TS + 9_600;
    check_signal(&delivered, "alice", &room, &bob, TimeRules::default(), now).unwrap();
    delivered.signal = "stopped".into();
    let why = check_signal(&delivered, "alice", &room, &bob, TimeRules::default(), now).unwrap_err();
    assert!(why.contains("does not verify"), "{why}");
}
