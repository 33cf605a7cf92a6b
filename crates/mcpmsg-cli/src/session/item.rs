//! One received item and what checking it found, as the shell prints it
//! and the bridge hands it to a model.

use mcpmsg_core::inbox::{Delivered, Opened};
use mcpmsg_core::protocol::escape_inline;
use serde_json::{json, Value};

use super::typed::Typed;

/// One received message and what checking it found. For a verified item
/// every member was checked; for a rejected one they are the server's
/// unchecked words, escaped so they cannot pose as anything.
#[derive(Debug, Clone)]
pub struct Item {
    pub message_id: String,
    pub from: String,
    pub received_at: u64,
    pub in_reply_to: String,
    pub verdict: Result<Opened, String>,
    /// For a server event: its type (PROTOCOL §14).
    pub event: Option<String>,
    /// For a room message: its room (PROTOCOL §15).
    pub room: Option<String>,
    /// For a verified server event: its data, as signed.
    pub event_data: Option<std::collections::BTreeMap<String, String>>,
    /// For a broadcast (PROTOCOL §18e): the filter it was sent to, as signed.
    pub broadcast: Option<String>,
    /// For a verified typed message (PROTOCOL §18d): how it reads in the
    /// versions this identity speaks.
    pub typed: Option<Typed>,
}

impl Item {
    /// A rejected item: the claimed members escaped for one line, and cut.
    pub(super) fn rejected(m: &Delivered, why: String) -> Self {
        Self {
            message_id: escape_inline(&m.message_id, 24),
            from: escape_inline(&m.sender_id, 64),
            received_at: m.received_at.parse().unwrap_or(0),
            in_reply_to: escape_inline(&m.in_reply_to, 24),
            verdict: Err(escape_inline(&why, 300)),
            event: None,
            room: None,
            event_data: None,
            broadcast: None,
            typed: None,
        }
    }

    /// The server's id for this item, to acknowledge it.
    pub fn ack_id(&self) -> &str {
        &self.message_id
    }

    pub fn json(&self) -> Value {
        let mut v = json!({"message_id": self.message_id, "from": self.from, "received_at": self.received_at.to_string(), "in_reply_to": self.in_reply_to});
        if let Some(event) = &self.event {
            v["event"] = json!(event);
        }
        if let Some(room) = &self.room {
            v["room_id"] = json!(room);
        }
        if let Some(data) = &self.event_data {
            v["data"] = json!(data);
        }
        if let Some(to) = &self.broadcast {
            v["broadcast"] = json!(to);
        }
        if let Some(t) = &self.typed {
            t.add_to(&mut v);
        }
        match &self.verdict {
            Ok(o) => {
                v["verified"] = json!(true);
                v["sealed"] = json!(o.sealed);
                v["text"] = json!(o.text);
            }
            Err(why) => {
                v["verified"] = json!(false);
                v["rejected"] = json!(why);
            }
        }
        v
    }
}
