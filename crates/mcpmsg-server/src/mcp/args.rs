//! Typed access to a tool's arguments, parsed by hand from the JSON
//! object rather than through typed `Parameters<T>`: a wrong type or an
//! unknown argument must come back as an `isError` result with
//! `[invalid_argument]` naming the field (PROTOCOL §7), not as an opaque
//! JSON-RPC error.

use rmcp::model::JsonObject;
use serde_json::Value;

use crate::broker::Refusal;
use mcpmsg_core::protocol::kel::Event;
use mcpmsg_core::protocol::SendMessage;

/// Typed access to a tool's arguments.
pub(super) struct Args {
    map: JsonObject,
}

impl Args {
    pub(super) fn new(map: JsonObject, allowed: &[&str]) -> Result<Self, Refusal> {
        if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            let takes = if allowed.is_empty() {
                "this tool takes no arguments".to_owned()
            } else {
                format!("this tool takes {}", allowed.join(", "))
            };
            return Err(Refusal::invalid(format!(
                "unknown argument {:?}; {takes}",
                mcpmsg_core::protocol::escape_inline(k, 64)
            )));
        }
        Ok(Self { map })
    }

    /// An optional string, moved out of the arguments (a message body is
    /// not copied); JSON `null` counts as absent.
    pub(super) fn opt(&mut self, name: &str) -> Result<Option<String>, Refusal> {
        match self.map.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Refusal::invalid(format!("{name}: expected a string"))),
        }
    }

    pub(super) fn req(&mut self, name: &str) -> Result<String, Refusal> {
        self.opt(name)?
            .ok_or_else(|| Refusal::invalid(format!("{name}: required")))
    }

    pub(super) fn opt_u64(&self, name: &str) -> Result<Option<u64>, Refusal> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| Refusal::invalid(format!("{name}: expected a non-negative integer"))),
        }
    }

    pub(super) fn event(&mut self, name: &str) -> Result<Event, Refusal> {
        let v = self
            .map
            .remove(name)
            .ok_or_else(|| Refusal::invalid(format!("{name}: required")))?;
        serde_json::from_value(v).map_err(|e| Refusal::invalid(format!("{name}: not a key event (PROTOCOL §3): {e}")))
    }

    pub(super) fn events(&mut self, name: &str) -> Result<Option<Vec<Event>>, Refusal> {
        match self.map.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v)
                .map(Some)
                .map_err(|e| Refusal::invalid(format!("{name}: not an array of key events (PROTOCOL §3): {e}"))),
        }
    }

    pub(super) fn send(&mut self) -> Result<SendMessage, Refusal> {
        Ok(SendMessage {
            sender_id: self.req("sender_id")?,
            recipient_id: self.req("recipient_id")?,
            message: self.req("message")?,
            content_type: self.opt("content_type")?,
            in_reply_to: self.opt("in_reply_to")?,
            key_id: self.req("key_id")?,
            ts: self.req("ts")?,
            nonce: self.req("nonce")?,
            sig: self.req("sig")?,
        })
    }
}

pub(super) const AUTH: [&str; 4] = ["key_id", "ts", "nonce", "sig"];
pub(super) const SEND: [&str; 9] = [
    "sender_id",
    "recipient_id",
    "message",
    "content_type",
    "in_reply_to",
    "key_id",
    "ts",
    "nonce",
    "sig",
];

pub(super) fn with_auth(names: &[&'static str]) -> Vec<&'static str> {
    names.iter().copied().chain(AUTH).collect()
}
