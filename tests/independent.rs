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
