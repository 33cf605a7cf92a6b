//! Test harness: the real server on a free loopback port, a real rmcp MCP
//! client, and identities that sign requests as a client would.
#![allow(dead_code)]

pub mod adapters;
pub mod broadcast;
pub mod pairing;
pub mod protocols;
pub mod redis;
pub mod rooms;
pub mod signals;

use clap::Parser;
use mcpmsg_core::crypto::{SealingPublicKey, SealingSecret, SigningSecret};
use mcpmsg_core::protocol::kel::{Event, Reason};
use mcpmsg_core::protocol::tools::{AckMessagesArgs, CheckinClientArgs, GetMessagesArgs, ToolArgs};
use mcpmsg_core::protocol::{new_nonce, now_ms, Auth, SendMessage, SendParts, SignedArgs};
use mcpmsg_server::config::ServerArgs;
use rmcp::model::{CallToolRequestParams, ProtocolVersion};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientLifecycleMode, ClientServiceExt, RoleClient, ServiceExt};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

pub struct TestServer {
    pub base: String,
    pub url: String,
    pub shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// Holds the server key when the flags name none.
    _key_dir: tempfile::TempDir,
    /// The server's broker, for what no tool triggers yet (events).
    pub broker: std::sync::Arc<mcpmsg_server::broker::Broker>,
}

/// The server's arguments: `flags`, and a server key in `dir` unless they
/// name one (tests never touch the user's default key).
fn test_config(flags: &[&str], dir: &tempfile::TempDir) -> mcpmsg_server::config::ServerConfig {
    let key = dir.path().join("server-key.json");
    let key = key.to_str().expect("a UTF-8 temporary path");
    let mut args = vec!["mcpmsg-server", "--port", "0"];
    if !flags.contains(&"--server-key") {
        args.extend(["--server-key", key]);
    }
    args.extend_from_slice(flags);
    ServerArgs::parse_from(args).validate().expect("test flags are valid")
}

impl TestServer {
    pub async fn start(flags: &[&str]) -> Self {
        let key_dir = tempfile::tempdir().unwrap();
        let config = test_config(flags, &key_dir);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let broker = mcpmsg_server::server::broker(&config, shutdown.clone()).await.unwrap();
        let app = mcpmsg_server::server::router(&config, broker.clone());
        let stop = shutdown.clone();
        let task = tokio::spawn(async move { mcpmsg_server::server::serve(listener, app, &config, stop).await });
        Self {
            base: format!("http://{addr}"),
            url: format!("http://{addr}/mcp"),
            shutdown,
            task,
            _key_dir: key_dir,
            broker,
        }
    }

    /// Two nodes on the store at `url`, sharing one server key as nodes
    /// sharing a store must (PROTOCOL §12).
    pub async fn two_nodes(url: &str) -> [Self; 2] {
        Self::two_nodes_with(url, &[]).await
    }

    /// [`TestServer::two_nodes`], each also started with `extra` flags.
    pub async fn two_nodes_with(url: &str, extra: &[&str]) -> [Self; 2] {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("server-key.json");
        let mut flags = vec!["--store", url, "--server-key", key.to_str().unwrap()];
        flags.extend_from_slice(extra);
        let nodes = [Self::start(&flags).await, Self::start(&flags).await];
        // The key file was read at start; the directory may go.
        drop(dir);
        nodes
    }

    /// A node on a shared store that never subscribes to its doorbell: no
    /// invalidation or wake-up from other nodes reaches it, so whatever it
    /// gets right about their writes, it gets from the store on each call.
    pub async fn start_without_doorbell(flags: &[&str]) -> Self {
        use mcpmsg_server::config::StoreSpec;
        use mcpmsg_server::store::{RedisStore, Store};
        let key_dir = tempfile::tempdir().unwrap();
        let config = test_config(flags, &key_dir);
        let StoreSpec::Redis(url) = &config.store else {
            panic!("a node without a doorbell needs --store redis://...")
        };
        let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(
            RedisStore::connect(url, &config.redis_tls)
                .await
                .unwrap()
                .with_nonce_window(2 * config.broker.max_skew),
        );
        let shutdown = CancellationToken::new();
        let broker = std::sync::Arc::new(mcpmsg_server::broker::Broker::new(
            config.broker.clone(),
            store,
            None,
            mcpmsg_server::server_key::load_or_create(&config.server_key).unwrap().0,
            shutdown.clone(),
        ));
        let app = mcpmsg_server::server::router(&config, broker.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = shutdown.clone();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
                .map_err(anyhow::Error::from)
        });
        Self {
            base: format!("http://{addr}"),
            url: format!("http://{addr}/mcp"),
            shutdown,
            task,
            _key_dir: key_dir,
            broker,
        }
    }

    /// A client that initializes (protocol 2025-11-25, the session-era handshake).
    pub async fn client(&self) -> Client {
        let t = StreamableHttpClientTransport::from_uri(self.url.clone());
        Client {
            svc: ().serve(t).await.expect("initialize"),
        }
    }

    /// A sessionless 2026-07-28 client (server/discover, per-request metadata).
    pub async fn client_2026(&self) -> Client {
        let t = StreamableHttpClientTransport::from_uri(self.url.clone());
        let mode = ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        };
        Client {
            svc: ().serve_with_lifecycle(t, mode).await.expect("discover"),
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

pub struct Client {
    pub svc: RunningService<RoleClient, ()>,
}

/// A tool result, flattened.
#[derive(Debug, Clone)]
pub struct Reply {
    pub is_error: bool,
    pub text: String,
    pub json: Value,
}

impl Reply {
    /// The structured result of a successful call.
    #[track_caller]
    pub fn ok(self) -> Value {
        assert!(!self.is_error, "expected success, got {}", self.text);
        self.json
    }

    /// Asserts a refusal with exactly `code`; returns the message.
    #[track_caller]
    pub fn refused(self, code: &str) -> String {
        assert!(self.is_error, "expected [{code}], got success: {}", self.text);
        assert_eq!(self.json["error"]["code"], code, "{}", self.text);
        assert!(self.text.starts_with(&format!("[{code}] ")), "{}", self.text);
        self.json["error"]["message"].as_str().unwrap().to_owned()
    }
}

impl Client {
    /// A tool call whose transport may fail (a node killed mid-call).
    pub async fn call_raw(&self, tool: &str, args: Value) -> Result<Reply, rmcp::ServiceError> {
        let Value::Object(map) = args else {
            panic!("arguments must be an object")
        };
        let r = self
            .svc
            .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(map))
            .await?;
        let text = r
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect::<Vec<_>>()
            .join("\n");
        Ok(Reply {
            is_error: r.is_error == Some(true),
            text,
            json: r.structured_content.unwrap_or(Value::Null),
        })
    }

    pub async fn call(&self, tool: &str, args: Value) -> Reply {
        self.call_raw(tool, args).await.expect("tool call transport")
    }
}

/// A client identity holding its keys, as the CLI would.
pub struct Ident {
    pub id: String,
    keys: Vec<SigningSecret>,
    cur: usize,
    pub sealing: Vec<SealingSecret>,
    pub events: Vec<Event>,
}

impl Ident {
    pub fn new(id: &str) -> Self {
        let keys = vec![SigningSecret::generate(), SigningSecret::generate()];
        let sealing = vec![SealingSecret::generate()];
        let events = vec![Event::inception(
            id,
            &keys[0],
            &sealing[0].public(),
            &keys[1].public(),
            now_ms(),
        )];
        Self {
            id: id.to_owned(),
            keys,
            cur: 0,
            sealing,
            events,
        }
    }

    pub fn key(&self) -> &SigningSecret {
        &self.keys[self.cur]
    }

    pub fn sealing_key(&self) -> SealingPublicKey {
        self.sealing.last().unwrap().public()
    }

    /// key_id, ts, nonce, sig for `purpose` over `fields` (+ the auth fields), signed at `ts`.
    pub fn sign_at(&self, key: &SigningSecret, purpose: &str, fields: &[&str], ts: u64) -> Value {
        Auth::sign_at(key, purpose, fields, ts).json()
    }

    /// Typed arguments signed with the current key, as JSON.
    pub fn signed<A: SignedArgs + ToolArgs>(&self, args: A) -> Value {
        serde_json::to_value(args.signed_by(self.key())).unwrap()
    }

    pub fn checkin(&self, with_kel: bool) -> Value {
        self.signed(CheckinClientArgs {
            client_id: self.id.clone(),
            name: "test client".into(),
            capabilities: "testing".into(),
            kel: with_kel.then(|| self.events.clone()),
            ..Default::default()
        })
    }

    pub fn send_with(&self, key: &SigningSecret, to: &str, message: &str, in_reply_to: Option<&str>, ts: u64) -> Value {
        let nonce = new_nonce();
        let parts = SendParts {
            sender_id: &self.id,
            recipient_id: to,
            in_reply_to,
            ts,
            nonce: &nonce,
        };
        serde_json::to_value(SendMessage::sign(key, parts, Some("text/markdown"), message)).unwrap()
    }

    pub fn send(&self, to: &str, message: &str) -> Value {
        self.send_with(self.key(), to, message, None, now_ms())
    }

    pub fn reply(&self, to: &str, message: &str, in_reply_to: &str) -> Value {
        self.send_with(self.key(), to, message, Some(in_reply_to), now_ms())
    }

    pub fn sealed(&self, to: &str, key: &SealingPublicKey, plaintext: &str) -> Value {
        let nonce = new_nonce();
        let parts = SendParts {
            sender_id: &self.id,
            recipient_id: to,
            in_reply_to: None,
            ts: now_ms(),
            nonce: &nonce,
        };
        serde_json::to_value(SendMessage::seal_and_sign(self.key(), parts, key, plaintext).unwrap()).unwrap()
    }

    /// get_messages arguments; `None` leaves an argument out (signed as "").
    pub fn get(&self, max: Option<&str>, wait_s: Option<&str>, ack: Option<&str>) -> Value {
        self.signed(GetMessagesArgs {
            client_id: self.id.clone(),
            max: max.map(str::to_owned),
            wait_s: wait_s.map(str::to_owned),
            ack: ack.map(str::to_owned),
            ..Default::default()
        })
    }

    pub fn ack(&self, ids: &[&str]) -> Value {
        self.signed(AckMessagesArgs {
            client_id: self.id.clone(),
            message_ids: ids.join(","),
            ..Default::default()
        })
    }

    /// Makes the rotation event (the committed next key takes over).
    pub fn rotate(&mut self) -> Event {
        let prev = self.events.last().unwrap().hash().unwrap();
        self.cur += 1;
        self.keys.push(SigningSecret::generate());
        self.sealing.push(SealingSecret::generate());
        let e = Event::rotation(
            &self.id,
            self.events.len() as u64,
            &prev,
            &self.keys[self.cur],
            &self.sealing_key(),
            &self.keys[self.cur + 1].public(),
            now_ms(),
        );
        self.events.push(e.clone());
        e
    }

    /// Forgets the last `rotate` (one the server refused).
    pub fn undo_rotation(&mut self) {
        self.events.pop();
        self.keys.pop();
        self.sealing.pop();
        self.cur -= 1;
    }

    /// Makes a revocation event signed by the current key.
    pub fn revoke(&mut self) -> Event {
        self.revoke_at(now_ms())
    }

    /// Makes a revocation event signed by the current key (a suspension,
    /// A1), dated `ts`.
    pub fn revoke_at(&mut self, ts: u64) -> Event {
        let prev = self.events.last().unwrap().hash().unwrap();
        let e = Event::revocation(
            &self.id,
            self.events.len() as u64,
            &prev,
            &self.keys[self.cur],
            Reason::Retired,
            ts,
        );
        self.events.push(e.clone());
        e
    }

    /// Makes a revocation event signed by the committed next key (final,
    /// A1), dated `ts`.
    pub fn revoke_with_next(&mut self, ts: u64) -> Event {
        let prev = self.events.last().unwrap().hash().unwrap();
        let e = Event::revocation(
            &self.id,
            self.events.len() as u64,
            &prev,
            &self.keys[self.cur + 1],
            Reason::Compromised,
            ts,
        );
        self.events.push(e.clone());
        e
    }

    /// A checkin with a chosen name and capabilities.
    pub fn checkin_as(&self, name: &str, capabilities: &str) -> Value {
        self.signed(CheckinClientArgs {
            client_id: self.id.clone(),
            name: name.into(),
            capabilities: capabilities.into(),
            kel: Some(self.events.clone()),
            ..Default::default()
        })
    }

    /// A key that is not current (for key_superseded tests).
    pub fn old_key(&self, i: usize) -> &SigningSecret {
        &self.keys[i]
    }
}

/// The message ids of a `get_messages` result.
pub fn ids(v: &Value) -> Vec<String> {
    v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Registers `ids` through `c`.
pub async fn register(c: &Client, ids: &[&Ident]) {
    for i in ids {
        let r = c.call("checkin_client", i.checkin(true)).await.ok();
        assert_eq!(r["registered"], true);
    }
}

/// PROTOCOL §4 order: a used nonce is `replay` even when the signature is
/// broken too; a fresh nonce with a broken signature is `bad_signature`.
/// `used` is a `get_messages` request of `who` whose nonce was used.
pub async fn nonce_is_judged_before_the_signature(c: &Client, who: &Ident, used: &Value) {
    // 64 zero bytes: canonical base64url, and never a valid signature.
    let broken = json!("A".repeat(86));
    let mut both = used.clone();
    both["sig"] = broken.clone();
    c.call("get_messages", both).await.refused("replay");
    let mut fresh = who.get(None, None, None);
    fresh["sig"] = broken;
    c.call("get_messages", fresh).await.refused("bad_signature");
}

mod scenarios;
pub use scenarios::{
    a_send_pokes_a_listener, inbox_uri, presence_follows_signed_calls, session_client_with_pokes, Pokes,
};
