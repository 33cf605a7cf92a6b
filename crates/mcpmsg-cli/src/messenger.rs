//! Messaging as one identity: signs every request, seals to pinned
//! recipients, checks every received message against the sender's pinned
//! log, and acknowledges only what it handed on. Shared by the shell
//! commands and the signing bridge.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mcpmsg_core::crypto::{SealingPublicKey, SealingSecret};
use mcpmsg_core::inbox::{self, Delivered, Opened, SenderLog, TimeRules};
use mcpmsg_core::protocol::kel::{self, Event, KelState};
use mcpmsg_core::protocol::{check_client_id, escape_inline, new_nonce, now_ms, Auth, SendMessage, SendParts};
use mcpmsg_core::recipients::Recipient;
use mcpmsg_core::seen::{SeenSet, DEFAULT_MAX_SEEN};
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::error::hinted;
use crate::identity::{Identity, LoadedKeys, PassSource};
use crate::remote::{Remote, RemoteError};

/// How long a fetched sender log is trusted before fetching it again.
const LOG_TTL: Duration = Duration::from_secs(30);

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
}

impl Item {
    /// A rejected item: the claimed members escaped for one line, and cut.
    fn rejected(m: &Delivered, why: String) -> Self {
        Self {
            message_id: escape_inline(&m.message_id, 24),
            from: escape_inline(&m.sender_id, 64),
            received_at: m.received_at.parse().unwrap_or(0),
            in_reply_to: escape_inline(&m.in_reply_to, 24),
            verdict: Err(escape_inline(&why, 300)),
        }
    }

    /// The server's id for this item, to acknowledge it.
    pub fn ack_id(&self) -> &str {
        &self.message_id
    }

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
    events: Vec<Event>,
    state: KelState,
    accepted_at: Vec<u64>,
    at: Instant,
}

/// Why a sender's log could not be used.
enum LogTrouble {
    /// Worth another try later (the server is unreachable, busy or limited):
    /// the message stays leased and comes back.
    Transient(String),
    /// A definite answer: the message is rejected with this reason.
    Definite(String),
}

impl LogTrouble {
    fn from_remote(rid: &str, e: RemoteError) -> Self {
        match e.code() {
            None | Some("unavailable") | Some("rate_limited") => Self::Transient(e.to_string()),
            Some(_) => Self::Definite(format!("the server has no usable log for {rid}: {e}")),
        }
    }

    fn text(self) -> String {
        match self {
            Self::Transient(s) | Self::Definite(s) => s,
        }
    }
}

/// Where the seen-set lives: beside the configuration, named after it.
fn seen_path(config: &std::path::Path) -> std::path::PathBuf {
    let mut name = config.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".seen.json");
    config.with_file_name(name)
}

pub struct Messenger {
    pub id: Mutex<Identity>,
    me: String,
    events: Vec<Event>,
    keys: LoadedKeys,
    pub remote: Remote,
    logs: Mutex<HashMap<String, Fetched>>,
    /// Held across every check-in, so the start-up check-in and a re-check-in
    /// after `unknown_client` never race each other into `kel_conflict`.
    checkin_lock: std::sync::Arc<Mutex<Announced>>,
    seen: Mutex<SeenSet>,
    seen_path: std::path::PathBuf,
    rules: TimeRules,
}

/// The name and capabilities this client last announced, kept for
/// re-check-ins after a server restart.
#[derive(Default)]
struct Announced {
    name: String,
    capabilities: String,
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

    /// `key_id`, `ts`, `nonce`, `sig` over `purpose` and `fields`.
    fn auth(&self, purpose: &str, fields: &[&str]) -> Value {
        Auth::sign(self.signing(), purpose, fields).json()
    }

    /// Checks in with the full log (registers, or pushes new events), and
    /// remembers `name` and `capabilities` for later re-check-ins.
    pub async fn checkin(&self, name: &str, capabilities: &str) -> Result<Value, RemoteError> {
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
                Ok(r) => tracing::info!(client_id = me.me(), kel_seq = %r["kel_seq"], "checked in"),
                Err(RemoteError::Unreachable(why)) => {
                    tracing::warn!(server = me.remote.url(), %why, "server unreachable; the bridge retries on each call")
                }
                Err(e) => tracing::warn!(error = %e, "check-in refused"),
            }
            drop(announced);
        });
    }

    /// After `unknown_client` (an in-memory server restarted): checks in
    /// again under the name last announced, unless a check-in that finished
    /// while we waited for the lock already did.
    async fn recheckin(&self) -> Result<(), RemoteError> {
        let announced = self.checkin_lock.lock().await;
        self.checkin_as(&announced.name, &announced.capabilities)
            .await
            .map(drop)
    }

    /// Checks in again under the name last announced (the bridge's
    /// `checkin` tool): keeps the name the user chose at start-up.
    pub async fn recheckin_public(&self) -> Result<Value, RemoteError> {
        let announced = self.checkin_lock.lock().await;
        self.checkin_as(&announced.name, &announced.capabilities).await
    }

    async fn checkin_as(&self, name: &str, capabilities: &str) -> Result<Value, RemoteError> {
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
        // Wait for a check-in in flight (the bridge's start-up one) first.
        drop(self.checkin_lock.lock().await);
        match self.remote.call(tool, &build).await {
            Err(e) if e.code() == Some("unknown_client") => {
                self.recheckin().await?;
                self.remote.call(tool, &build).await
            }
            other => other,
        }
    }

    async fn pinned(&self, rid: &str) -> Option<Recipient> {
        self.id.lock().await.config.recipients.get(rid).cloned()
    }

    /// A pinned peer's verified log from the server, checked against our
    /// pin (no fork, no rollback); a log that extends the pin moves it. If
    /// the server does not know a peer whose revocation we hold (it
    /// restarted), we push that log back first (A2), so a thief cannot
    /// re-register the old keys.
    async fn peer_log(&self, rid: &str) -> Result<(KelState, Vec<u64>), LogTrouble> {
        if let Some(f) = self.logs.lock().await.get(rid).filter(|f| f.at.elapsed() < LOG_TTL) {
            return Ok((f.state.clone(), f.accepted_at.clone()));
        }
        let pin = self.pinned(rid).await.ok_or_else(|| {
            LogTrouble::Definite(format!(
                "{rid} is not pinned: check its fingerprint, then `mcpmsg recipients add {rid}`"
            ))
        })?;
        let fetch = || self.remote.call("get_client_keys", || json!({"client_id": rid}));
        let got = match fetch().await {
            Err(e) if e.code() == Some("unknown_client") && self.push_held_revocation(rid).await => fetch().await,
            other => other,
        }
        .map_err(|e| LogTrouble::from_remote(rid, e))?;
        let bad = |why: String| LogTrouble::Definite(why);
        let events: Vec<Event> = serde_json::from_value(got["kel"].clone())
            .map_err(|e| bad(format!("the server sent a malformed log for {rid}: {e}")))?;
        let accepted_at: Vec<u64> = got["accepted_at"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v.as_str().and_then(|s| s.parse().ok()))
            .collect::<Option<_>>()
            .ok_or_else(|| bad(format!("the server sent malformed acceptance times for {rid}")))?;
        if accepted_at.len() != events.len() {
            return Err(bad(format!(
                "the server sent {} acceptance times for the {} events of {rid}'s log",
                accepted_at.len(),
                events.len()
            )));
        }
        let seq = pin.kel_seq.parse().unwrap_or(0);
        let state = kel::check_pin(&events, seq, &pin.kel_head).map_err(|e| {
            bad(format!(
                "the log the server gives for {rid} does not match your pin ({e}): possible impersonation"
            ))
        })?;
        if state.fingerprint() != pin.fingerprint {
            return Err(bad(format!(
                "the log the server gives for {rid} has another fingerprint than your pin: possible impersonation"
            )));
        }
        if state.seq() > seq {
            self.repin(rid, &state).await;
        }
        self.logs.lock().await.insert(
            rid.to_owned(),
            Fetched {
                events,
                state: state.clone(),
                accepted_at: accepted_at.clone(),
                at: Instant::now(),
            },
        );
        Ok((state, accepted_at))
    }

    /// Pushes the log of `rid` we saw end in a revocation or suspension
    /// back to a server that forgot it (A2). True when the server took it.
    async fn push_held_revocation(&self, rid: &str) -> bool {
        let held = match self.logs.lock().await.get(rid) {
            Some(f) if f.state.revoked().is_some() => f.events.clone(),
            _ => return false,
        };
        let last = held.last().cloned();
        let pushed = self
            .remote
            .call("revoke_key", || json!({"event": last, "kel": held}))
            .await;
        match pushed {
            Ok(_) => {
                tracing::warn!(
                    client_id = rid,
                    "the server had forgotten a revoked peer; its revocation was pushed back"
                );
                true
            }
            Err(e) => {
                tracing::warn!(client_id = rid, error = %e, "could not push a revoked peer's log back");
                false
            }
        }
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
        drop(self.checkin_lock.lock().await);
        let r = match self.remote.call(tool, || args.clone()).await {
            Err(e) if e.code() == Some("unknown_client") => {
                self.recheckin().await?;
                self.remote.call(tool, || args.clone()).await?
            }
            other => other?,
        };
        Ok((r, key.is_some()))
    }

    /// Checks one delivered message (A3). `Err` when the check cannot be
    /// decided now (the sender's log could not be fetched): the message
    /// stays leased and comes back.
    pub async fn check(&self, m: &Delivered) -> Result<Item, String> {
        if check_client_id("sender_id", &m.sender_id).is_err() {
            return Ok(Item::rejected(m, "sender_id is not a valid client id".into()));
        }
        match self.peer_log(&m.sender_id).await {
            Ok((state, accepted_at)) => {
                let log = SenderLog {
                    state: &state,
                    accepted_at: Some(&accepted_at),
                };
                Ok(
                    match inbox::check(m, &self.me, &log, &self.sealing(), self.rules, now_ms()) {
                        Ok(opened) => Item {
                            message_id: m.message_id.clone(),
                            from: m.sender_id.clone(),
                            received_at: m.received_at.parse().unwrap_or(0),
                            in_reply_to: m.in_reply_to.clone(),
                            verdict: Ok(opened),
                        },
                        Err(why) => Item::rejected(m, why),
                    },
                )
            }
            Err(LogTrouble::Transient(why)) => Err(escape_inline(&why, 300)),
            Err(trouble) => Ok(Item::rejected(m, trouble.text())),
        }
    }

    /// Reads up to `max` messages (waiting up to `wait_s` for the first),
    /// leased, and checks them. Returns what to show, notes on what was
    /// held back (it stays leased and comes back), and the ids of
    /// duplicates to drop: a `(sender_id, nonce)` this client accepted
    /// before (A3). Call [`Messenger::handed_on`] once shown.
    pub async fn receive(&self, wait_s: u64, max: u32) -> Result<Received, RemoteError> {
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
        let mut out = Received::default();
        for raw in got["messages"].as_array().into_iter().flatten() {
            let m: Delivered = match serde_json::from_value(raw.clone()) {
                Ok(m) => m,
                Err(e) => {
                    out.held.push(format!(
                        "a malformed item from the server was skipped: {}",
                        escape_inline(&e.to_string(), 200)
                    ));
                    continue;
                }
            };
            match self.check(&m).await {
                // Seen before, or twice in this one answer: a duplicate.
                Ok(item)
                    if item.verdict.is_ok()
                        && (self.seen.lock().await.contains(&m.sender_id, &m.nonce)
                            || out.accepted.iter().any(|(s, n, _)| *s == m.sender_id && *n == m.nonce)) =>
                {
                    out.duplicates.push(item.message_id);
                }
                Ok(item) => {
                    if item.verdict.is_ok() {
                        out.accepted
                            .push((m.sender_id.clone(), m.nonce.clone(), m.ts.parse().unwrap_or(0)));
                    }
                    out.items.push(item);
                }
                Err(why) => out.held.push(format!(
                    "message {} from {} kept for later: {why}",
                    escape_inline(&m.message_id, 24),
                    escape_inline(&m.sender_id, 64)
                )),
            }
        }
        Ok(out)
    }

    /// After `got` was shown: remembers its accepted messages (so a second
    /// delivery is dropped), then acknowledges what was shown and the
    /// duplicates. A failure to acknowledge only means they come back (and
    /// are then dropped as duplicates).
    pub async fn handed_on(&self, got: &Received) -> Result<(), String> {
        {
            let mut seen = self.seen.lock().await;
            for (sender, nonce, ts) in &got.accepted {
                seen.insert(sender, nonce, *ts);
            }
            let dropped = seen.prune(now_ms(), self.rules.seen_window_ms(), DEFAULT_MAX_SEEN);
            if dropped > 0 {
                tracing::warn!(dropped, "seen-set full: the oldest entries were dropped");
            }
            let text = serde_json::to_vec(&*seen).expect("a seen-set serialises");
            crate::files::write_atomic(&self.seen_path, &text, 0o600, crate::files::Existing::Replace)
                .map_err(|e| format!("cannot save {}: {e:#}", self.seen_path.display()))?;
        }
        let ids: Vec<String> = got
            .items
            .iter()
            .map(|i| i.ack_id().to_owned())
            .chain(got.duplicates.iter().cloned())
            .collect();
        self.ack(&ids).await.map_err(|e| e.to_string())
    }

    /// Sends, then waits up to `timeout_s` for the recipient's answer by
    /// reading our own queue with leases: the answer is verified before
    /// anything is removed, and other messages that arrive meanwhile stay
    /// queued (they come back when their lease ends). The server's
    /// `send_message_and_wait` is not used: it removes the reply before
    /// this client could check it.
    pub async fn send_and_wait(
        &self,
        to: &str,
        text: &str,
        in_reply_to: Option<&str>,
        seal: Option<bool>,
        timeout_s: u64,
    ) -> Result<(Value, bool, Option<Item>)> {
        let (sent, sealed) = self.send(to, text, in_reply_to, seal, None).await?;
        let id = sent["message_id"].as_str().unwrap_or_default().to_owned();
        let deadline = Instant::now() + Duration::from_secs(timeout_s);
        loop {
            let left = deadline.saturating_duration_since(Instant::now()).as_secs();
            let mut got = self.receive(left, 100).await?;
            // A reply to this message first, else the first verified one from `to`.
            let pick = got
                .items
                .iter()
                .position(|i| i.verdict.is_ok() && i.from == to && i.in_reply_to == id)
                .or_else(|| got.items.iter().position(|i| i.verdict.is_ok() && i.from == to));
            if let Some(at) = pick {
                let reply = got.items.swap_remove(at);
                got.items = vec![reply.clone()];
                got.accepted.retain(|(s, ..)| s == to);
                got.accepted.truncate(1);
                self.handed_on(&got).await.map_err(|e| anyhow::anyhow!(e))?;
                return Ok((sent, sealed, Some(reply)));
            }
            // Nothing from `to` yet: drop duplicates, leave the rest leased.
            if !got.duplicates.is_empty() {
                let _ = self.ack(&got.duplicates).await;
            }
            if left == 0 {
                return Ok((sent, sealed, None));
            }
        }
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

/// What one read found.
#[derive(Debug, Default)]
pub struct Received {
    /// Checked items to show, verified or rejected.
    pub items: Vec<Item>,
    /// Notes on items kept for later.
    pub held: Vec<String>,
    /// Ids of second deliveries of messages accepted before: dropped.
    pub duplicates: Vec<String>,
    /// `(sender_id, nonce, ts)` of each verified item, for the seen-set.
    accepted: Vec<(String, String, u64)>,
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
