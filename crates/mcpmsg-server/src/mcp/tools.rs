//! The ten tools of PROTOCOL §5 as MCP sees them: names, titles,
//! annotations, descriptions that tell a model what each argument is and
//! where it comes from, precise input schemas (patterns for ids, enums, no
//! unknown members), and output schemas for every `structuredContent`.
//!
//! Output schemas describe successful results (a refused call has
//! `isError: true` and `{"error": {...}}`, which clients do not check
//! against them) and allow members added later.

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{json, Map, Value};

const CLIENT_ID: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";
const KID: &str = "^[0-9a-f]{32}$";
const DECIMAL: &str = "^(0|[1-9][0-9]*)$";
const B64_16: &str = "^[A-Za-z0-9_-]{22}$";
const B64_64: &str = "^[A-Za-z0-9_-]{86}$";
const HEX_64: &str = "^[0-9a-f]{64}$";

const SIGNED: &str = "Signed: key_id, ts, nonce and sig are made with the caller's private key, which a model \
    does not hold; the `mcpmsg bridge` offers the same actions as plain tools and signs on the user's machine.";

fn s(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn pat(pattern: &str, description: &str) -> Value {
    json!({"type": "string", "pattern": pattern, "description": description})
}

fn one_of(values: &[&str], description: &str) -> Value {
    json!({"type": "string", "enum": values, "description": description})
}

fn object(props: Map<String, Value>, required: &[&str], closed: bool) -> Arc<JsonObject> {
    let mut obj = JsonObject::new();
    obj.insert("type".into(), "object".into());
    obj.insert("properties".into(), Value::Object(props));
    obj.insert("required".into(), json!(required));
    if closed {
        obj.insert("additionalProperties".into(), false.into());
    }
    Arc::new(obj)
}

fn props(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
}

/// An input schema: no members but these.
fn input(pairs: &[(&str, Value)], required: &[&str]) -> Arc<JsonObject> {
    object(props(pairs), required, true)
}

/// An input schema of a signed tool: `pairs` and the four auth members.
fn signed_input(pairs: &[(&str, Value)], required: &[&str]) -> Arc<JsonObject> {
    let mut p = props(pairs);
    p.insert(
        "key_id".into(),
        pat(
            KID,
            "Kid of the caller's current signing key: the first 32 hex characters of its fingerprint.",
        ),
    );
    p.insert(
        "ts".into(),
        pat(
            DECIMAL,
            "Request time, Unix milliseconds as a decimal string, within the server's skew window.",
        ),
    );
    p.insert(
        "nonce".into(),
        pat(B64_16, "base64url of 16 fresh random bytes, never reused."),
    );
    p.insert(
        "sig".into(),
        pat(
            B64_64,
            "base64url Ed25519 signature over this tool's signing input, made by the caller's key.",
        ),
    );
    let mut req = required.to_vec();
    req.extend(["key_id", "ts", "nonce", "sig"]);
    object(p, &req, true)
}

/// An output schema: these members at least.
fn output(pairs: &[(&str, Value)]) -> Arc<JsonObject> {
    let required: Vec<&str> = pairs.iter().map(|(k, _)| *k).collect();
    object(props(pairs), &required, false)
}

fn string() -> Value {
    json!({"type": "string"})
}

fn strings() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

fn event_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"type": {"type": "string", "enum": ["inception", "rotation", "revocation"]}},
        "required": ["type", "client_id", "seq", "prev", "ts", "sig"],
        "additionalProperties": {"type": "string"},
    })
}

fn delivered_schema() -> Value {
    let members = [
        "message_id",
        "sender_id",
        "recipient_id",
        "content_type",
        "in_reply_to",
        "message",
        "key_id",
        "ts",
        "nonce",
        "sig",
        "received_at",
        "expires_at",
    ];
    let p: Map<String, Value> = members.iter().map(|m| ((*m).to_owned(), string())).collect();
    json!({"type": "object", "properties": p, "required": members})
}

fn send_inputs() -> Vec<(&'static str, Value)> {
    vec![
        ("sender_id", pat(CLIENT_ID, "Your client_id (my_id in mcp_recipients.json).")),
        ("recipient_id", pat(CLIENT_ID, "The recipient's client_id: a key of `recipients` in mcp_recipients.json, or from list_clients.")),
        ("message", s("The message: markdown text, or, sealed end to end, base64url(enc || ct) of HPKE to the recipient's sealing key.")),
        ("content_type", s("MIME type; `text/markdown` when left out. Sealed: `application/mcpmsg-sealed; kid=<recipient sealing kid>`.")),
        ("in_reply_to", pat(B64_16, "The message_id this answers, if any.")),
    ]
}

fn annotations(title: &str, read_only: bool, destructive: bool, idempotent: bool) -> ToolAnnotations {
    ToolAnnotations::with_title(title)
        .read_only(read_only)
        .destructive(destructive)
        .idempotent(idempotent)
        .open_world(false)
}

fn tool(
    name: &'static str,
    title: &str,
    description: String,
    input: Arc<JsonObject>,
    output: Arc<JsonObject>,
    hints: ToolAnnotations,
) -> Tool {
    Tool::new(name, description, input)
        .with_title(title)
        .with_raw_output_schema(output)
        .with_annotations(hints)
}

/// The tool names, in the order of [`all`].
pub const NAMES: [&str; 10] = [
    "checkin_client",
    "send_message",
    "send_message_and_wait",
    "get_messages",
    "ack_messages",
    "rotate_key",
    "revoke_key",
    "get_client_keys",
    "list_clients",
    "get_my_identity",
];

/// Tools anyone may call: they count against the caller's address.
pub fn is_anonymous(name: &str) -> bool {
    matches!(name, "get_client_keys" | "list_clients" | "get_my_identity")
}

/// Every tool, in the order PROTOCOL §5 lists them.
pub fn all() -> Vec<Tool> {
    let mut wait_inputs = send_inputs();
    wait_inputs.push(("timeout_s", json!({"type": "integer", "minimum": 0, "maximum": 50, "description": "Seconds to wait for the reply (default 45, at most 50)."})));
    let sent = || {
        output(&[
            ("message_id", string()),
            ("duplicate", json!({"type": "boolean"})),
            ("received_at", string()),
            ("expires_at", string()),
        ])
    };
    let kel_update = || {
        output(&[
            ("client_id", string()),
            ("kel_seq", string()),
            ("kel_head", pat(HEX_64, "")),
            ("accepted_at", string()),
        ])
    };
    let status = one_of(&["active", "suspended", "revoked"], "");
    vec![
        tool(
            "checkin_client",
            "Check in",
            format!("Register this client, or announce that it is online. The first check-in must include `kel`, the full key event log, to register the identity; later ones may include it to push key events made offline. {SIGNED}"),
            signed_input(
                &[
                    ("client_id", pat(CLIENT_ID, "Your client_id (my_id in mcp_recipients.json).")),
                    ("name", s("A display name for this client, e.g. \"Alice's Claude Code\": at most 64 printable characters.")),
                    ("capabilities", s("What this client can do or is working on: at most 512 printable characters.")),
                    ("kel", json!({"type": "array", "items": event_schema(), "description": "Your full key event log, as `mcpmsg kel` prints it."})),
                ],
                &["client_id", "name", "capabilities"],
            ),
            output(&[
                ("client_id", string()),
                ("registered", json!({"type": "boolean"})),
                ("kel_seq", string()),
                ("kel_head", pat(HEX_64, "")),
            ]),
            annotations("Check in", false, false, true),
        ),
        tool(
            "send_message",
            "Send a message",
            format!("Queue a signed message for another client and return its message_id at once. A message not collected within the server's message lifetime expires. {SIGNED}"),
            signed_input(&send_inputs(), &["sender_id", "recipient_id", "message"]),
            sent(),
            annotations("Send a message", false, false, true),
        ),
        tool(
            "send_message_and_wait",
            "Send and wait for the answer",
            format!("Send a signed message, then wait up to timeout_s for the recipient's answer in your own queue, preferring a reply to this message, and remove it. A timeout is reported plainly, not as an error; a retried (duplicate) send does not wait. {SIGNED}"),
            signed_input(&wait_inputs, &["sender_id", "recipient_id", "message"]),
            output(&[
                ("message_id", string()),
                ("timed_out", json!({"type": "boolean"})),
                ("reply", json!({"anyOf": [delivered_schema(), {"type": "null"}]})),
            ]),
            annotations("Send and wait for the answer", false, false, false),
        ),
        tool(
            "get_messages",
            "Read messages",
            format!("Collect messages sent to you, oldest first, optionally waiting for the first to arrive. Each carries its sender's signature, to verify against the sender's key event log (get_client_keys). {SIGNED}"),
            signed_input(
                &[
                    ("client_id", pat(CLIENT_ID, "Your client_id.")),
                    ("max", pat(DECIMAL, "Most messages to return, \"1\" to \"1000\" (default \"100\").")),
                    ("wait_s", pat(DECIMAL, "Seconds to wait for a first message, \"0\" to \"50\" (default \"0\": return at once).")),
                    ("ack", one_of(&["auto", "manual"], "\"auto\" (default): returned messages are removed. \"manual\": they are leased and come back unless ack_messages removes them.")),
                ],
                &["client_id"],
            ),
            output(&[("messages", json!({"type": "array", "items": delivered_schema()}))]),
            annotations("Read messages", false, false, false),
        ),
        tool(
            "ack_messages",
            "Acknowledge messages",
            format!("Remove messages you read with ack=\"manual\" once you have handled them. {SIGNED}"),
            signed_input(
                &[
                    ("client_id", pat(CLIENT_ID, "Your client_id.")),
                    ("message_ids", pat("^[A-Za-z0-9_-]{22}(,[A-Za-z0-9_-]{22})*$", "Comma-separated message_ids from get_messages, no spaces.")),
                ],
                &["client_id", "message_ids"],
            ),
            output(&[("acked", strings()), ("unknown", strings())]),
            annotations("Acknowledge messages", false, true, true),
        ),
        tool(
            "rotate_key",
            "Rotate keys",
            "Append a rotation event to an identity's key event log: the committed next key becomes current, and lifts a suspension. The event signs itself; make it with `mcpmsg rotate`.".into(),
            input(&[("event", event_schema())], &["event"]),
            kel_update(),
            annotations("Rotate keys", false, true, false),
        ),
        tool(
            "revoke_key",
            "Revoke keys",
            "Append a revocation event: signed by the current key it suspends the identity (the next key can recover it); signed by the committed next key it ends the identity for good. Every request signed by its keys is refused from then on. `kel`, the whole log ending in the event, lets a server that forgot the identity store it revoked. Make it with `mcpmsg revoke`.".into(),
            input(&[("event", event_schema()), ("kel", json!({"type": "array", "items": event_schema()}))], &["event"]),
            kel_update(),
            annotations("Revoke keys", false, true, true),
        ),
        tool(
            "get_client_keys",
            "Get a client's keys",
            "Public: an identity's key event log with the time the server accepted each event and its status, to verify its messages or seal to its current sealing key.".into(),
            input(&[("client_id", pat(CLIENT_ID, "The client_id whose keys you want."))], &["client_id"]),
            output(&[
                ("client_id", string()),
                ("kel", json!({"type": "array", "items": event_schema()})),
                ("accepted_at", strings()),
                ("revoked", json!({"type": "boolean"})),
                ("status", status.clone()),
            ]),
            annotations("Get a client's keys", true, false, true),
        ),
        tool(
            "list_clients",
            "List clients",
            "Public: one page of the registered client ids with names, capabilities, current signing kid, last check-in and status. Pass next_cursor back as cursor for the next page. An operator may turn this off.".into(),
            input(
                &[
                    ("cursor", pat(CLIENT_ID, "The next_cursor of the previous page.")),
                    ("limit", pat(DECIMAL, "Most clients on this page (default and most: the server's page size, 100 unless changed).")),
                ],
                &[],
            ),
            output(&[
                ("clients", json!({"type": "array", "items": {"type": "object", "properties": {
                    "client_id": string(), "name": string(), "capabilities": string(), "signing_kid": string(),
                    "last_checkin": string(), "revoked": {"type": "boolean"}, "status": status,
                }, "required": ["client_id", "name", "capabilities", "signing_kid", "last_checkin", "revoked", "status"]}})),
                ("next_cursor", json!({"type": ["string", "null"]})),
            ]),
            annotations("List clients", true, false, true),
        ),
        tool(
            "get_my_identity",
            "How identity works",
            "How identity works here: your client_id and keys live in mcp_recipients.json and your key file on your machine, which the `mcpmsg` CLI manages; this server cannot tell you who you are.".into(),
            input(&[], &[]),
            output(&[("config_file", string()), ("how_to", string()), ("server", string()), ("version", string())]),
            annotations("How identity works", true, false, true),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_definitions() {
        let names: Vec<String> = all().into_iter().map(|t| t.name.into_owned()).collect();
        assert_eq!(names, NAMES);
    }

    #[test]
    fn every_tool_has_a_title_annotations_and_an_output_schema() {
        for t in all() {
            assert!(t.title.is_some(), "{}", t.name);
            assert!(t.output_schema.is_some(), "{}", t.name);
            let hints = t.annotations.as_ref().expect("annotations");
            assert_eq!(hints.read_only_hint, Some(is_anonymous(&t.name)), "{}", t.name);
            assert_eq!(
                t.input_schema.get("additionalProperties"),
                Some(&json!(false)),
                "{}",
                t.name
            );
            let text = t.description.as_deref().unwrap_or_default();
            assert!(
                !text.contains('§'),
                "{}: a model cannot act on a section number",
                t.name
            );
        }
        let revoke = all().into_iter().find(|t| t.name == "revoke_key").unwrap();
        assert_eq!(revoke.annotations.unwrap().destructive_hint, Some(true));
    }
}
