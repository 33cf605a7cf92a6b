//! Sealed messages across implementations: what `mcpmsg send` seals opens
//! with the independent HPKE of tests/independent/check_v1.py, and what the
//! independent sender seals opens, verified, in `mcpmsg recv --json` and in
//! the bridge. Needs python3 with tests/independent/requirements.txt.

use std::process::{Command, Stdio};

use clap::Parser;
use mcpmsg_core::crypto::b64;
use mcpmsg_core::keyfile::KeyFile;
use mcpmsg_core::protocol::{new_nonce, now_ms, sign_input};
use mcpmsg_server::config::ServerArgs;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::ServiceExt;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

const MCPMSG: &str = env!("CARGO_BIN_EXE_mcpmsg");
const INDEPENDENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/independent");

fn mcpmsg(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(MCPMSG)
        .arg("--config")
        .arg(dir.join("mcp_recipients.json"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(dir: &std::path::Path, args: &[&str]) -> String {
    let out = mcpmsg(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(format!("{INDEPENDENT}/{script}"))
        .args(args)
        .output()
        .expect("python3 is needed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named"),
        "python3 -m pip install -r tests/independent/requirements.txt\n{stderr}"
    );
    assert!(
        out.status.success(),
        "{script} {args:?}: {}{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sealed_messages_interoperate_with_an_independent_implementation() {
    let config = ServerArgs::parse_from(["mcpmsg-server", "--port", "0"])
        .validate()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(mcpmsg_server::server::run(listener, config, shutdown.clone()));

    let (alice, bob) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for (d, id) in [(&alice, "alice"), (&bob, "bob")] {
        ok(d.path(), &["init", "--id", id, "--server", &url]);
        ok(d.path(), &["checkin"]);
    }
    ok(alice.path(), &["recipients", "add", "bob"]);

    // 1. mcpmsg seals; the independent HPKE opens with bob's secret.
    ok(alice.path(), &["send", "bob", "sealed by mcpmsg ✓"]);
    let keys = KeyFile::decode(&std::fs::read_to_string(bob.path().join("bob.key")).unwrap(), None).unwrap();
    let sk = keys.signing.as_ref().unwrap();
    let (kid, ts, nonce) = (sk.public().kid(), now_ms().to_string(), new_nonce());
    let sig = b64::encode(&sk.sign(&sign_input("get", &["bob", "", "", "", &kid, &ts, &nonce])));
    let client = ().serve(StreamableHttpClientTransport::from_uri(url.clone())).await.unwrap();
    let args = json!({"client_id": "bob", "key_id": kid, "ts": ts, "nonce": nonce, "sig": sig});
    let Value::Object(map) = args else { unreachable!() };
    let got = client
        .call_tool(CallToolRequestParams::new("get_messages").with_arguments(map))
        .await
        .unwrap();
    let delivered = got.structured_content.unwrap()["messages"][0].clone();
    let secret = hex(keys.sealing.as_ref().unwrap().to_bytes().as_ref());
    assert_eq!(
        python("check_v1.py", &["open", &secret, &delivered.to_string()]),
        "sealed by mcpmsg ✓\n"
    );

    // 2. The independent sender seals and signs; mcpmsg and the bridge open and verify.
    let kel = bob.path().join("py-sender.kel.json");
    let ids = python(
        "send_sealed.py",
        &[
            &url,
            "py-sender",
            "bob",
            kel.to_str().unwrap(),
            "sealed in python ✓",
            "and a second one",
        ],
    );
    assert_eq!(ids.lines().count(), 2);
    ok(
        bob.path(),
        &["recipients", "add", "py-sender", "--kel", kel.to_str().unwrap()],
    );
    let out = ok(bob.path(), &["recv", "--json", "--max", "1"]);
    let got: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(got[0]["from"], "py-sender");
    assert_eq!(got[0]["verified"], true, "{got}");
    assert_eq!(got[0]["sealed"], true);
    assert_eq!(got[0]["text"], "sealed in python ✓");

    let mut cmd = tokio::process::Command::new(MCPMSG);
    cmd.arg("--config")
        .arg(bob.path().join("mcp_recipients.json"))
        .arg("bridge");
    let (transport, _) = TokioChildProcess::builder(cmd).stderr(Stdio::null()).spawn().unwrap();
    let bridge = ().serve(transport).await.unwrap();
    let r = bridge
        .call_tool(CallToolRequestParams::new("get_messages").with_arguments(serde_json::Map::new()))
        .await
        .unwrap();
    let m = r.structured_content.unwrap()["messages"][0].clone();
    assert_eq!(
        (m["from"].clone(), m["verified"].clone(), m["text"].clone()),
        (json!("py-sender"), json!(true), json!("and a second one"))
    );

    shutdown.cancel();
    server.await.unwrap().unwrap();
}
