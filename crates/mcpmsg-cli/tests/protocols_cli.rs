//! `mcpmsg protocol`, run as users would: alice registers a protocol from
//! a schema file, bob lists it and shows it with its registration verified
//! against alice's key log, and may not register versions of her name.

mod common;

use common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn a_protocol_registered_listed_and_shown_verified() {
    let server = Server::start(0).await;
    let url = server.url();
    let (a, b) = (User::new("alice", &url), User::new("bob", &url));
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("review.json");
    std::fs::write(&schema, r#"{"type":"object","required":["title"]}"#).unwrap();
    let schema = schema.to_str().unwrap();
    let done = a.mcpmsg(&[
        "protocol",
        "register",
        "code_review",
        "1.0.0",
        "--schema",
        schema,
        "--tags",
        "ci",
        "--description",
        "a review request",
    ]);
    assert_eq!(done, "registered code_review@1.0.0; the name belongs to alice\n");
    a.mcpmsg(&["protocol", "register", "code_review", "1.1.0", "--schema", schema]);

    let listed = b.mcpmsg(&["protocol", "list", "--range", "^1"]);
    assert_eq!(
        listed,
        "code_review@1.0.0 [point_to_point] by alice: a review request\ncode_review@1.1.0 [point_to_point] by alice: \n"
    );
    let shown: Value = serde_json::from_str(&b.mcpmsg(&["protocol", "show", "code_review", "~1.0", "--json"])).unwrap();
    assert_eq!(shown["registration"]["version"], "1.0.0");
    assert_eq!(
        shown["registration"]["schema"],
        r#"{"type":"object","required":["title"]}"#
    );
    let text = b.mcpmsg(&["protocol", "show", "code_review"]);
    assert!(
        text.starts_with("code_review@1.1.0 verified: registered by alice"),
        "{text}"
    );

    let err = b.mcpmsg_fails(&["protocol", "register", "code_review", "2.0.0", "--schema", schema]);
    assert!(err.contains("not_owner"), "{err}");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"type": 7}"#).unwrap();
    let err = a.mcpmsg_fails(&[
        "protocol",
        "register",
        "code_review",
        "2.0.0",
        "--schema",
        bad.to_str().unwrap(),
    ]);
    assert!(err.contains("invalid_schema"), "{err}");
    // Declarations and negotiation.
    a.mcpmsg(&["protocol", "register", "code_review", "2.0.0", "--schema", schema]);
    let d = a.mcpmsg(&[
        "declare",
        "--tags",
        "ci,review",
        "--protocols",
        "code_review@1.0.0,code_review@1.1.0",
    ]);
    assert_eq!(
        d,
        "declared tags ci, review; protocols code_review@1.0.0, code_review@1.1.0\n"
    );
    b.mcpmsg(&[
        "declare",
        "--tags",
        "review",
        "--protocols",
        "code_review@1.0.0,code_review@2.0.0",
    ]);
    let n = b.mcpmsg(&["negotiate", "alice"]);
    assert_eq!(n, "code_review: use 1.0.0\ntags in common: review\n");
    let err = b.mcpmsg_fails(&["declare", "--protocols", "code_review@7.0.0"]);
    assert!(err.contains("unknown_protocol"), "{err}");
    let err = b.mcpmsg_fails(&["protocol", "show", "nothing_here"]);
    assert!(err.contains("unknown_protocol"), "{err}");
    server.stop().await;
}
