//! The project's vectors checked by an independent implementation of
//! PROTOCOL.md (tests/independent/check_v1.py, Python, sharing no code with
//! this crate). It needs python3 with the `cryptography` package; `.ci/run`
//! installs it. Missing, the test fails and says so: it never skips.

use std::process::Command;

fn check(args: &[&str]) -> String {
    let dir = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("python3")
        .arg(format!("{dir}/tests/independent/check_v1.py"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("python3 is needed for the independent checks (install python3)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'cryptography'"),
        "the independent checker needs `python3 -m pip install cryptography`"
    );
    assert!(
        out.status.success(),
        "independent check {args:?} failed:\n{stdout}{stderr}"
    );
    stdout
}

#[test]
fn independent_hpke_matches_rfc9180() {
    let out = check(&[
        "rfc9180",
        "tests/vectors/rfc9180-base-x25519-sha256-chacha20poly1305.json",
    ]);
    assert!(out.contains("ok RFC 9180 A.2.1"), "{out}");
}

#[test]
fn independent_implementation_accepts_the_v1_vectors() {
    let out = check(&["vectors", "tests/vectors/mcpmsg-v1.json"]);
    for line in [
        "ok event 0: inception",
        "ok event 1: rotation",
        "ok event 2: revocation",
        "ok send:",
        "ok sealed:",
        "ok heartbeat:",
        "ok acceptance:",
        "ok event:",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
}

#[test]
fn independent_implementation_refuses_a_tampered_vector() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/mcpmsg-v1.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["sealed"]["args"]["sender_id"] = "mallory".into();
    let path = std::env::temp_dir().join(format!("mcpmsg-tampered-{}.json", std::process::id()));
    std::fs::write(&path, v.to_string()).unwrap();
    let out = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/independent/check_v1.py"))
        .arg("vectors")
        .arg(&path)
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAILED: signature does not verify"));
}

/// PROTOCOL §5a (amendment A3), judged twice: by the core's
/// `inbox::check` and by the independent checker, case by case. Both must
/// agree on every case, and on what each case should be.
#[test]
fn recipient_checks_agree_with_the_independent_implementation() {
    use mcpmsg_core::crypto::{SealingSecret, SigningSecret};
    use mcpmsg_core::inbox::{check as inbox_check, Delivered, SenderLog, TimeRules};
    use mcpmsg_core::protocol::kel::{verify_log, Event, Reason};
    use mcpmsg_core::protocol::{new_nonce, SendMessage, SendParts};

    let k: Vec<SigningSecret> = (0..3).map(|_| SigningSecret::generate()).collect();
    let seal = SealingSecret::generate();
    let mut kel = vec![Event::inception("alice", &k[0], &seal.public(), &k[1].public(), 1_000)];
    let head = kel[0].hash().unwrap();
    kel.push(Event::rotation(
        "alice",
        1,
        &head,
        &k[1],
        &seal.public(),
        &k[2].public(),
        500_000,
    ));
    let head = kel[1].hash().unwrap();
    kel.push(Event::revocation(
        "alice",
        2,
        &head,
        &k[1],
        Reason::Compromised,
        700_000,
    ));
    let accepted = [1_000u64, 500_000, 700_000];
    let now = 710_000u64;

    let delivered = |key: &SigningSecret, ts: u64, received_at: u64| {
        let nonce = new_nonce();
        let parts = SendParts {
            sender_id: "alice",
            recipient_id: "bob",
            in_reply_to: None,
            ts,
            nonce: &nonce,
        };
        let send = SendMessage::sign(key, parts, Some("text/markdown"), "hello");
        Delivered::of_send(&send, received_at, received_at + 300_000).unwrap()
    };
    let mut forged_id = delivered(&k[1], 600_000, 600_500);
    forged_id.message_id = "AAAAAAAAAAAAAAAAAAAAAA".into();
    let cases: Vec<(&str, Delivered, &[u64], bool)> = vec![
        (
            "current key, before the suspension",
            delivered(&k[1], 600_000, 600_500),
            &accepted,
            true,
        ),
        (
            "old key, signed and received before the rotation",
            delivered(&k[0], 480_000, 481_000),
            &accepted,
            true,
        ),
        (
            "old key signed after the rotation, received_at backdated",
            delivered(&k[0], 560_000, 499_000),
            &accepted,
            false,
        ),
        (
            "key suspended before it was received",
            delivered(&k[1], 705_000, 705_500),
            &accepted,
            false,
        ),
        (
            "an old message delivered again, past its lifetime",
            delivered(&k[0], 250_000, 250_500),
            &accepted,
            false,
        ),
        ("message_id not from the signature", forged_id, &accepted, false),
        (
            "fewer acceptance times than events",
            delivered(&k[1], 600_000, 600_500),
            &accepted[..2],
            false,
        ),
    ];
    let state = verify_log(&kel).unwrap();
    let dir = std::env::temp_dir().join(format!("mcpmsg-a3-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, (what, msg, accepted_at, genuine)) in cases.iter().enumerate() {
        let sender = SenderLog {
            state: &state,
            accepted_at: Some(accepted_at),
        };
        let ours = inbox_check(msg, "bob", &sender, &[], TimeRules::default(), now);
        let case = serde_json::json!({
            "kel": kel, "message": msg, "me": "bob", "now": now.to_string(),
            "accepted_at": accepted_at.iter().map(u64::to_string).collect::<Vec<_>>(),
        });
        let path = dir.join(format!("case{i}.json"));
        std::fs::write(&path, case.to_string()).unwrap();
        let out = Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/independent/check_v1.py"))
            .arg("delivered")
            .arg(&path)
            .output()
            .unwrap();
        let theirs = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(ours.is_ok(), *genuine, "core on {what:?}: {ours:?}");
        assert_eq!(
            out.status.success(),
            *genuine,
            "independent checker on {what:?}: {theirs}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// PROTOCOL §15 from the independent checker: the room vectors' log
/// verified statement by statement, and the sealed message opened by each
/// member.
#[test]
fn independent_implementation_verifies_the_room_vectors() {
    let out = room_check("vectors", "tests/vectors/mcpmsg-rooms.json", true);
    for line in [
        "ok statement 0: create by alice",
        "ok statement 4: join by carol, epoch 3",
        "ok sealed: bob opens it",
        "ok sealed: carol opens it",
        "ok sealed: the sender has no wrap of its own",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
}

/// A ghost (a join by someone nobody invited) appended to the vectors'
/// log, and a wrap moved to another member: the independent checker
/// refuses both.
#[test]
fn independent_implementation_refuses_a_ghost_and_a_moved_wrap() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/mcpmsg-rooms.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();

    let mut ghost = v.clone();
    let mut join = v["statements"][3].clone();
    join["seq"] = "5".into();
    join["prev"] = v["hashes"][4].clone();
    ghost["statements"].as_array_mut().unwrap().push(join);
    ghost["accepted_at"]
        .as_array_mut()
        .unwrap()
        .push(v["accepted_at"][3].clone());
    let out = room_check_value("vectors", &ghost);
    assert!(out.contains("FAILED: signature does not verify"), "{out}");

    let mut moved = v.clone();
    let wraps = v["sealed"]["wraps"].as_str().unwrap().replace("carol:", "alice:");
    moved["sealed"]["wraps"] = wraps.into();
    let out = room_check_value("vectors", &moved);
    assert!(out.contains("FAILED"), "{out}");
}

fn room_check_value(cmd: &str, v: &serde_json::Value) -> String {
    let path = std::env::temp_dir().join(format!("mcpmsg-rooms-{}-{cmd}.json", std::process::id()));
    std::fs::write(&path, v.to_string()).unwrap();
    let out = room_check(cmd, path.to_str().unwrap(), false);
    std::fs::remove_file(&path).unwrap();
    out
}

fn room_check(cmd: &str, file: &str, must_pass: bool) -> String {
    python_check("check_rooms.py", &[cmd, file], must_pass)
}

/// Runs `tests/independent/<script>` with `args`; it must pass, or fail,
/// as `must_pass` says. Returns what it printed.
fn python_check(script: &str, args: &[&str], must_pass: bool) -> String {
    let out = Command::new("python3")
        .arg(format!("{}/tests/independent/{script}", env!("CARGO_MANIFEST_DIR")))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("python3 is needed for the independent checks");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.success(),
        must_pass,
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// PROTOCOL §18e, §18f from the independent checker: the broadcasts'
/// SIGN_INPUTs and signatures, the sealed one opened by each recipient,
/// and the adapter's operations applied; a tampered broadcast is refused.
#[test]
fn independent_implementation_verifies_the_broadcast_vectors() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/mcpmsg-broadcast.json");
    let out = broadcast_check(file, true);
    for line in [
        "ok unsealed broadcast",
        "ok sealed broadcast: bob opens it",
        "ok sealed broadcast: carol opens it",
        "ok adapter: signature, and its operations applied",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    v["broadcast"]["tag"] = "docs".into();
    v["broadcast_sign_input_hex"] = serde_json::Value::Null;
    let path = std::env::temp_dir().join(format!("mcpmsg-broadcast-{}.json", std::process::id()));
    std::fs::write(&path, v.to_string()).unwrap();
    let out = broadcast_check(path.to_str().unwrap(), false);
    std::fs::remove_file(&path).unwrap();
    assert!(out.contains("FAILED"), "{out}");
}

fn broadcast_check(file: &str, must_pass: bool) -> String {
    python_check("check_broadcast.py", &["vectors", file], must_pass)
}
