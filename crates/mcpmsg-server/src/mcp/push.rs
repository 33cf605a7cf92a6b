//! Push (PROTOCOL §13): each client's inbox as an MCP resource, and
//! `notifications/resources/updated` for it through `subscriptions/listen`
//! (2026-07-28). A notification is a poke: it says "look now" and carries
//! nothing; the queue is the truth.
//!
//! Behind a load balancer: a listen is one long HTTP response held by
//! whichever node took it; that node is woken by the store's doorbell when
//! a send lands through any node, so no stickiness is needed. A dropped
//! connection ends the subscription; the client listens again (and reads
//! its queue, since pokes may have been missed meanwhile).

use futures_util::future::join_all;
use rmcp::model::{ReadResourceResult, ResourceContents, SubscriptionFilter};
use rmcp::service::SubscriptionContext;
use rmcp::ErrorData;
use tokio_util::sync::CancellationToken;

use super::McpServer;

impl McpServer {
    /// `resources/read` of an inbox: how many items wait (nothing is
    /// taken). An unknown URI or a wrong token is "not found", the same
    /// answer, so the answer does not tell which.
    pub(super) async fn read_inbox(&self, uri: &str) -> Result<ReadResourceResult, ErrorData> {
        let not_found = || ErrorData::resource_not_found("no such resource", None);
        let client_id = self.broker.inbox_owner(uri).ok_or_else(not_found)?;
        let queued = self
            .broker
            .inbox_len(&client_id)
            .await
            .map_err(|r| ErrorData::internal_error(r.message, None))?;
        let text = serde_json::json!({"client_id": client_id, "queued": queued}).to_string();
        Ok(ReadResourceResult::new(vec![ResourceContents::TextResourceContents {
            uri: uri.to_owned(),
            mime_type: Some("application/json".into()),
            text,
            meta: None,
        }]))
    }

    /// The inbox URIs of a `subscriptions/listen` request this server will
    /// notify about: those whose token is right. Nothing else is offered.
    pub(super) fn accepted_inboxes(&self, requested: &SubscriptionFilter) -> SubscriptionFilter {
        let uris: Vec<String> = requested
            .resource_subscriptions
            .iter()
            .flatten()
            .filter(|u| self.broker.inbox_owner(u).is_some())
            .cloned()
            .collect();
        let mut accepted = SubscriptionFilter::new();
        accepted.resource_subscriptions = Some(uris);
        accepted
    }

    /// Runs one subscription: a watch per accepted inbox, each poking its
    /// URI when an item lands, until the client goes away or the server
    /// stops.
    pub(super) async fn listen_inboxes(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let uris = context.accepted().resource_subscriptions.clone().unwrap_or_default();
        let stop = CancellationToken::new();
        let watches = uris.iter().filter_map(|uri| {
            let client_id = self.broker.inbox_owner(uri)?;
            let (sink, stop) = (context.sink().clone(), stop.clone());
            Some(async move {
                let poke = || {
                    let sink = sink.clone();
                    async move { sink.notify_resource_updated(uri.clone()).await.is_ok() }
                };
                if let Err(r) = self.broker.watch_inbox(&client_id, stop, poke).await {
                    tracing::info!(client_id, code = r.code.as_str(), "inbox watch refused");
                }
            })
        });
        let all = join_all(watches);
        tokio::select! {
            _ = all => {}
            _ = context.cancelled() => stop.cancel(),
        }
        Ok(())
    }
}

/// Most `resources/subscribe` subscriptions one session may hold.
pub(super) const MAX_SESSION_SUBSCRIPTIONS: usize = 16;

/// The `resources/subscribe` subscriptions of one session (2025-11-25,
/// `--sessions`): each watched inbox has a task poking the session's GET
/// stream, stopped by `resources/unsubscribe` or when the session ends
/// (this is dropped with the session's handler).
#[derive(Default)]
pub(super) struct SessionSubscriptions {
    watches: std::sync::Mutex<std::collections::HashMap<String, CancellationToken>>,
}

impl Drop for SessionSubscriptions {
    fn drop(&mut self) {
        for stop in self.watches.get_mut().unwrap_or_else(|p| p.into_inner()).values() {
            stop.cancel();
        }
    }
}

impl McpServer {
    /// `resources/subscribe` on a session. An inbox URI with the right
    /// token is watched; any other URI is accepted and never changes (the
    /// answer must not tell a guessed token from a wrong one). Without
    /// sessions there is no stream to push on: refused, pointing to
    /// `subscriptions/listen`.
    pub(super) fn subscribe_inbox(&self, uri: String, peer: rmcp::Peer<rmcp::RoleServer>) -> Result<(), ErrorData> {
        if !self.sessions {
            return Err(ErrorData::invalid_request(
                "this server runs without sessions (the operator's --sessions is off), so resources/subscribe has no stream to notify on: use subscriptions/listen (protocol 2026-07-28), or poll get_messages",
                None,
            ));
        }
        let mut watches = self.subscriptions.watches.lock().unwrap_or_else(|p| p.into_inner());
        if watches.contains_key(&uri) {
            return Ok(());
        }
        if watches.len() >= MAX_SESSION_SUBSCRIPTIONS {
            return Err(ErrorData::invalid_request(
                format!("a session may hold at most {MAX_SESSION_SUBSCRIPTIONS} subscriptions; unsubscribe first"),
                None,
            ));
        }
        let stop = CancellationToken::new();
        watches.insert(uri.clone(), stop.clone());
        let Some(client_id) = self.broker.inbox_owner(&uri) else {
            return Ok(());
        };
        let broker = self.broker.clone();
        tokio::spawn(async move {
            let poke = || {
                let (peer, uri) = (peer.clone(), uri.clone());
                async move {
                    let update = rmcp::model::ResourceUpdatedNotificationParam::new(uri);
                    peer.notify_resource_updated(update).await.is_ok()
                }
            };
            if let Err(r) = broker.watch_inbox(&client_id, stop, poke).await {
                tracing::info!(client_id, code = r.code.as_str(), "inbox watch refused");
            }
        });
        Ok(())
    }

    /// `resources/unsubscribe`: stops the watch, if there was one.
    pub(super) fn unsubscribe_inbox(&self, uri: &str) {
        let removed = self
            .subscriptions
            .watches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uri);
        if let Some(stop) = removed {
            stop.cancel();
        }
    }
}
