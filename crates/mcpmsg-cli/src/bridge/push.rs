//! The bridge's push to the IDE (PROTOCOL §13, DESIGN "Push"): one
//! long-poll to the server in the background that leases what arrives,
//! verifies it at once, keeps it for the model's next `get_messages`, and
//! tells the IDE, so that an idle session wakes:
//!
//! - `notifications/claude/channel` (the bridge declares the experimental
//!   capability `claude/channel`), content a short verified summary and the
//!   instruction to call `get_messages`, meta: event, sender, message id;
//! - `notifications/resources/updated` for the bridge's own inbox resource,
//!   when the IDE subscribed to it;
//! - a log line on stderr.
//!
//! Nothing is acknowledged here: items stay leased on the server until the
//! model has fetched them, so a bridge that dies loses nothing (the leases
//! end and the items come back). A push says only "look now".

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{CustomNotification, ResourceUpdatedNotificationParam, ServerNotification};
use rmcp::{Peer, RoleServer};
use serde_json::json;
use tokio::sync::Mutex;

use crate::session::{Item, Received, Session, Signal};

/// The URI of the bridge's own inbox resource.
pub const INBOX_URI: &str = "mcpmsg-bridge://inbox";

/// Items held for the model at most; beyond it the long-poll pauses until
/// the model fetches (the rest stay queued on the server).
const MAX_PENDING: usize = 100;

/// What to tell the IDE when something arrives (each can be turned off).
#[derive(Debug, Clone, Copy)]
pub struct PushSettings {
    /// Send `notifications/claude/channel`.
    pub channel: bool,
    /// Send `notifications/resources/updated` for the inbox resource.
    pub resource: bool,
    /// Write a log line.
    pub log: bool,
}

/// Message ids handed to the model that are remembered, so that one
/// leased again before its acknowledgement landed is not shown twice.
const HANDED_REMEMBERED: usize = 1000;

/// Verified items leased for the model, the ids lately handed on, and
/// whether the IDE subscribed to the inbox resource.
#[derive(Default)]
pub struct Pending {
    received: Mutex<Received>,
    handed: std::sync::Mutex<std::collections::VecDeque<String>>,
    subscribed: AtomicBool,
    /// The background read has items from the server it is still checking.
    landing: AtomicBool,
    /// Rung when such items were added (or turned out to be none).
    landed: tokio::sync::Notify,
    /// When the background read last asked the server.
    fetch_started: std::sync::Mutex<Option<tokio::time::Instant>>,
}

impl Pending {
    /// Takes everything held for the model; from now on these count as
    /// handed on.
    pub async fn take(&self) -> Received {
        let mut got = std::mem::take(&mut *self.received.lock().await);
        // A read in flight while the model fetched may have put back an
        // item it was just given: never show one twice.
        self.drop_handed(&mut got);
        self.handed_on(&got);
        got
    }

    /// Remembers what was handed to the model.
    pub fn handed_on(&self, got: &Received) {
        let mut handed = self.handed.lock().unwrap_or_else(|p| p.into_inner());
        for item in &got.items {
            handed.push_back(item.message_id.clone());
        }
        while handed.len() > HANDED_REMEMBERED {
            handed.pop_front();
        }
    }

    /// Moves items already handed on to the duplicates (to acknowledge,
    /// never to show again).
    pub fn drop_handed(&self, got: &mut Received) {
        let handed = self.handed.lock().unwrap_or_else(|p| p.into_inner());
        let (again, fresh): (Vec<Item>, Vec<Item>) = std::mem::take(&mut got.items)
            .into_iter()
            .partition(|i| handed.contains(&i.message_id));
        got.items = fresh;
        got.duplicates.extend(again.into_iter().map(|i| i.message_id));
    }

    /// Waits (up to 10 s) for items the background read has leased but is
    /// still checking: a model that reads just then must not be told "no
    /// messages" while they are on their way to it.
    pub async fn settle(&self) {
        let landed = self.landed.notified();
        tokio::pin!(landed);
        landed.as_mut().enable();
        if self.landing.load(Ordering::Acquire) {
            let _ = tokio::time::timeout(Duration::from_secs(10), landed).await;
        }
    }

    /// After the model's own read found nothing: a background read that
    /// asked the server a moment ago may have been handed the items just
    /// before (a server answers at once when the queue is not empty), and
    /// its answer may still be on the wire. Wait for it, up to a second
    /// after it asked.
    pub async fn settle_recent(&self) {
        const RECENT: Duration = Duration::from_secs(1);
        let landed = self.landed.notified();
        tokio::pin!(landed);
        landed.as_mut().enable();
        let started = *self.fetch_started.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(left) = started.and_then(|t| RECENT.checked_sub(t.elapsed())) {
            let _ = tokio::time::timeout(left, landed).await;
        }
        self.settle().await;
    }

    /// Waits up to `secs` for the background read to land something.
    pub async fn wait_for_items(&self, secs: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let landed = self.landed.notified();
            tokio::pin!(landed);
            landed.as_mut().enable();
            if self.len().await > 0 || tokio::time::timeout_at(deadline, landed).await.is_err() {
                return;
            }
        }
    }

    /// The IDE subscribed to (or unsubscribed from) the inbox resource.
    pub fn set_subscribed(&self, on: bool) {
        self.subscribed.store(on, Ordering::Relaxed);
    }

    async fn len(&self) -> usize {
        self.received.lock().await.items.len()
    }

    /// How many verified items wait for the model.
    pub async fn held(&self) -> usize {
        let r = self.received.lock().await;
        r.items.iter().filter(|i| i.verdict.is_ok()).count()
    }
}

/// Runs the long-poll until the IDE goes away.
pub async fn watch(session: Arc<Session>, pending: Arc<Pending>, peer: Peer<RoleServer>, settings: PushSettings) {
    let mut backoff = Duration::from_millis(500);
    loop {
        if pending.len().await >= MAX_PENDING {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        *pending.fetch_started.lock().unwrap_or_else(|p| p.into_inner()) = Some(tokio::time::Instant::now());
        let raw = match session.fetch(45, 50).await {
            Ok(raw) => {
                backoff = Duration::from_millis(500);
                raw
            }
            Err(e) => {
                tracing::debug!(error = %e, "background read failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        let leased = raw["messages"].as_array().is_some_and(|m| !m.is_empty());
        pending.landing.store(leased, Ordering::Release);
        let mut got = session.judge(&raw).await;
        pending.drop_handed(&mut got);
        let fresh: Vec<Item> = got.items.clone();
        let signals = got.signals.clone();
        pending.received.lock().await.merge(got);
        pending.landing.store(false, Ordering::Release);
        pending.landed.notify_waiters();
        for item in &fresh {
            if !announce(&peer, item, &pending, settings).await {
                return; // the IDE went away
            }
        }
        for s in &signals {
            if !announce_signal(&peer, s, settings).await {
                return;
            }
        }
    }
}

/// Tells the IDE a member is typing (or stopped): a channel event only; it
/// is shown with the next get_messages while it lasts.
async fn announce_signal(peer: &Peer<RoleServer>, s: &Signal, settings: PushSettings) -> bool {
    if !settings.channel {
        return true;
    }
    let params = json!({
        "content": format!("{} (verified).", s.line()),
        "meta": {"event": "typing", "sender": s.from, "room_id": s.room_id, "signal": s.signal},
    });
    let note = CustomNotification::new("notifications/claude/channel", Some(params));
    peer.send_notification(ServerNotification::CustomNotification(note))
        .await
        .is_ok()
}

/// Tells the IDE about one item; false when the IDE is gone.
async fn announce(peer: &Peer<RoleServer>, item: &Item, pending: &Pending, settings: PushSettings) -> bool {
    let verified = item.verdict.is_ok();
    if settings.log {
        match &item.verdict {
            Ok(_) => {
                tracing::info!(from = %item.from, message_id = %item.message_id, "a verified message arrived; held for get_messages")
            }
            Err(why) => {
                tracing::warn!(claimed_from = %item.from, message_id = %item.message_id, %why, "a message failed its checks; it will be shown as REJECTED")
            }
        }
    }
    // Only what verified is announced to the model as a message; a
    // rejected item waits in get_messages, marked.
    if settings.channel && verified {
        let sealed = matches!(&item.verdict, Ok(o) if o.sealed);
        let (content, event) = match &item.event {
            Some(event) => (
                format!("The server reports `{event}` (verified against its pinned key). Call the get_messages tool of mcpmsg to read it."),
                event.as_str(),
            ),
            None => (
                format!(
                    "A verified message from `{}`{} arrived{}. Call the get_messages tool of mcpmsg to read it.",
                    item.from,
                    item.room.as_ref().map_or(String::new(), |r| format!(" in room `{r}`")),
                    if sealed { " (sealed end to end)" } else { "" }
                ),
                "message.received",
            ),
        };
        let mut meta = json!({"event": event, "sender": item.from, "message_id": item.message_id});
        if let Some(room) = &item.room {
            meta["room_id"] = json!(room);
        }
        let params = json!({"content": content, "meta": meta});
        let note = CustomNotification::new("notifications/claude/channel", Some(params));
        if peer
            .send_notification(ServerNotification::CustomNotification(note))
            .await
            .is_err()
        {
            return false;
        }
    }
    if settings.resource && pending.subscribed.load(Ordering::Relaxed) {
        let update = ResourceUpdatedNotificationParam::new(INBOX_URI);
        if peer.notify_resource_updated(update).await.is_err() {
            return false;
        }
    }
    true
}

/// The bridge's send-and-wait: sends, then looks for the answer among what
/// the background read holds and what a short read of its own finds (the
/// two share the inbox, so either may lease the answer first). The answer
/// is handed on and acknowledged; everything else waits for get_messages.
pub async fn send_and_wait(
    m: &Session,
    pending: &Pending,
    to: &str,
    text: &str,
    reply_to: Option<&str>,
    seal: Option<bool>,
    timeout_s: u64,
) -> anyhow::Result<(mcpmsg_core::protocol::tools::SendResult, bool, Option<Item>)> {
    let (sent, sealed) = m.send(to, text, reply_to, seal).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout_s);
    loop {
        let left = deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .as_secs();
        let mut got = std::mem::take(&mut *pending.received.lock().await);
        match m.receive(left.min(1), 100).await {
            Ok(mut more) => {
                pending.drop_handed(&mut more);
                got.merge(more);
            }
            Err(e) => {
                pending.received.lock().await.merge(got);
                return Err(e.into());
            }
        }
        let answer = got.take_answer(to, &sent.message_id);
        pending.received.lock().await.merge(got);
        if let Some(answer) = answer {
            pending.handed_on(&answer);
            m.handed_on(&answer).await.map_err(|e| anyhow::anyhow!(e))?;
            return Ok((sent, sealed, answer.items.into_iter().next()));
        }
        if left == 0 {
            return Ok((sent, sealed, None));
        }
    }
}
