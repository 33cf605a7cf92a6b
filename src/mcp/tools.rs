//! The ten tools of PROTOCOL §5 as MCP sees them: names, descriptions that
//! tell a model what each argument is and where it comes from, and input
//! schemas.

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool};
use serde_json::{json, Value};

const SIGNED: &str = "Every signed tool needs key_id, ts, nonce and sig, made with the caller's private key \
    (PROTOCOL §2, §4). A model cannot make them: use the `mcpmsg bridge` tools, which sign on the user's \
    machine, or a client library.";

fn s(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn auth(props: &mut serde_json::Map<String, Value>) {
    props.insert(
        "key_id".into(),
        s("Kid of the caller's current signing key: first 32 hex chars of its fingerprint."),
    );
    props.insert(
        "ts".into(),
        s("Request time, Unix milliseconds as a decimal string; must be within the server's skew window."),
    );
    props.insert(
        "nonce".into(),
        s("22-char base64url of 16 fresh random bytes, never reused."),
    );
    props.insert(
        "sig".into(),
        s("base64url Ed25519 signature over the tool's SIGN_INPUT (PROTOCOL §2)."),
    );
}

fn schema(props: Value, required: &[&str]) -> Arc<JsonObject> {
    let mut obj = JsonObject::new();
    obj.insert("type".into(), "object".into());
    obj.insert("properties".into(), props);
    obj.insert("required".into(), json!(required));
    Arc::new(obj)
}

fn signed_schema(mut props: serde_json::Map<String, Value>, required: &[&str]) -> Arc<JsonObject> {
    auth(&mut props);
    let mut req: Vec<&str> = required.to_vec();
    req.extend(["key_id", "ts", "nonce", "sig"]);
    schema(Value::Object(props), &req)
}

fn send_props() -> serde_json::Map<String, Value> {
    let mut p = serde_json::Map::new();
    p.insert("sender_id".into(), s("Your client_id (my_id in mcp_recipients.json)."));
    p.insert(
        "recipient_id".into(),
        s("The recipient's client_id: a key of `recipients` in mcp_recipients.json, or from list_clients."),
    );
    p.insert(
        "message".into(),
        s("The message: markdown text, or base64url(enc || ct) when sealed (PROTOCOL §6)."),
    );
    p.insert("content_type".into(), s("MIME type; `text/markdown` when left out. Sealed: `application/mcpmsg-sealed; kid=<recipient sealing kid>`."));
    p.insert("in_reply_to".into(), s("The message_id this answers, if any."));
    p
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

/// Every tool, in the order PROTOCOL §5 lists them.
pub fn all() -> Vec<Tool> {
    let mut checkin = serde_json::Map::new();
    checkin.insert(
        "client_id".into(),
        s("Your client_id (my_id in mcp_recipients.json): 1-64 of A-Z a-z 0-9 . _ -"),
    );
    checkin.insert(
        "name".into(),
        s("A display name for this client, e.g. \"Alice's Claude Code\"."),
    );
    checkin.insert(
        "capabilities".into(),
        s("Free text: what this client can do or is working on."),
    );
    checkin.insert(
        "kel".into(),
        json!({"type": "array", "items": {"type": "object"}, "description": "Your full key event log (JSON array of events, as `mcpmsg kel` prints it). Needed to register, or to push a rotation made offline; optional otherwise."}),
    );

    let mut wait = send_props();
    wait.insert("timeout_s".into(), json!({"type": "integer", "minimum": 0, "maximum": 50, "description": "Seconds to wait for the reply (default 45, at most 50)."}));

    let mut get = serde_json::Map::new();
    get.insert("client_id".into(), s("Your client_id."));
    get.insert(
        "max".into(),
        s("Most messages to return, decimal string \"1\"-\"1000\" (default \"100\")."),
    );
    get.insert(
        "wait_s".into(),
        s("Seconds to wait for a first message, decimal string \"0\"-\"50\" (default \"0\": return at once)."),
    );
    get.insert("ack".into(), s("\"auto\" (default): returned messages are removed. \"manual\": they are leased and come back unless ack_messages removes them."));

    let mut ack = serde_json::Map::new();
    ack.insert("client_id".into(), s("Your client_id."));
    ack.insert(
        "message_ids".into(),
        s("Comma-separated message_ids from get_messages, no spaces."),
    );

    let event = |kind: &str| {
        schema(
            json!({"event": {"type": "object", "description": format!("A signed {kind} event object (PROTOCOL §3), as made by `mcpmsg {}`.", if kind == "rotation" { "rotate" } else { "revoke" })}}),
            &["event"],
        )
    };

    vec![
        Tool::new("checkin_client", format!("Register this client or announce it is online. The first check-in must include `kel` to register the identity; later ones may include it to push new key events. {SIGNED}"), signed_schema(checkin, &["client_id", "name", "capabilities"])),
        Tool::new("send_message", format!("Send a signed message to another client's queue. Returns its message_id at once. Messages expire after the server's message lifetime if not collected. {SIGNED}"), signed_schema(send_props(), &["sender_id", "recipient_id", "message"])),
        Tool::new("send_message_and_wait", format!("Send a signed message, then wait (up to timeout_s) for the recipient's answer in your own queue, preferring a reply to this message. A timeout is reported plainly, not as an error. {SIGNED}"), signed_schema(wait, &["sender_id", "recipient_id", "message"])),
        Tool::new("get_messages", format!("Collect messages sent to you, oldest first; optionally wait for the first to arrive. Each message carries its sender's signature, which you can verify against the sender's key event log. {SIGNED}"), signed_schema(get, &["client_id"])),
        Tool::new("ack_messages", format!("Remove messages you received with ack=\"manual\" once you have handled them. {SIGNED}"), signed_schema(ack, &["client_id", "message_ids"])),
        Tool::new("rotate_key", "Append a rotation event to an identity's key event log: the committed next key becomes current. The event is self-signed; make it with `mcpmsg rotate`.", event("rotation")),
        Tool::new("revoke_key", "Append a revocation event: the identity ends and every later request signed by its keys is refused. Make it with `mcpmsg revoke`.", event("revocation")),
        Tool::new("get_client_keys", "Public: an identity's key event log with acceptance times, to verify its messages or seal to its current sealing key.", schema(json!({"client_id": s("The client_id whose keys you want.")}), &["client_id"])),
        Tool::new("list_clients", "Public: the registered client ids with names, capabilities, current signing kid and last check-in (an operator may turn this off).", schema(json!({}), &[])),
        Tool::new("get_my_identity", "How identity works here: your client_id and keys live in mcp_recipients.json and your key file, which the `mcpmsg` CLI manages; this server cannot tell you who you are.", schema(json!({}), &[])),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_match_the_definitions() {
        let names: Vec<String> = super::all().into_iter().map(|t| t.name.into_owned()).collect();
        assert_eq!(names, super::NAMES);
    }
}
