//! The server key (PROTOCOL §12) as the CLI keeps it: pinned on first
//! contact with its fingerprint shown, every acceptance checked against
//! it, another key refused until re-pinned on purpose.

mod common;

use common::{Server, User};

#[tokio::test(flavor = "multi_thread")]
async fn the_server_key_is_pinned_checked_and_re_pinned_on_purpose() {
    let keys = tempfile::tempdir().unwrap();
    let first = keys.path().join("first.json");
    let s = Server::start_with_key(0, first.to_str().unwrap()).await;
    let port = s.port;
    let url = s.url();
    let (alice, bob) = (User::new("alice", &url), User::new("bob", &url));
    alice.pin(&bob);
    // `User::new` checked in, which pinned the key and showed it.
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(alice.config()).unwrap()).unwrap();
    let pinned = config["server_info"]["server_key"].as_str().unwrap().to_owned();
    let fingerprint = mcpmsg_core::crypto::SigningPublicKey::parse(&pinned)
        .unwrap()
        .fingerprint();
    assert!(alice
        .mcpmsg(&["checkin"])
        .contains(&format!("server key fingerprint: {fingerprint} (pinned)")));
    alice.mcpmsg(&["send", "bob", "hello"]);

    // The same port, another server key: sends are refused after the fact
    // (the message went, but nothing the server says is trusted), and
    // `server show` says so.
    s.stop().await;
    let second = keys.path().join("second.json");
    let s = Server::start_with_key(port, second.to_str().unwrap()).await;
    alice.mcpmsg(&["checkin"]);
    bob.mcpmsg(&["checkin"]);
    let err = alice.mcpmsg_fails(&["send", "bob", "again"]);
    assert!(err.contains("the server's acceptance does not verify"), "{err}");
    assert!(err.contains("mcpmsg server repin"), "{err}");
    let shown = alice.mcpmsg(&["server", "show"]);
    assert!(shown.contains("THE SERVER PRESENTS ANOTHER KEY"), "{shown}");
    let json: serde_json::Value = serde_json::from_str(&alice.mcpmsg(&["server", "show", "--json"])).unwrap();
    assert_eq!(json["matches"], false);
    assert_eq!(json["pinned"], fingerprint.as_str());

    // Re-pinning to a fingerprint the operator did not give is refused.
    let err = alice.mcpmsg_fails(&["server", "repin", "--fingerprint", &fingerprint]);
    assert!(err.contains("nothing was pinned"), "{err}");
    let presented = json["presented"].as_str().unwrap().to_owned();
    alice.mcpmsg(&["server", "repin", "--fingerprint", &presented]);
    alice.mcpmsg(&["send", "bob", "after the re-pin"]);
    let json: serde_json::Value = serde_json::from_str(&alice.mcpmsg(&["server", "show", "--json"])).unwrap();
    assert_eq!(json["matches"], true);
    s.stop().await;
}
