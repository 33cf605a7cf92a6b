//! `mcp_recipients.json`, the client configuration of PROTOCOL §8.
//!
//! It holds no secret. Members this version does not know are kept as they
//! are when the file is rewritten, so a newer tool's additions survive.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientConfig {
    /// This client's identity.
    pub my_id: String,
    /// The secret key file, relative to this file.
    pub key_file: String,
    /// The next-key file when kept apart from `key_file` (an mcpmsg
    /// extension; relative to this file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_key_file: Option<String>,
    /// This identity's public key event log, relative to this file (an
    /// mcpmsg extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kel_file: Option<String>,
    /// Pinned recipients by client_id.
    #[serde(default)]
    pub recipients: BTreeMap<String, Recipient>,
    /// Where the server is.
    pub server_info: ServerInfo,
    /// Members not known to this version, kept as they are.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A pinned recipient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipient {
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// What this recipient is for.
    #[serde(default)]
    pub description: String,
    /// Current signing key as of the pinned head.
    pub signing_key: String,
    /// Current sealing key as of the pinned head.
    pub sealing_key: String,
    /// Fingerprint of the inception signing key: the stable anchor.
    pub fingerprint: String,
    /// Seq of the pinned head.
    pub kel_seq: String,
    /// Hash of the pinned head event.
    pub kel_head: String,
    /// Members not known to this version.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The server section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// The MCP endpoint, e.g. `http://localhost:8123/mcp`.
    pub url: String,
    /// Always `streamable_http`.
    #[serde(default = "default_transport")]
    pub transport: String,
    /// The server key pinned on first contact (`ed25519:...`, PROTOCOL
    /// §12): every server statement must verify against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_key: Option<String>,
    /// Members not known to this version.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

fn default_transport() -> String {
    "streamable_http".into()
}

/// The default server URL.
pub const DEFAULT_SERVER_URL: &str = "http://localhost:8123/mcp";

impl ClientConfig {
    /// A fresh configuration with no recipients.
    pub fn new(my_id: &str, key_file: &str, server_url: &str) -> Self {
        Self {
            my_id: my_id.into(),
            key_file: key_file.into(),
            next_key_file: None,
            kel_file: None,
            recipients: BTreeMap::new(),
            server_info: ServerInfo {
                url: server_url.into(),
                transport: default_transport(),
                server_key: None,
                other: Map::new(),
            },
            other: Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_protocol_example_and_keeps_unknown_members() {
        let text = r#"{
          "my_id": "alice-laptop",
          "key_file": "alice-laptop.key",
          "recipients": {
            "bob-desktop": {
              "name": "Bob's Cursor", "description": "backend repo",
              "signing_key": "ed25519:x", "sealing_key": "x25519:y",
              "fingerprint": "f", "kel_seq": "0", "kel_head": "h", "color": "blue"
            }
          },
          "server_info": { "url": "http://localhost:8123/mcp", "transport": "streamable_http" },
          "theme": 7
        }"#;
        let c: ClientConfig = serde_json::from_str(text).unwrap();
        assert_eq!(c.recipients["bob-desktop"].name, "Bob's Cursor");
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(back["theme"], 7);
        assert_eq!(back["recipients"]["bob-desktop"]["color"], "blue");
        assert!(back.get("kel_file").is_none());
    }
}
