//! Messaging as one identity: signs every request, seals to pinned
//! recipients, checks every received message against the sender's pinned
//! log, and acknowledges only what it handed on. Shared by the shell
//! commands and the signing bridge.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mcpmsg_core::client_config::Recipient;
use mcpmsg_core::crypto::{SealingPublicKey, SealingSecret};
use mcpmsg_core::inbox::{self, Delivered, Opened, SenderLog, TimeRules};
use mcpmsg_core::protocol::kel::{self, Event, KelState};
use mcpmsg_core::protocol::tools::{
    AckMessagesArgs, CheckinClientArgs, CheckinResult, GetClientKeysArgs, GetMessagesArgs, RevokeKeyArgs, SendResult,
    SignedArgs, ToolArgs,
};
use mcpmsg_core::protocol::{check_client_id, escape_inline, new_nonce, now_ms, parse_decimal, SendMessage, SendParts};
use mcpmsg_core::seen::{SeenSet, DEFAULT_MAX_SEEN};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::connection::{Connection, ServerError};
use crate::error::hinted;
use crate::identity::{Identity, LoadedKeys, PassSource};

mod broadcast;
mod item;
mod peers;
mod protocols;
mod receive;
mod rooms;
mod server_pin;
mod typed;

pub use item::Item;
use peers::Fetched;
pub use protocols::Registration;
pub use receive::{Received, Signal};
pub use server_pin::{other_key_hint, presented_key};

/// Where the seen-set lives: beside the configuration, named after it.
fn seen_path(config: &std::path::Path) -> std::path::PathBuf {
    let mut name = config.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".seen.json");
    config.with_file_name(name)
}

pub struct Session {
    pub id: Mutex<Identity>,
    me: String,
    events: Vec<Event>,
    keys: LoadedKeys,
    pub remote: Connection,
    logs: Mutex<HashMap<String, Fetched>>,
    /// Held across every check-in, so the start-up check-in and a re-check-in
    /// after `unknown_client` never race each other into `kel_conflict`.
    checkin_lock: std::sync::Arc<Mutex<Announced>>,
    seen: Mutex<SeenSet>,
    seen_path: std::path::PathBuf,
    /// What this identity last declared (PROTOCOL §18b), for typed reads.
    declared_path: std::path::PathBuf,
    rules: TimeRules,
}

/// The name and capabilities this client last announced, kept for
/// re-check-ins after a server restart.
#[derive(Default)]
struct Announced {
    name: String,
    capabilities: String,
}

impl Session {
    /// Loads the identity named by `config` and its keys.
    pub fn load(config: &std::path::Path, pass: &PassSource, patience: Duration) -> Result<Self> {
        let id = Identity::load(config)?;
        let (events, state) = id.kel()?;
        if let Some((seq, _)) = state.revoked() {
            bail!(hinted(
                format!("{} was revoked at seq {seq}", state.client_id()),
                "create a new identity with `mcpmsg init --id NEW-ID`"
            ));
        }
        let keys = LoadedKeys::read(&id.key_path(), pass)?;
        let current = keys.keys.signing.as_ref().map(|k| k.public());
        if current.as_ref() != Some(&state.current().signing_key) || keys.keys.sealing.is_none() {
            bail!(hinted(
                "the key file does not hold this identity's current keys",
                "if a rotation was interrupted, run `mcpmsg rotate` to finish it"
            ));
        }
        let remote = Connection::new(&id.config.server_info.url, patience);
        let seen_path = seen_path(config);
        let seen = match std::fs::read_to_string(&seen_path) {
            Ok(text) => serde_json::from_str(&text).with_context(|| {
                format!(
                    "{}: not a valid seen-set; delete it to start afresh",
                    seen_path.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => SeenSet::default(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", seen_path.display())),
        };
        let rules = time_rules(&id.config.server_info.other);
        Ok(Self {
            me: state.client_id().to_owned(),
            id: Mutex::new(id),
            events,
            keys,
            remote,
            logs: Mutex::new(HashMap::new()),
            checkin_lock: std::sync::Arc::new(Mutex::new(Announced {
                name: "mcpmsg".into(),
                capabilities: String::new(),
            })),
            seen: Mutex::new(seen),
            seen_path,
            declared_path: typed::declared_path(config),
            rules,
        })
    }

    pub fn me(&self) -> &str {
        &self.me
    }

    fn signing(&self) -> &mcpmsg_core::crypto::SigningSecret {
        self.keys.keys.signing.as_ref().expect("checked at load")
    }

    /// Our sealing secrets: current first, then old ones not yet expired.
    fn sealing(&self) -> Vec<&SealingSecret> {
        let now = now_ms();
        self.keys
            .keys
            .sealing
            .iter()
            .chain(
                self.keys
                    .keys
                    .old_sealing
                    .iter()
                    .filter(|o| o.expires_at > now)
                    .map(|o| &o.secret),
            )
            .collect()
    }

    /// Checks in with the full log (registers, or pushes new events), and
    /// remembers `name` and `capabilities` for later re-check-ins.
    pub async fn checkin(&self, name: &str, capabilities: &str) -> Result<CheckinResult, ServerError> {
        let mut announced = self.checkin_lock.lock().await;
        announced.name = name.to_owned();
        announced.capabilities = capabilities.to_owned();
        self.checkin_as(name, capabilities).await
    }

    /// The bridge's start-up check-in, in the background: the lock is taken
    /// before this returns, so every tool call waits for it to finish.
    pub async fn checkin_in_background(self: &std::sync::Arc<Self>, name: &str, capabilities: &str) {
        let mut announced = self.checkin_lock.clone().lock_owned().await;
        announced.name = name.to_owned();
        announced.capabilities = capabilities.to_owned();
        let me = self.clone();
        tokio::spawn(async move {
            match me.checkin_as(&announced.name, &announced.capabilities).await {
                Ok(r) => tracing::info!(client_id = me.me(), kel_seq = %r.kel_seq, "checked in"),
                Err(ServerError::Unreachable(why)) => {
                    tracing::warn!(server = me.remote.url(), %why, "server unreachable; the bridge retries on each call")
                }
                Err(e) => tracing::warn!(error = %e, "check-in refused"),
            }
            drop(announced);
        });
    }

    /// Checks in again under the name and capabilities last announced:
    /// after `unknown_client` (an in-memory server restarted), and for the
    /// bridge's `checkin` tool. Waits for a check-in in flight.
    pub async fn recheckin(&self) -> Result<CheckinResult, ServerError> {
        let announced = self.checkin_lock.lock().await;
        self.checkin_as(&announced.name, &announced.capabilities).await
    }

    async fn checkin_as(&self, name: &str, capabilities: &str) -> Result<CheckinResult, ServerError> {
        self.remote
            .call(|| {
                CheckinClientArgs {
                    client_id: self.me.clone(),
                    name: name.to_owned(),
                    capabilities: capabilities.to_owned(),
                    kel: Some(self.events.clone()),
                    ..Default::default()
                }
                .signed_by(self.signing())
            })
            .await
    }

    /// A signed call, signed afresh for each attempt; if the server does
    /// not know us (an in-memory server restarted), checks in with the
    /// full log and tries once more.
    async fn signed<A: ToolArgs + SignedArgs>(&self, build: impl Fn() -> A) -> Result<A::Output, ServerError> {
        crate::connection::typed::<A>(self.signed_untyped(build).await?)
    }

    /// As [`Session::signed`], with the answer as the server sent it.
    async fn signed_untyped<A: ToolArgs + SignedArgs>(&self, build: impl Fn() -> A) -> Result<Value, ServerError> {
        self.as_me(|| build().signed_by(self.signing())).await
    }

    /// A call made as this identity, with arguments from `args` for each
    /// attempt. Waits for a check-in in flight (the bridge's start-up one)
    /// first; if the server does not know us (an in-memory server
    /// restarted), checks in with the full log and tries once more.
    async fn as_me<A: ToolArgs>(&self, args: impl Fn() -> A) -> Result<Value, ServerError> {
        drop(self.checkin_lock.lock().await);
        match self.remote.call_untyped(&args).await {
            Err(e) if e.code() == Some("unknown_client") => {
                self.recheckin().await?;
                self.remote.call_untyped(&args).await
            }
            other => other,
        }
    }

    async fn pinned(&self, rid: &str) -> Option<Recipient> {
        self.id.lock().await.config.recipients.get(rid).cloned()
    }

    /// A send signed now: sealed to `seal_to` if given; with `typed`
    /// (`name@version`, the body checked by the caller) a typed body, in a
    /// sealed or the typed content type (PROTOCOL §18d).
    fn sign_send(
        &self,
        to: &str,
        text: &str,
        in_reply_to: Option<&str>,
        seal_to: Option<&SealingPublicKey>,
        typed: Option<&str>,
    ) -> Result<SendMessage> {
        let nonce = new_nonce();
        let parts = SendParts {
            sender_id: &self.me,
            recipient_id: to,
            in_reply_to,
            ts: now_ms(),
            nonce: &nonce,
        };
        Ok(match seal_to {
            Some(key) => SendMessage::seal_and_sign_typed(self.signing(), parts, key, text, typed)
                .context("cannot seal to that key")?,
            None => {
                let content_type = typed.map_or_else(
                    || "text/markdown".to_owned(),
                    mcpmsg_core::protocol::registry::typed_content_type,
                );
                SendMessage::sign(self.signing(), parts, Some(&content_type), text)
            }
        })
    }

    /// The sealing key to use for `to`, or `None` to send in the clear.
    async fn seal_key(&self, to: &str, seal: Option<bool>) -> Result<Option<SealingPublicKey>> {
        if seal == Some(false) {
            return Ok(None);
        }
        // The current sealing key, following rotations; the pinned one if
        // the server cannot be asked.
        let key = match self.peer_log(to).await {
            Ok((state, _)) => Some(state.current().sealing_key.clone()),
            Err(_) => self
                .pinned(to)
                .await
                .and_then(|r| SealingPublicKey::parse(&r.sealing_key).ok()),
        };
        // Never in the clear unless asked: an unpinned recipient is refused.
        match key {
            Some(k) => Ok(Some(k)),
            None => bail!(hinted(
                format!("cannot seal to {to}: it is not pinned, so this would go in the clear"),
                format!("pin it first (`mcpmsg recipients add {to}`), or ask for an unsealed send explicitly (--no-seal, or seal: false)")
            )),
        }
    }

    /// Sends `text`; sealed by default when `to` is pinned. Returns the
    /// server's answer and whether it was sealed.
    pub async fn send(
        &self,
        to: &str,
        text: &str,
        in_reply_to: Option<&str>,
        seal: Option<bool>,
    ) -> Result<(SendResult, bool)> {
        let key = self.seal_key(to, seal).await?;
        // Signed once: a retry after a network fault is the same request,
        // which the server answers idempotently (a send's nonce is its
        // idempotency key), so every attempt carries the same bytes.
        let send = self.sign_send(to, text, in_reply_to, key.as_ref(), None)?;
        let r = crate::connection::typed::<SendMessage>(self.as_me(|| send.clone()).await?)?;
        self.check_acceptance(&r, to).await?;
        Ok((r, key.is_some()))
    }
}

/// PROTOCOL §9's defaults, or `max_skew_s` and `message_ttl_s` from the
/// configuration's `server_info` when the operator changed them.
fn time_rules(server_info: &serde_json::Map<String, Value>) -> TimeRules {
    let secs = |k: &str| server_info.get(k).and_then(Value::as_u64).map(|s| s * 1000);
    let d = TimeRules::default();
    TimeRules {
        max_skew_ms: secs("max_skew_s").unwrap_or(d.max_skew_ms),
        lifetime_ms: secs("message_ttl_s").unwrap_or(d.lifetime_ms),
    }
}
