//! The bridge's own tools, as the IDE's model sees them: one typed
//! definition each (arguments parsed from and schema derived from the same
//! type), so the schema a model reads and what the bridge accepts cannot
//! drift apart. Unknown members are ignored, not refused: a model that adds
//! one should still get its message sent.

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Deserialize;

pub(super) const KEYS: &str =
    "The bridge signs, seals, verifies and opens on this machine; you never see or handle keys.";

/// `send_message`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct SendArgs {
    /// The recipient's client id, as list_recipients shows it (the keys of
    /// `recipients` in mcp_recipients.json).
    pub recipient_id: String,
    /// The message, as markdown text.
    pub message: String,
    /// The message id this answers (from get_messages), if any.
    #[serde(default)]
    pub in_reply_to: Option<String>,
    /// Seal end to end (default true when the recipient has a sealing key).
    #[serde(default)]
    pub seal: Option<bool>,
}

/// `send_message_and_wait`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct SendAndWaitArgs {
    /// What to send.
    #[serde(flatten)]
    pub send: SendArgs,
    /// Seconds to wait for the answer (default 45, at most 50).
    #[serde(default)]
    #[schemars(range(max = 50))]
    pub timeout_s: Option<u64>,
}

/// `get_messages`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct GetArgs {
    /// Seconds to wait for a first message (default 0, at most 50).
    #[serde(default)]
    #[schemars(range(max = 50))]
    pub wait_s: Option<u64>,
}

/// Tools that take no arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct NoArgs {}

/// Most seconds a bridge tool waits (IDEs time calls out at 60 s).
pub(super) const MAX_WAIT_S: u64 = 50;

/// Parses a tool's arguments, naming the member at fault.
pub(super) fn parse<T: DeserializeOwned>(args: &JsonObject) -> Result<T, String> {
    mcpmsg_core::protocol::tools::parse_json(serde_json::Value::Object(args.clone())).map_err(|e| e.0)
}

/// A wait in seconds within its bound.
pub(super) fn wait_within(name: &str, v: Option<u64>, default: u64) -> Result<u64, String> {
    match v {
        Some(n) if n > MAX_WAIT_S => Err(format!("{name}: an integer from 0 to {MAX_WAIT_S}")),
        Some(n) => Ok(n),
        None => Ok(default),
    }
}

pub(super) fn tool<T: JsonSchema + 'static>(name: &'static str, description: String) -> Tool {
    let schema = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
    let mut object: JsonObject = match serde_json::to_value(schema) {
        Ok(serde_json::Value::Object(o)) => o,
        _ => unreachable!("an object's schema is an object"),
    };
    object.remove("title");
    object.remove("description");
    object.remove("$schema");
    Tool::new(name, description, Arc::new(object))
}

/// Every tool of the bridge.
pub(super) fn all() -> Vec<Tool> {
    vec![
        tool::<SendArgs>("send_message", format!("Send a message to a pinned recipient. Sealed end to end by default, so the server cannot read it. {KEYS}")),
        tool::<SendAndWaitArgs>("send_message_and_wait", format!("Send a sealed message and wait up to timeout_s for the recipient's answer. A timeout is reported plainly. {KEYS}")),
        tool::<GetArgs>("get_messages", format!("Read your messages. Each is checked against its sender's pinned keys; a message that fails any check is shown as REJECTED with the reason and its content withheld. {KEYS}")),
        tool::<NoArgs>("get_my_identity", "Who you are here: your client id and fingerprint, and the recipients you can message, with names and descriptions.".into()),
        tool::<NoArgs>("list_recipients", "The recipients you can message (pinned in mcp_recipients.json), with names and descriptions.".into()),
        tool::<NoArgs>("checkin", "Announce this client to the server (registers it if the server does not know it).".into()),
    ]
    .into_iter()
    .chain(super::rooms::all())
    .chain(super::protocols::all())
    .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn schemas_and_parsing_come_from_one_type() {
        let send = all().into_iter().find(|t| t.name == "send_message").unwrap();
        let props = &send.input_schema["properties"];
        assert!(props["recipient_id"]["description"]
            .as_str()
            .unwrap()
            .contains("list_recipients"));
        assert_eq!(send.input_schema["required"], json!(["recipient_id", "message"]));
        let wait = all().into_iter().find(|t| t.name == "send_message_and_wait").unwrap();
        assert_eq!(wait.input_schema["properties"]["timeout_s"]["maximum"], json!(50));
        assert!(
            wait.input_schema["properties"]["recipient_id"].is_object(),
            "the send's members are flattened in"
        );

        let Ok(serde_json::Value::Object(ok)) =
            serde_json::to_value(json!({"recipient_id": "bob", "message": "hi", "seal": false, "extra": 1}))
        else {
            unreachable!()
        };
        let a: SendArgs = parse(&ok).unwrap();
        assert_eq!((a.recipient_id.as_str(), a.seal), ("bob", Some(false)));
        let serde_json::Value::Object(bad) = json!({"recipient_id": "bob", "message": 5}) else {
            unreachable!()
        };
        assert_eq!(parse::<SendArgs>(&bad).unwrap_err(), "message: expected a string");
        let serde_json::Value::Object(missing) = json!({"message": "hi"}) else {
            unreachable!()
        };
        assert_eq!(parse::<SendArgs>(&missing).unwrap_err(), "recipient_id: required");
        assert_eq!(
            wait_within("wait_s", Some(51), 0).unwrap_err(),
            "wait_s: an integer from 0 to 50"
        );
    }
}
