//! Events (PROTOCOL §14): what the server says on its own, signed with the
//! server key, delivered as items of the recipient's inbox.
//!
//! An event is stored exactly as a message is, in the same queue, so it is
//! leased, acknowledged, expired and counted the same way on every store
//! with no code of its own there: it is a queued item whose sender is the
//! empty string (no client can have that id), whose id and nonce are its
//! `event_id`, and whose body is the signed event object. The rendering
//! turns it back into `{"kind": "event", ...}`.

use std::collections::BTreeMap;

use mcpmsg_core::protocol::server_statement::{ServerEvent, MAX_EVENT_DATA};
use mcpmsg_core::protocol::{check_client_id, new_nonce, now_ms, ErrorCode};

use crate::store::{SendOutcome, SendStep, StoredMessage};

use super::{ms, Broker, Refusal};

/// The content type an event is queued under.
pub const EVENT_CONTENT_TYPE: &str = "application/mcpmsg-event";

/// The event a queued item carries, if it is one.
pub fn event_of(m: &StoredMessage) -> Option<ServerEvent> {
    if !m.sender_id.is_empty() || m.content_type != EVENT_CONTENT_TYPE {
        return None;
    }
    serde_json::from_str(&m.message).ok()
}

impl Broker {
    /// Queues event `event` with `data` for `recipient_id`, signed with the
    /// server key, and wakes its waiters and listeners. Refused like a send
    /// when the queue is full.
    pub async fn emit_event(
        &self,
        recipient_id: &str,
        event: &str,
        data: BTreeMap<String, String>,
    ) -> Result<ServerEvent, Refusal> {
        check_client_id("recipient_id", recipient_id)?;
        let (most, name_len, value_len) = MAX_EVENT_DATA;
        if data.len() > most || data.iter().any(|(k, v)| k.len() > name_len || v.len() > value_len) {
            return Err(Refusal::invalid(format!(
                "event data: at most {most} members, names of {name_len} and values of {value_len} bytes"
            )));
        }
        let now = now_ms();
        let expires = now.saturating_add(ms(self.config.message_ttl));
        let e = ServerEvent::sign(
            &self.server_key,
            event,
            &new_nonce(),
            recipient_id,
            (now, expires),
            data,
        );
        let stored = StoredMessage {
            message_id: e.event_id.clone(),
            sender_id: String::new(),
            recipient_id: recipient_id.to_owned(),
            content_type: EVENT_CONTENT_TYPE.to_owned(),
            in_reply_to: String::new(),
            message: serde_json::to_string(&e).expect("an event serialises"),
            key_id: e.server_kid.clone(),
            ts: e.at.clone(),
            nonce: e.event_id.clone(),
            sig: e.server_sig.clone(),
            received_at: now,
            expires_at: expires,
        };
        let step = SendStep::new(&stored, expires, self.queue_limits(), now);
        match self.store.send(step).await? {
            SendOutcome::Queued => {
                self.waiters.notify(recipient_id);
                Ok(e)
            }
            other => Err(Refusal::new(
                ErrorCode::QueueFull,
                format!("the inbox of {recipient_id} cannot take the event: {other:?}"),
            )),
        }
    }
}
