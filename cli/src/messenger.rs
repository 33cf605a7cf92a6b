//! Messaging as one identity: signs every request, seals to pinned
//! recipients, checks every received message against the sender's pinned
//! log, and acknowledges only what it handed on. Shared by the shell
//! commands and the signing bridge.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mcpmsg::crypto::kel::{self, Event, KelState};
use mcpmsg::crypto::{SealingPublicKey, SealingSecret};
use mcpmsg::inbox::{self, Delivered, Opened, SenderLog};
use mcpmsg::protocol::{new_nonce, now_ms, Auth, SendMessage, SendParts};
use mcpmsg::recipients::Recipient;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::error::hinted;
use crate::identity::{Identity, LoadedKeys, PassSource};
use crate::remote::{Remote, RemoteError};

/// How long a fetched sender log is trusted before fetching it again.
const LOG_TTL: Duration = Duration::from_secs(30);

/// One received message and what checking it found.
#[derive(Debug, Clone)]
pub struct Item {
    pub message_id: String,
    pub from: String,
    pub received_at: u64,
    pub in_reply_to: String,
    pub verdict: Result<Opened, String>,
}

impl Item {
    pub fn json(&self) -> Value {
        let mut v = json!({"message_id": self.message_id, "from": self.from, "received_at": self.received_at.to_string(), "in_reply_to": self.in_reply_to});
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

/// A verified log of a pinned recipient, as fetched from the server.
struct Fetched {
    state: KelState,
    accepted_at: Vec<u64>,
    at: Instant,
}

pub struct Messenger {
    pub id: Mutex<Identity>,
    me: String,
    events: Vec<Event>,
    keys: LoadedKeys,
    pub remote: Remote,
    logs: Mutex<HashMap<String, Fetched>>,
}

impl Messenger {
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
        let remote = Remote::new(&id.config.server_info.url, patience);
        Ok(Self {
            me: state.client_id().to_owned(),
            id: Mutex::new(id),
            events,
            keys,
            remote,
            logs: Mutex::new(HashMap::new()),
        })
    }

    pub fn me(&self) -> &str {
        &self.me
    }

    fn signing(&self) -> &mcpmsg::crypto::SigningSecret {
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

    /// `key_id`, `ts`, `nonce`, `sig` over `purpose` and `fields`.
    fn auth(&self, purpose: &str, fields: &[&str]) -> Value {
        Auth::sign(self.signing(), purpose, fields).json()
    }

    /// Checks in with the full log (registers, or pushes new events).
    pub async fn checkin(&self, name: &str, capabilities: &str) -> Result<Value, RemoteError> {
        self.remote
            .call("checkin_client", || {
                let mut v = self.auth("checkin", &[&self.me, name, capabilities]);
                v["client_id"] = json!(self.me);
                v["name"] = json!(name);
                v["capabilities"] = json!(capabilities);
                v["kel"] = serde_json::to_value(&self.events).expect("events serialise");
                v
            })
            .await
    }

    /// A signed call; if the server does not know us (an in-memory server
    /// restarted), checks in with the full log and tries once more.
    async fn signed(&self, tool: &str, build: impl Fn() -> Value) -> Result<Value, RemoteError> {
        match self.remote.call(tool, &build).await {
            Err(e) if e.code() == Some("unknown_client") => {
                self.checkin("mcpmsg", "").await?;
                self.remote.call(tool, &build).await
            }
            other => other,
        }
    }

    async fn pinned(&self, rid: &str) -> Option<Recipient> {
        self.id.lock().await.config.recipients.get(rid).cloned()
    }

    /// The recipient's verified log from the server, checked against our
    /// pin (no fork, no rollback); a log that extends the pin moves it.
    async fn sender_log(&self, rid: &str) -> Result<(KelState, Vec<u64>), String> {
        if let Some(f) = self.logs.lock().await.get(rid).filter(|f| f.at.elapsed() < LOG_TTL) {
            return Ok((f.state.clone(), f.accepted_at.clone()));
        }
        let pin = self
            .pinned(rid)
            .await
            .ok_or_else(|| format!("{rid} is not pinned: check its fingerprint, then `mcpmsg recipients add {rid}`"))?;
        let got = self
            .remote
            .call("get_client_keys", || json!({"client_id": rid}))
            .await
            .map_err(|e| e.to_string())?;
        let events: Vec<Event> = serde_json::from_value(got["kel"].clone())
            .map_err(|e| format!("the server sent a malformed log for {rid}: {e}"))?;
        let accepted_at: Vec<u64> = got["accepted_at"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str()?.parse().ok())
            .collect();
        let seq = pin.kel_seq.parse().unwrap_or(0);
        let state = kel::check_pin(&events, seq, &pin.kel_head).map_err(|e| {
            format!("the log the server gives for {rid} does not match your pin ({e}): possible impersonation")
        })?;
        if state.fingerprint() != pin.fingerprint {
            return Err(format!(
                "the log the server gives for {rid} has another fingerprint than your pin: possible impersonation"
            ));
        }
        if state.seq() > seq {
            self.repin(rid, &state).await;
        }
        self.logs.lock().await.insert(
            rid.to_owned(),
            Fetched {
                state: state.clone(),
                accepted_at: accepted_at.clone(),
                at: Instant::now(),
            },
        );
        Ok((state, accepted_at))
    }

    /// Moves a pin forward to a verified extension of it.
    async fn repin(&self, rid: &str, state: &KelState) {
        let mut id = self.id.lock().await;
        if let Some(r) = id.config.recipients.get_mut(rid) {
            r.kel_seq = state.seq().to_string();
            r.kel_head = state.head().to_owned();
            r.signing_key = state.current().signing_key.to_string();
            r.sealing_key = state.current().sealing_key.to_string();
            if let Err(e) = id.save_config() {
                tracing::warn!(error = %format!("{e:#}"), "could not save the moved pin");
            }
        }
    }

    fn sign_send(
        &self,
        to: &str,
        text: &str,
        in_reply_to: Option<&str>,
        seal_to: Option<&SealingPublicKey>,
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
            Some(key) => {
                SendMessage::seal_and_sign(self.signing(), parts, key, text).context("cannot seal to that key")?
            }
            None => SendMessage::sign(self.signing(), parts, Some("text/markdown"), text),
        })
    }

    /// The sealing key to use for `to`, or `None` to send in the clear.
    async fn seal_key(&self, to: &str, seal: Option<bool>) -> Result<Option<SealingPublicKey>> {
        if seal == Some(false) {
            return Ok(None);
        }
        // The current sealing key, following rotations; the pinned one if
        // the server cannot be asked.
        let key = match self.sender_log(to).await {
            Ok((state, _)) => Some(state.current().sealing_key.clone()),
            Err(_) => self
                .pinned(to)
                .await
                .and_then(|r| SealingPublicKey::parse(&r.sealing_key).ok()),
        };
        match key {
            Some(k) => Ok(Some(k)),
            None if seal == Some(true) => bail!(hinted(
                format!("cannot seal to {to}: it is not pinned"),
                format!("pin it first: `mcpmsg recipients add {to}`, or send with --no-seal")
            )),
            None => Ok(None),
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
        wait_s: Option<u64>,
    ) -> Result<(Value, bool)> {
        let key = self.seal_key(to, seal).await?;
        // Signed once: a retry after a network fault is the same request,
        // which the server answers idempotently.
        let send = self.sign_send(to, text, in_reply_to, key.as_ref())?;
        let mut args = serde_json::to_value(&send)?;
        let tool = match wait_s {
            Some(t) => {
                args["timeout_s"] = json!(t);
                "send_message_and_wait"
            }
            None => "send_message",
        };
        let r = match self.remote.call(tool, || args.clone()).await {
            Err(e) if e.code() == Some("unknown_client") => {
                self.checkin("mcpmsg", "").await?;
                self.remote.call(tool, || args.clone()).await?
            }
            other => other?,
        };
        Ok((r, key.is_some()))
    }

    /// Checks one delivered message.
    pub async fn check(&self, m: &Delivered) -> Result<Item, String> {
        let received_at = m.received_at.parse().unwrap_or(0);
        let item = |verdict| Item {
            message_id: m.message_id.clone(),
            from: m.sender_id.clone(),
            received_at,
            in_reply_to: m.in_reply_to.clone(),
            verdict,
        };
        match self.sender_log(&m.sender_id).await {
            Ok((state, accepted_at)) => {
                let log = SenderLog {
                    state: &state,
                    accepted_at: Some(&accepted_at),
                };
                Ok(item(inbox::check(m, &self.me, &log, &self.sealing())))
            }
            // The server could not be asked: keep the message for later.
            Err(why) if why.starts_with("the server is unreachable") => Err(why),
            Err(why) => Ok(item(Err(why))),
        }
    }

    /// Reads up to `max` messages (waiting up to `wait_s` for the first),
    /// checks them, and acknowledges the ones returned. Messages whose
    /// sender's log cannot be fetched now stay queued (their lease ends and
    /// they come back).
    pub async fn receive(&self, wait_s: u64, max: u32) -> Result<(Vec<Item>, Vec<String>), RemoteError> {
        let (max, wait) = (max.to_string(), wait_s.to_string());
        let got = self
            .signed("get_messages", || {
                let mut v = self.auth("get", &[&self.me, &max, &wait, "manual"]);
                v["client_id"] = json!(self.me);
                v["max"] = json!(max);
                v["wait_s"] = json!(wait);
                v["ack"] = json!("manual");
                v
            })
            .await?;
        let mut items = Vec::new();
        let mut held = Vec::new();
        for raw in got["messages"].as_array().into_iter().flatten() {
            let m: Delivered = match serde_json::from_value(raw.clone()) {
                Ok(m) => m,
                Err(e) => {
                    held.push(format!("a malformed message from the server was skipped: {e}"));
                    continue;
                }
            };
            match self.check(&m).await {
                Ok(item) => items.push(item),
                Err(why) => held.push(format!(
                    "message {} from {} kept for later: {why}",
                    m.message_id, m.sender_id
                )),
            }
        }
        Ok((items, held))
    }

    /// Acknowledges messages that were handed on.
    pub async fn ack(&self, ids: &[String]) -> Result<(), RemoteError> {
        if ids.is_empty() {
            return Ok(());
        }
        let joined = ids.join(",");
        self.signed("ack_messages", || {
            let mut v = self.auth("ack", &[&self.me, &joined]);
            v["client_id"] = json!(self.me);
            v["message_ids"] = json!(joined);
            v
        })
        .await
        .map(drop)
    }
}
