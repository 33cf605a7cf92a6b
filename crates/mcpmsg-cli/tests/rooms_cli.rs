//! `mcpmsg room` and `mcpmsg pair`, run as users would: a sealed room of
//! three made, joined and read through the CLI alone, and two users paired
//! through the queue who then talk sealed.

mod common;

use common::*;
use serde_json::Value;

/// The room id in `room X: statement N accepted, ...`.
fn room_id(out: &str) -> String {
    out.strip_prefix("room ")
        .and_then(|r| r.split(':').next())
        .expect(out)
        .to_owned()
}

/// What `mcpmsg recv --json` printed, and its notes on what it held back.
fn received(u: &User) -> (Vec<Value>, String) {
    let out = std::process::Command::new(MCPMSG)
        .arg("--config")
        .arg(u.config())
        .args(["recv", "--json"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let notes = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{notes}");
    (serde_json::from_slice(&out.stdout).unwrap(), notes)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sealed_room_of_three_through_the_cli() {
    let server = Server::start(0).await;
    let url = server.url();
    let (a, b, c) = (
        User::new("alice", &url),
        User::new("bob", &url),
        User::new("carol", &url),
    );
    let room = room_id(&a.mcpmsg(&["room", "create", "release train"]));
    a.mcpmsg(&["room", "invite", &room, "bob"]);
    a.mcpmsg(&["room", "invite", &room, "carol"]);
    // An invitation adds nobody: bob cannot send before he joins.
    let err = b.mcpmsg_fails(&["room", "send", &room, "too early"]);
    assert!(err.contains("not_member"), "{err}");
    b.mcpmsg(&["room", "join", &room]);
    c.mcpmsg(&["room", "join", &room]);
    let log = a.mcpmsg(&["room", "log", &room]);
    assert!(log.contains("epoch 3, members alice, bob, carol"), "{log}");

    let sent = a.mcpmsg(&["room", "send", &room, "ship it ✓"]);
    assert!(sent.contains("sealed: queued for bob, carol"), "{sent}");
    for u in [&b, &c] {
        let (got, notes) = received(u);
        let m = got
            .iter()
            .find(|m| m["room_id"] == room.as_str())
            .unwrap_or_else(|| panic!("{got:?} {notes}"));
        assert_eq!(m["verified"], true, "{m}");
        assert_eq!(m["sealed"], true);
        assert_eq!(m["text"], "ship it ✓");
        assert_eq!(m["from"], "alice");
    }
    // Typing: verified against the room's log, shown beside the messages
    // (stderr, so --json keeps its shape), replaced by the newer signal.
    let typed = a.mcpmsg(&["room", "typing", &room]);
    assert!(
        typed.starts_with(&format!("signalled typing in room {room} to ")),
        "{typed}"
    );
    assert!(typed.contains("bob") && typed.contains("carol"), "{typed}");
    let (_, notes) = received(&b);
    assert!(
        notes.contains(&format!("mcpmsg: alice is typing in room {room}")),
        "{notes}"
    );
    a.mcpmsg(&["room", "typing", &room]);
    a.mcpmsg(&["room", "typing", &room, "--stopped"]);
    let (got, notes) = received(&c);
    assert!(got.is_empty(), "a signal is not a message: {got:?}");
    assert!(notes.contains("alice stopped typing"), "{notes}");
    assert!(!notes.contains("is typing"), "replaced by the newer signal: {notes}");
    let err = User::new("dave", &url).mcpmsg_fails(&["room", "typing", &room]);
    assert!(err.contains("not_member"), "{err}");

    // The members were pinned on first sight.
    let pinned: Value = serde_json::from_str(&b.mcpmsg(&["recipients", "list", "--json"])).unwrap();
    assert!(pinned.to_string().contains("carol"), "{pinned}");

    // carol leaves; the next message is for bob only.
    c.mcpmsg(&["room", "leave", &room]);
    let sent = a.mcpmsg(&["room", "send", &room, "carol left"]);
    assert!(sent.contains("queued for bob\n"), "{sent}");
    let listed = c.mcpmsg(&["room", "list"]);
    assert_eq!(listed, "no rooms\n");

    // A block list: carol's direct messages to alice are refused, with the code.
    assert_eq!(a.mcpmsg(&["block", "carol"]), "blocked carol; you block carol\n");
    c.pin(&a);
    let err = c.mcpmsg_fails(&["send", "alice", "hello?"]);
    assert!(err.contains("[blocked]"), "{err}");
    a.mcpmsg(&["block", "carol", "--unblock"]);
    c.mcpmsg(&["send", "alice", "hello?"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_users_paired_by_the_queue_talk_sealed() {
    let server = Server::start(0).await;
    let url = server.url();
    let (a, b) = (User::new("alice", &url), User::new("bob", &url));
    let config = a.config();
    let waiting = std::thread::spawn(move || {
        std::process::Command::new(MCPMSG)
            .arg("--config")
            .arg(config)
            .args(["pair", "--wait", "20", "--interests", "chess", "--name", "Alice"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    });
    // bob enters once alice is waiting.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let paired = b.mcpmsg(&["pair", "--wait", "20", "--interests", "chess"]);
    assert!(paired.starts_with("paired with alice in room "), "{paired}");
    let room = paired
        .split("in room ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    let out = waiting.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.starts_with(&format!("paired with bob in room {room}")),
        "{stdout}"
    );

    b.mcpmsg(&["room", "send", &room, "hello, pen pal"]);
    let (got, notes) = received(&a);
    let m = got
        .iter()
        .find(|m| m["room_id"] == room.as_str())
        .unwrap_or_else(|| panic!("{got:?} {notes}"));
    assert_eq!(
        (m["text"].as_str(), m["sealed"].as_bool()),
        (Some("hello, pen pal"), Some(true)),
        "{m}"
    );
    b.mcpmsg(&["room", "leave", &room]);
    let (got, _) = received(&a);
    let gone = got
        .iter()
        .find(|m| m["event"] == "partner.disconnected")
        .expect("partner.disconnected");
    assert!(gone["text"].as_str().unwrap().contains("reason = left"), "{gone}");
    server.stop().await;
}
