//! Part (e): push. A 2026-07-28 client listens (subscriptions/listen) on
//! its inbox at one node; sends go through another (or the same); the time
//! from each send to its `resources/updated` is recorded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use mcpmsg_core::protocol::tools::GetInboxUriArgs;
use mcpmsg_core::protocol::SignedArgs;
use rmcp::model::{ProtocolVersion, ServerNotification, SubscriptionFilter};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientLifecycleMode, ClientServiceExt};
use serde_json::{json, Value};

use crate::rpc::Rpc;
use crate::{pct, register, Args, Who};

/// Sends `a.push_sends` messages one at a time through `rpc` and times each
/// poke at a listener on `listen_url`.
pub(crate) async fn run(rpc: &Arc<Rpc>, listen_url: &str, a: &Args, tag: &str) -> Result<(Value, Vec<String>)> {
    let (alice, bob) = (Who::new(format!("bench-{tag}-pa")), Who::new(format!("bench-{tag}-pb")));
    register(rpc, &[&alice, &bob]).await?;
    let inbox = GetInboxUriArgs {
        client_id: bob.id.clone(),
        ..Default::default()
    }
    .signed_by(&bob.key);
    let uri = rpc.call(&inbox).await?.uri;
    let mode = ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    };
    let transport = StreamableHttpClientTransport::from_uri(listen_url.to_owned());
    let listener = ().serve_with_lifecycle(transport, mode).await.context("a 2026-07-28 listener")?;
    let filter = SubscriptionFilter::builder().resource_subscription(uri).build();
    let mut sub = listener.peer().listen(filter).await.context("subscriptions/listen")?;
    // The server starts watching just after it acknowledges: a send in
    // that moment is in the queue but pokes nobody (PROTOCOL §13).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut took = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    let mut lost = 0;
    for i in 0..a.push_sends {
        let send = alice.send(&bob.id, &format!("push {i}"));
        let started = Instant::now();
        rpc.call(&send).await?;
        match tokio::time::timeout(Duration::from_secs(5), sub.next()).await {
            Ok(Ok(Some(ServerNotification::ResourceUpdatedNotification(_)))) => {
                let _ = took.record(started.elapsed().as_micros().max(1) as u64);
            }
            _ => lost += 1,
        }
        // Keep bob's queue short; a read does not poke.
        if i % 100 == 99 {
            rpc.call(&bob.get("1000", "0")).await?;
        }
    }
    let v = json!({
        "sends": a.push_sends, "poked": took.len(), "lost": lost, "listen_url": listen_url,
        "send_to_poke_ms": {"p50": pct(&took, 0.5), "p99": pct(&took, 0.99), "max": pct(&took, 1.0)},
    });
    let lines = vec![format!(
        "{:<46}p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms ({} of {} poked)",
        "send-to-poke, subscriptions/listen",
        pct(&took, 0.5),
        pct(&took, 0.99),
        pct(&took, 1.0),
        took.len(),
        a.push_sends
    )];
    Ok((v, lines))
}
