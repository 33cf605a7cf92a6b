//! Receiving: checks each delivered item (A3), drops what was seen
//! before, keeps what cannot be judged yet leased, and acknowledges only
//! what was handed on.

use mcpmsg_core::protocol::server_statement::ServerEvent;
use mcpmsg_core::protocol::tools::RoomDelivered;
use serde_json::json;

use super::peers::LogTrouble;
use super::*;

/// What one read found.
#[derive(Debug, Default)]
pub struct Received {
    /// Checked items to show, verified or rejected.
    pub items: Vec<Item>,
    /// Notes on items kept for later.
    pub held: Vec<String>,
    /// Ids of second deliveries of messages accepted before: dropped.
    pub duplicates: Vec<String>,
    /// Verified typing signals, the newest per room and member. They are
    /// never acknowledged: reading them removed them.
    pub signals: Vec<Signal>,
    /// `(sender_id, nonce, ts)` of each verified item, for the seen-set.
    accepted: Vec<Accepted>,
}

/// A verified typing signal (PROTOCOL §15d).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    pub room_id: String,
    pub from: String,
    /// `typing` or `stopped`.
    pub signal: String,
    /// When the server says it lapses, Unix ms.
    pub expires_at: u64,
}

impl Signal {
    /// In words, for a person or a model.
    pub fn line(&self) -> String {
        let what = if self.signal == "typing" {
            "is typing"
        } else {
            "stopped typing"
        };
        format!("`{}` {what} in room `{}`", self.from, self.room_id)
    }

    pub fn json(&self) -> Value {
        json!({"room_id": self.room_id, "from": self.from, "signal": self.signal, "expires_at": self.expires_at.to_string()})
    }
}

/// A verified item's entry for the seen-set, with the id it was shown under.
#[derive(Debug, Clone)]
struct Accepted {
    message_id: String,
    sender: String,
    nonce: String,
    ts: u64,
}

impl Received {
    /// Adds what a later read found. An item leased again after its lease
    /// ended (the model had not fetched it yet) is kept once.
    pub fn merge(&mut self, later: Received) {
        for item in later.items {
            if !self.items.iter().any(|i| i.message_id == item.message_id) {
                self.items.push(item);
            }
        }
        for a in later.accepted {
            if !self.accepted.iter().any(|b| b.sender == a.sender && b.nonce == a.nonce) {
                self.accepted.push(a);
            }
        }
        self.held.extend(later.held);
        self.duplicates.extend(later.duplicates);
        for s in later.signals {
            self.add_signal(s);
        }
    }

    /// Keeps `s` in place of the same member's earlier signal in its room.
    pub(super) fn add_signal(&mut self, s: Signal) {
        self.signals
            .retain(|o| (o.room_id.as_str(), o.from.as_str()) != (&s.room_id, &s.from));
        self.signals.push(s);
    }

    /// Drops signals that lapsed by `now`.
    pub fn drop_lapsed(&mut self, now: u64) {
        self.signals.retain(|s| s.expires_at > now);
    }

    /// Records a verified item for the seen-set, under the id it is shown by.
    pub(super) fn accept(&mut self, message_id: &str, sender: &str, nonce: &str, ts: u64) {
        self.accepted.push(Accepted {
            message_id: message_id.to_owned(),
            sender: sender.to_owned(),
            nonce: nonce.to_owned(),
            ts,
        });
    }

    /// Takes out the first verified event of type `event`, to hand on (and
    /// so acknowledge) alone.
    pub fn take_event(&mut self, event: &str) -> Option<Received> {
        let at = self
            .items
            .iter()
            .position(|i| i.verdict.is_ok() && i.event.as_deref() == Some(event))?;
        let item = self.items.remove(at);
        let entry = self
            .accepted
            .iter()
            .position(|a| a.message_id == item.message_id)
            .map(|k| self.accepted.remove(k));
        Some(Received {
            items: vec![item],
            accepted: entry.into_iter().collect(),
            ..Received::default()
        })
    }

    /// Takes out the answer from `to` to message `id`: a verified reply to
    /// it first, else the first verified item from `to`. What is taken is a
    /// `Received` of its own, to hand on (and so acknowledge) alone.
    pub fn take_answer(&mut self, to: &str, id: &str) -> Option<Received> {
        let at = self
            .items
            .iter()
            .position(|i| i.verdict.is_ok() && i.from == to && i.in_reply_to == id)
            .or_else(|| self.items.iter().position(|i| i.verdict.is_ok() && i.from == to))?;
        let reply = self.items.remove(at);
        // Its own entry for the seen-set (not another of `to`'s, which would
        // then be dropped as a duplicate when it comes back).
        let entry = self
            .accepted
            .iter()
            .position(|a| a.message_id == reply.message_id)
            .map(|k| self.accepted.remove(k));
        Some(Received {
            items: vec![reply],
            accepted: entry.into_iter().collect(),
            ..Received::default()
        })
    }
}

impl Session {
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
                let opened = match inbox::check(m, &self.me, &log, &self.sealing(), self.rules, now_ms()) {
                    Ok(opened) => opened,
                    Err(why) => return Ok(Item::rejected(m, why)),
                };
                let typed = match self.typed_view(&m.content_type, &opened.text).await {
                    Ok(t) => t,
                    Err(why) => return Ok(Item::rejected(m, why)),
                };
                Ok(Item {
                    message_id: m.message_id.clone(),
                    from: m.sender_id.clone(),
                    received_at: m.received_at.parse().unwrap_or(0),
                    in_reply_to: m.in_reply_to.clone(),
                    verdict: Ok(opened),
                    event: None,
                    room: None,
                    event_data: None,
                    broadcast: None,
                    typed,
                })
            }
            Err(LogTrouble::Transient(why)) => Err(escape_inline(&why, 300)),
            Err(trouble) => Ok(Item::rejected(m, trouble.text())),
        }
    }

    /// Reads up to `max` messages (waiting up to `wait_s` for the first),
    /// leased, and checks them. Returns what to show, notes on what was
    /// held back (it stays leased and comes back), and the ids of
    /// duplicates to drop: a `(sender_id, nonce)` this client accepted
    /// before (A3). Call [`Session::handed_on`] once shown.
    pub async fn receive(&self, wait_s: u64, max: u32) -> Result<Received, ServerError> {
        let got = self.fetch(wait_s, max).await?;
        Ok(self.judge(&got).await)
    }

    /// The first half of [`Session::receive`]: the server's answer, every
    /// item in it leased.
    pub async fn fetch(&self, wait_s: u64, max: u32) -> Result<Value, ServerError> {
        self.signed_untyped(|| GetMessagesArgs {
            client_id: self.me.clone(),
            max: Some(max.to_string()),
            wait_s: Some(wait_s.to_string()),
            ack: Some("manual".into()),
            ..Default::default()
        })
        .await
    }

    /// The second half of [`Session::receive`]: checks each item of a
    /// `get_messages` answer. The answer is read item by item: a malformed
    /// item is held back with a note, and does not hide the good ones
    /// beside it.
    pub async fn judge(&self, got: &Value) -> Received {
        let mut out = Received::default();
        let mut rooms = super::rooms::VerifiedRooms::new();
        for raw in got["messages"].as_array().into_iter().flatten() {
            match raw.get("kind").and_then(Value::as_str) {
                Some("event") => {
                    self.take_event(raw, &mut out).await;
                    continue;
                }
                Some("room_message") => {
                    self.take_room_message(raw, &mut out, &mut rooms).await;
                    continue;
                }
                Some("signal") => {
                    self.take_signal(raw, &mut out, &mut rooms).await;
                    continue;
                }
                Some("broadcast") => {
                    self.take_broadcast(raw, &mut out).await;
                    continue;
                }
                _ => {}
            }
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
                Ok(item) if item.verdict.is_ok() && self.seen_before(&out, &m.sender_id, &m.nonce).await => {
                    out.duplicates.push(item.message_id);
                }
                Ok(item) => {
                    if item.verdict.is_ok() {
                        out.accept(&item.message_id, &m.sender_id, &m.nonce, m.ts.parse().unwrap_or(0));
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
        out
    }

    /// Whether `(sender, nonce)` was accepted before, or earlier in this
    /// answer (PROTOCOL §5a step 7): a second delivery.
    pub(super) async fn seen_before(&self, out: &Received, sender: &str, nonce: &str) -> bool {
        self.seen.lock().await.contains(sender, nonce)
            || out.accepted.iter().any(|a| a.sender == sender && a.nonce == nonce)
    }

    /// Checks an event (PROTOCOL §14) against the pinned server key: shown
    /// in plain words when it verifies, as REJECTED when it does not.
    async fn take_event(&self, raw: &Value, out: &mut Received) {
        let id = escape_inline(raw.get("event_id").and_then(Value::as_str).unwrap_or("?"), 24);
        let rejected = |why: String| Item {
            message_id: id.clone(),
            from: "the server".into(),
            received_at: 0,
            in_reply_to: String::new(),
            verdict: Err(escape_inline(&why, 300)),
            event: Some("?".into()),
            room: None,
            event_data: None,
            broadcast: None,
            typed: None,
        };
        let event: ServerEvent = match serde_json::from_value(raw.clone()) {
            Ok(e) => e,
            Err(e) => return out.items.push(rejected(format!("a malformed event: {e}"))),
        };
        let key = match self.server_key().await {
            Ok(k) => k,
            Err(e) => return out.held.push(format!("event {id} kept for later: {e:#}")),
        };
        if let Err(e) = event.verify(&key, &self.me) {
            return out
                .items
                .push(rejected(format!("not a statement of the pinned server key: {e}")));
        }
        if self.seen_before(out, "", &event.event_id).await {
            return out.duplicates.push(event.event_id);
        }
        let members: Vec<String> = event
            .data
            .iter()
            .map(|(k, v)| format!("{} = {}", escape_inline(k, 64), escape_inline(v, 200)))
            .collect();
        let text = format!("event {}: {}", escape_inline(&event.event, 64), members.join(", "));
        let at = event.at.parse().unwrap_or(0);
        out.accept(&event.event_id, "", &event.event_id, at);
        out.items.push(Item {
            message_id: event.event_id,
            from: "the server".into(),
            received_at: at,
            in_reply_to: String::new(),
            verdict: Ok(Opened { text, sealed: false }),
            event: Some(event.event),
            room: None,
            event_data: Some(event.data),
            broadcast: None,
            typed: None,
        });
    }

    /// Checks a room message (PROTOCOL §15d) against the room's log,
    /// verified now: shown when it verifies, as REJECTED when it does not,
    /// kept leased when the server could not be asked.
    async fn take_room_message(&self, raw: &Value, out: &mut Received, rooms: &mut super::rooms::VerifiedRooms) {
        let m: RoomDelivered = match serde_json::from_value(raw.clone()) {
            Ok(m) => m,
            Err(e) => {
                return out.held.push(format!(
                    "a malformed room message from the server was skipped: {}",
                    escape_inline(&e.to_string(), 200)
                ))
            }
        };
        let verdict = match self.check_room_message(&m, rooms).await {
            Ok(Ok(opened)) => self
                .typed_view(&m.content_type, &opened.text)
                .await
                .map(|t| (opened, t)),
            Ok(Err(why)) => Err(why),
            Err(why) => {
                return out.held.push(format!(
                    "room message {} kept for later: {}",
                    escape_inline(&m.message_id, 24),
                    escape_inline(&why, 300)
                ))
            }
        };
        if verdict.is_ok() && self.seen_before(out, &m.sender_id, &m.nonce).await {
            return out.duplicates.push(m.message_id);
        }
        if verdict.is_ok() {
            out.accept(&m.message_id, &m.sender_id, &m.nonce, m.ts.parse().unwrap_or(0));
        }
        // A verified item's members were all checked (ids derived from the
        // signature and the verified log); a rejected one's are the
        // server's words, escaped.
        let ok = verdict.is_ok();
        let shown = |s: &str, n: usize| if ok { s.to_owned() } else { escape_inline(s, n) };
        let (verdict, typed) = match verdict {
            Ok((opened, typed)) => (Ok(opened), typed),
            Err(why) => (Err(why), None),
        };
        out.items.push(Item {
            message_id: shown(&m.message_id, 24),
            from: shown(&m.sender_id, 64),
            received_at: m.received_at.parse().unwrap_or(0),
            in_reply_to: shown(&m.in_reply_to, 24),
            event: None,
            room: Some(shown(&m.room_id, 24)),
            event_data: None,
            broadcast: None,
            typed,
            verdict: verdict.map_err(|why| escape_inline(&why, 300)),
        });
    }

    /// After `got` was shown: remembers its accepted messages (so a second
    /// delivery is dropped), then acknowledges what was shown and the
    /// duplicates. A failure to acknowledge only means they come back (and
    /// are then dropped as duplicates).
    pub async fn handed_on(&self, got: &Received) -> Result<(), String> {
        {
            let mut seen = self.seen.lock().await;
            let before = seen.len();
            for Accepted { sender, nonce, ts, .. } in &got.accepted {
                seen.insert(sender, nonce, *ts);
            }
            let dropped = seen.prune(now_ms(), self.rules.seen_window_ms(), DEFAULT_MAX_SEEN);
            if dropped > 0 {
                tracing::warn!(dropped, "seen-set full: the oldest entries were dropped");
            }
            // Written only when it changed: an empty read costs no disk write.
            if !got.accepted.is_empty() || seen.len() != before {
                let text = serde_json::to_vec(&*seen).expect("a seen-set serialises");
                crate::files::write_atomic(&self.seen_path, &text, 0o600, crate::files::Existing::Replace)
                    .map_err(|e| format!("cannot save {}: {e:#}", self.seen_path.display()))?;
            }
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
    ) -> Result<(SendResult, bool, Option<Item>)> {
        let (sent, sealed) = self.send(to, text, in_reply_to, seal).await?;
        let id = sent.message_id.clone();
        let deadline = Instant::now() + Duration::from_secs(timeout_s);
        loop {
            let left = deadline.saturating_duration_since(Instant::now()).as_secs();
            let mut got = self.receive(left, 100).await?;
            if let Some(answer) = got.take_answer(to, &id) {
                self.handed_on(&answer).await.map_err(|e| anyhow::anyhow!(e))?;
                return Ok((sent, sealed, answer.items.into_iter().next()));
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
    pub async fn ack(&self, ids: &[String]) -> Result<(), ServerError> {
        if ids.is_empty() {
            return Ok(());
        }
        let message_ids = ids.join(",");
        self.signed(|| AckMessagesArgs {
            client_id: self.me.clone(),
            message_ids: message_ids.clone(),
            ..Default::default()
        })
        .await
        .map(drop)
    }
}
