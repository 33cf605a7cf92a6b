//! The `mcpmsg` binary, run as a user would: exact exit codes, messages,
//! file modes, and logs that the library and an independent implementation
//! of PROTOCOL.md both accept.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mcpmsg_core::protocol::kel::{verify_log, Event};

struct Home {
    dir: tempfile::TempDir,
    /// Everything any command printed, to prove no secret ever was.
    printed: std::cell::RefCell<String>,
}

impl Home {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            printed: Default::default(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_mcpmsg"))
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("MCPMSG_CONFIG")
            .env_remove("MCPMSG_PASSPHRASE_FILE")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let mut p = self.printed.borrow_mut();
        p.push_str(&String::from_utf8_lossy(&out.stdout));
        p.push_str(&String::from_utf8_lossy(&out.stderr));
        out
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and expects `code`; returns stderr.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.starts_with("mcpmsg: error: "), "{stderr}");
        stderr
    }

    fn kel(&self, id: &str) -> Vec<Event> {
        serde_json::from_str(&std::fs::read_to_string(self.path(&format!("{id}.kel.json"))).unwrap()).unwrap()
    }

    fn read(&self, p: &str) -> String {
        std::fs::read_to_string(self.path(p)).unwrap()
    }

    /// The base64 secrets in a plain key file.
    fn secrets(&self, p: &str) -> Vec<String> {
        self.read(p)
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("mcpmsg-keys") && !l.starts_with("client_id"))
            .filter_map(|l| l.split(' ').nth(1))
            .map(str::to_owned)
            .collect()
    }

    fn assert_no_secret_printed(&self, secrets: &[String]) {
        let printed = self.printed.borrow();
        for s in secrets {
            assert!(!printed.contains(s.as_str()), "a secret was printed");
        }
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn independent_kel_check(path: &Path) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/independent/check_v1.py");
    let out = Command::new("python3")
        .arg(script)
        .arg("kel")
        .arg(path)
        .output()
        .expect("python3 is needed");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "independent check failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn init_rotate_twice_revoke_makes_a_log_others_accept() {
    let h = Home::new();
    let out = h.ok(&["init", "--id", "alice-laptop"]);
    assert!(out.starts_with("created identity alice-laptop\n"), "{out}");
    assert_eq!(mode(&h.path("alice-laptop.key")), 0o600);
    assert_eq!(mode(&h.path("alice-laptop.kel.json")), 0o644);
    assert_eq!(mode(&h.path("mcp_recipients.json")), 0o644);
    let key_file = h.read("alice-laptop.key");
    assert!(key_file.starts_with("# mcpmsg: the secret keys of alice-laptop. KEEP THIS FILE SECRET.\n"));
    let mut secrets = h.secrets("alice-laptop.key");
    assert_eq!(secrets.len(), 3, "signing, sealing, next");

    let config: serde_json::Value = serde_json::from_str(&h.read("mcp_recipients.json")).unwrap();
    assert_eq!(config["my_id"], "alice-laptop");
    assert_eq!(config["key_file"], "alice-laptop.key");
    assert_eq!(config["server_info"]["url"], "http://localhost:8123/mcp");
    assert_eq!(config["server_info"]["transport"], "streamable_http");

    let fp = verify_log(&h.kel("alice-laptop")).unwrap().fingerprint();
    assert!(out.contains(&format!("fingerprint: {fp}\n")), "{out}");

    for seq in 1..=2 {
        let out = h.ok(&["rotate"]);
        assert!(
            out.starts_with(&format!("rotated alice-laptop: now at seq {seq}\n")),
            "{out}"
        );
        secrets.extend(h.secrets("alice-laptop.key"));
    }
    let key_file = h.read("alice-laptop.key");
    assert_eq!(
        key_file.matches("\nold_sealing: ").count(),
        2,
        "old sealing secrets kept"
    );
    assert_eq!(mode(&h.path("alice-laptop.key")), 0o600, "mode kept across rewrites");

    let who: serde_json::Value = serde_json::from_str(&h.ok(&["whoami", "--json"])).unwrap();
    assert_eq!(who["kel_seq"], "2");
    assert_eq!(
        who["fingerprint"],
        fp.as_str(),
        "the anchor does not change with rotation"
    );

    let out = h.ok(&["revoke", "--reason", "retired"]);
    let (first, second) = out.split_once('\n').unwrap();
    assert_eq!(
        first,
        "suspended alice-laptop at seq 3 (retired), signed by the current key: nothing signed by it is accepted any more. \
         The committed next key can lift this (`mcpmsg rotate`) or make it final (`mcpmsg revoke --with-next`)."
    );
    // No server runs for this test: the push says so and the log keeps the event.
    assert!(second.starts_with("server: http://localhost:8123/mcp "), "{second}");

    let events = h.kel("alice-laptop");
    assert_eq!(
        events.iter().map(Event::kind).collect::<Vec<_>>(),
        ["inception", "rotation", "rotation", "revocation"]
    );
    assert!(verify_log(&events).unwrap().revoked().is_some());
    assert_eq!(h.ok(&["kel"]), h.read("alice-laptop.kel.json"));
    let checked = independent_kel_check(&h.path("alice-laptop.kel.json"));
    assert!(
        checked.ends_with("ok log of alice-laptop: 4 events, suspended (retired)\n"),
        "{checked}"
    );

    // A1: the committed next key lifts the suspension...
    h.ok(&["rotate", "--offline"]);
    let events = h.kel("alice-laptop");
    assert_eq!(verify_log(&events).unwrap().revoked(), None);
    // ...or ends the identity for good.
    let out = h.ok(&["revoke", "--reason", "compromised", "--with-next", "--offline"]);
    assert!(
        out.starts_with("revoked alice-laptop at seq 5 (compromised), signed by the committed next key."),
        "{out}"
    );
    let checked = independent_kel_check(&h.path("alice-laptop.kel.json"));
    assert!(
        checked.ends_with("ok log of alice-laptop: 6 events, revoked (compromised)\n"),
        "{checked}"
    );
    let err = h.fails(&["rotate"], 2);
    assert!(err.contains("alice-laptop was revoked at seq 5 (compromised)"), "{err}");
    h.assert_no_secret_printed(&secrets);
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let h = Home::new();
    h.ok(&["init", "--id", "alice"]);
    let before = h.read("alice.key");
    let err = h.fails(&["init", "--id", "alice"], 2);
    assert_eq!(
        err,
        "mcpmsg: error: refusing to overwrite mcp_recipients.json, alice.key, alice.kel.json\n\
         hint: pass --force to replace them (the old identity's keys are then lost), or choose another --dir or --config\n"
    );
    assert_eq!(h.read("alice.key"), before, "nothing was touched");
    // Only one of the files present is enough to refuse.
    std::fs::remove_file(h.path("mcp_recipients.json")).unwrap();
    std::fs::remove_file(h.path("alice.kel.json")).unwrap();
    assert!(h
        .fails(&["init", "--id", "alice"], 2)
        .contains("refusing to overwrite alice.key\n"));
    h.ok(&["init", "--id", "alice", "--force"]);
    assert_ne!(h.read("alice.key"), before);
    assert_eq!(mode(&h.path("alice.key")), 0o600);
}

#[test]
fn usage_errors_exit_2_and_name_the_field() {
    let h = Home::new();
    let err = h.fails(&["init", "--id=-bad"], 2);
    assert_eq!(err, "mcpmsg: error: --id: 1 to 64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit\nhint: for example --id alice-laptop\n");
    let err = h.fails(&["whoami"], 2);
    assert!(err.contains("hint: run `mcpmsg init --id ID` first"), "{err}");
    assert_eq!(h.run(&["revoke"]).status.code(), Some(2), "clap usage error");
    assert!(h
        .fails(&["init", "--id", "a", "--server", "localhost:8123"], 2)
        .contains("is not an http(s) URL"));
}

#[test]
fn passphrase_protected_key_files() {
    let h = Home::new();
    std::fs::write(h.path("pass"), "correct horse battery\n").unwrap();
    std::fs::write(h.path("wrong"), "wrong\n").unwrap();
    let out = h.ok(&["--passphrase-file", "pass", "init", "--id", "alice"]);
    assert!(out.contains("(mode 0600, passphrase-protected)"), "{out}");
    let text = h.read("alice.key");
    assert!(
        text.contains("mcpmsg-keys: v1-encrypted\nkdf: argon2id m=65536 t=3 p=1\n"),
        "{text}"
    );
    assert!(!text.contains("signing:"));

    // No terminal, no passphrase file: a clear refusal, not a hang.
    let err = h.fails(&["rotate"], 2);
    assert!(
        err.contains("needs a passphrase and there is no terminal to ask on\nhint: pass --passphrase-file FILE"),
        "{err}"
    );
    let err = h.fails(&["--passphrase-file", "wrong", "rotate"], 2);
    assert!(err.contains("the passphrase does not unlock the key file"), "{err}");
    h.ok(&["--passphrase-file", "pass", "rotate"]);
    assert!(
        h.read("alice.key").contains("v1-encrypted"),
        "protection kept after rotation"
    );
    // Public commands need no passphrase.
    h.ok(&["whoami"]);
}

#[test]
fn next_key_in_a_separate_file_rotates_and_revokes() {
    let h = Home::new();
    h.ok(&["init", "--id", "alice", "--next-key-file", "offline/alice.next"]);
    assert!(!h.read("alice.key").contains("next_signing"), "next key kept apart");
    assert!(h.read("offline/alice.next").contains("next_signing: "));
    assert_eq!(mode(&h.path("offline/alice.next")), 0o600);
    assert_eq!(mode(&h.path("offline")), 0o700);
    let next_before = h.read("offline/alice.next");
    h.ok(&["rotate"]);
    assert_ne!(
        h.read("offline/alice.next"),
        next_before,
        "a new next key was committed"
    );
    assert!(!h.read("alice.key").contains("next_signing"));

    // Without the next-key file (media unplugged), rotation says what to do.
    std::fs::rename(h.path("offline"), h.path("usb")).unwrap();
    let err = h.fails(&["rotate"], 2);
    assert!(err.contains("hint: mount it, or pass --next-key-file FILE"), "{err}");
    let out = h.ok(&[
        "revoke",
        "--reason",
        "compromised",
        "--with-next",
        "--next-key-file",
        "usb/alice.next",
    ]);
    assert!(out.contains("signed by the committed next key"), "{out}");
    independent_kel_check(&h.path("alice.kel.json"));
}

#[test]
fn an_interrupted_rotation_is_finished_by_the_next_rotate() {
    let h = Home::new();
    h.ok(&["init", "--id", "alice"]);
    let kel_before = h.read("alice.kel.json");
    h.ok(&["rotate"]);
    // Simulate a crash after the key file was written but before the log was.
    std::fs::write(h.path("alice.kel.json"), kel_before).unwrap();
    let err = h.fails(&["revoke", "--reason", "retired"], 2);
    assert!(
        err.contains("a rotation was interrupted\nhint: run `mcpmsg rotate` to finish it"),
        "{err}"
    );
    let out = h.ok(&["rotate"]);
    assert!(
        out.starts_with("finished an interrupted rotation of alice: now at seq 1\n"),
        "{out}"
    );
    h.ok(&["rotate"]);
    assert_eq!(verify_log(&h.kel("alice")).unwrap().seq(), 2);
}

#[test]
fn recipients_are_pinned_and_forks_and_rollbacks_refused() {
    let alice = Home::new();
    let bob = Home::new();
    alice.ok(&["init", "--id", "alice"]);
    bob.ok(&["init", "--id", "bob"]);
    let bob_v0 = bob.path("bob.kel.json");
    let v0 = alice.path("bob-v0.json");
    std::fs::copy(&bob_v0, &v0).unwrap();
    let v0 = v0.to_str().unwrap();
    let out = alice.ok(&[
        "recipients",
        "add",
        "bob",
        "--kel",
        v0,
        "--name",
        "Bob's Cursor",
        "--description",
        "backend repo",
    ]);
    let fp = verify_log(&bob.kel("bob")).unwrap().fingerprint();
    assert!(
        out.starts_with(&format!("pinned bob at seq 0\n  fingerprint: {fp}\n")),
        "{out}"
    );

    bob.ok(&["rotate"]);
    let v1 = bob_v0.to_str().unwrap();
    alice.ok(&["recipients", "add", "bob", "--kel", v1]);
    let list: serde_json::Value = serde_json::from_str(&alice.ok(&["recipients", "list", "--json"])).unwrap();
    assert_eq!(list["bob"]["kel_seq"], "1");
    assert_eq!(list["bob"]["name"], "Bob's Cursor", "kept when not given again");
    assert_eq!(list["bob"]["fingerprint"], fp.as_str());
    let state = verify_log(&bob.kel("bob")).unwrap();
    assert_eq!(list["bob"]["signing_key"], state.current().signing_key.as_str());
    assert_eq!(list["bob"]["kel_head"], state.head());

    let err = alice.fails(&["recipients", "add", "bob", "--kel", v0], 1);
    assert!(
        err.contains("the log rolls back: it ends at seq 0, the known one at seq 1"),
        "{err}"
    );
    // Someone re-creates "bob" with new keys: a fork from the pinned log.
    bob.ok(&["init", "--id", "bob", "--force"]);
    bob.ok(&["rotate"]);
    let err = alice.fails(&["recipients", "add", "bob", "--kel", v1], 1);
    assert!(err.contains("the log forks from the known one at seq 1"), "{err}");
    let err = alice.fails(&["recipients", "add", "carol", "--kel", v1], 1);
    assert!(err.contains("the log is for \"bob\", not \"carol\""), "{err}");
    let list: serde_json::Value = serde_json::from_str(&alice.ok(&["recipients", "list", "--json"])).unwrap();
    assert_eq!(list["bob"]["kel_seq"], "1", "refusals change nothing");
}

#[test]
fn verify_kel_exit_codes() {
    let h = Home::new();
    h.ok(&["init", "--id", "alice"]);
    h.ok(&["rotate"]);
    let out = h.ok(&["verify-kel", "alice.kel.json"]);
    assert!(out.contains("log:           seq 1, head "), "{out}");
    let tampered = h.read("alice.kel.json").replacen("\"seq\": \"1\"", "\"seq\": \"2\"", 1);
    std::fs::write(h.path("bad.json"), tampered).unwrap();
    let err = h.fails(&["verify-kel", "bad.json"], 1);
    assert_eq!(err, "mcpmsg: error: bad.json: event 1: seq: expected 1, found \"2\"\n");
    h.fails(&["verify-kel", "missing.json"], 1);
    std::fs::write(h.path("junk.json"), "{").unwrap();
    h.fails(&["verify-kel", "junk.json"], 1);
}

#[test]
fn enroll_line_names_the_inception_key() {
    let h = Home::new();
    h.ok(&["init", "--id", "alice"]);
    let state = verify_log(&h.kel("alice")).unwrap();
    h.ok(&["rotate"]);
    assert_eq!(
        h.ok(&["enroll-line"]),
        format!(
            "alice {}  # fingerprint {}\n",
            state.inception_key(),
            state.fingerprint()
        )
    );
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let h = Home::new();
    h.ok(&["init", "--id", "alice"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcpmsg"))
        .arg("kel")
        .current_dir(h.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
