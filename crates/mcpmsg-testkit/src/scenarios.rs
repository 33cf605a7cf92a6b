//! Scenarios the server's tests run against several deployments (one
//! server, two Redis nodes): presence and push, with the clients that
//! observe them.

use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};

use crate::{Client, Ident};
use mcpmsg_core::protocol::tools::HeartbeatArgs;

/// Presence with `--idle-after 1 --offline-after 2`: signed calls through
/// `a` make `who` active as `b` sees it; silence makes it idle, then
/// offline; a heartbeat is refused like any signed call when replayed or
/// forged.
pub async fn presence_follows_signed_calls(a: &Client, b: &Client, who: &Ident) {
    let presence = |list: &Value| {
        let me = list["clients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["client_id"] == who.id.as_str())
            .cloned()
            .expect("listed");
        (me["presence"].as_str().unwrap().to_owned(), me["last_seen"].clone())
    };
    let heartbeat = || {
        who.signed(HeartbeatArgs {
            client_id: who.id.clone(),
            ..Default::default()
        })
    };
    let beat = heartbeat();
    let r = a.call("heartbeat", beat.clone()).await.ok();
    assert_eq!(r["presence"], "active");
    a.call("heartbeat", beat).await.refused("replay");
    let mut forged = heartbeat();
    forged["sig"] = json!("A".repeat(86));
    a.call("heartbeat", forged).await.refused("bad_signature");
    let (now, last_seen) = presence(&b.call("list_clients", json!({})).await.ok());
    assert_eq!(now, "active");
    // Another node may see a time up to the write interval (1 s here)
    // older: calls are written to the store at most once per interval.
    let at = |v: &Value| v.as_str().unwrap().parse::<u64>().unwrap();
    let (seen, beat_at) = (at(&last_seen), at(&r["last_seen"]));
    assert!(seen <= beat_at && beat_at - seen <= 1_000, "{seen} vs {beat_at}");
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    assert_eq!(presence(&b.call("list_clients", json!({})).await.ok()).0, "idle");
    a.call("heartbeat", heartbeat()).await.ok();
    assert_eq!(presence(&b.call("list_clients", json!({})).await.ok()).0, "active");
    tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
    assert_eq!(presence(&b.call("list_clients", json!({})).await.ok()).0, "offline");
}

/// The inbox URI of `who`, from its signed `get_inbox_uri` through `c`.
pub async fn inbox_uri(c: &Client, who: &Ident) -> String {
    let args = who.signed(mcpmsg_core::protocol::tools::GetInboxUriArgs {
        client_id: who.id.clone(),
        ..Default::default()
    });
    c.call("get_inbox_uri", args).await.ok()["uri"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Push (PROTOCOL §13): `bob` listens on `listener` (a 2026-07-28 client)
/// for its inbox; `alice` sends through `sender`; the poke arrives (it is
/// only a poke: the message is then read from the queue). A forged URI is
/// left out of the acknowledged filter. Returns how long the poke took.
pub async fn a_send_pokes_a_listener(
    listener: &Client,
    sender: &Client,
    alice: &Ident,
    bob: &Ident,
) -> std::time::Duration {
    use rmcp::model::{ServerNotification, SubscriptionFilter};
    let uri = inbox_uri(listener, bob).await;
    let forged = format!("mcpmsg://inbox/{}?token=AAAAAAAAAAAAAAAAAAAAAA", alice.id);
    let filter = SubscriptionFilter::builder()
        .resource_subscription(uri.clone())
        .resource_subscription(forged)
        .build();
    let mut sub = listener.svc.peer().listen(filter).await.expect("listen");
    assert_eq!(sub.acknowledged().resource_subscriptions, Some(vec![uri.clone()]));
    // Give the watch a moment to park before the send.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    sender.call("send_message", alice.send(&bob.id, "poke me")).await.ok();
    let poke = tokio::time::timeout(std::time::Duration::from_secs(5), sub.next())
        .await
        .expect("a poke within 5 s")
        .expect("the subscription stays open")
        .expect("a notification");
    let took = started.elapsed();
    match poke {
        ServerNotification::ResourceUpdatedNotification(n) => assert_eq!(n.params.uri, uri),
        other => panic!("expected resources/updated, got {other:?}"),
    }
    let msgs = listener.call("get_messages", bob.get(None, None, None)).await.ok();
    assert_eq!(msgs["messages"][0]["message"], "poke me");
    took
}

/// A 2025-11-25 session client that hands every `resources/updated` it
/// gets (on its session's GET stream) to a channel.
pub struct Pokes(tokio::sync::mpsc::UnboundedSender<String>);

impl rmcp::ClientHandler for Pokes {
    async fn on_resource_updated(
        &self,
        params: rmcp::model::ResourceUpdatedNotificationParam,
        _context: rmcp::service::NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(params.uri);
    }
}

/// A session client of `url` and the pokes it receives.
pub async fn session_client_with_pokes(
    url: &str,
) -> (
    RunningService<RoleClient, Pokes>,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let t = StreamableHttpClientTransport::from_uri(url.to_owned());
    (Pokes(tx).serve(t).await.expect("initialize"), rx)
}
