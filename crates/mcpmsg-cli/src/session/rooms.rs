//! Rooms and pairing as one member (PROTOCOL §15, §16): every statement
//! signed at the head of a log this client verified itself, every message
//! sealed only to the members of that verified log, and every room message
//! received checked against it.
//!
//! A member this client never pinned is pinned on first sight of a
//! verified log (trust on first use, as `mcpmsg recipients add` without
//! `--fingerprint`), and from then on held to its pin: a server that
//! hands out a forked or rolled-back log for it is caught.

use std::collections::BTreeMap;

use mcpmsg_core::protocol::room::{self, check_message, Op, RoomSealParts, Trust, VerifiedRoom};
use mcpmsg_core::protocol::tools::{
    EnterQueueArgs, EnterQueueResult, GetRoomLogArgs, ListRoomsArgs, RoomChange, RoomDelivered, RoomEntry, RoomLog,
    RoomSendResult, SendRoomMessageArgs, SendSignalArgs, SignalDelivered, SignalSent,
};

use super::peers::LogTrouble;
use super::receive::Received;
use super::*;
use crate::error::verify_failed;

/// Verified key logs with acceptance times, by client id.
type Logs = BTreeMap<String, (KelState, Vec<u64>)>;

/// The rooms verified while judging one answer, by room id: a batch of a
/// room's messages fetches and verifies its log once.
pub(super) type VerifiedRooms = HashMap<String, (VerifiedRoom, Logs)>;

impl Session {
    /// `who`'s log as the server gives it.
    async fn keys_of(&self, who: &str) -> Result<mcpmsg_core::protocol::tools::ClientKeysResult, LogTrouble> {
        self.remote
            .call(|| GetClientKeysArgs {
                client_id: who.to_owned(),
            })
            .await
            .map_err(|e| LogTrouble::from_remote(who, e))
    }

    /// A member's verified log: its pin's, or, never seen before, pinned
    /// now from the server's copy.
    pub(super) async fn member_log(&self, who: &str) -> Result<(KelState, Vec<u64>), LogTrouble> {
        if who == self.me {
            let (_, state) = self
                .id
                .lock()
                .await
                .kel()
                .map_err(|e| LogTrouble::Definite(format!("{e:#}")))?;
            let got = self.keys_of(who).await?;
            let at = got.accepted_at.iter().filter_map(|s| s.parse().ok()).collect();
            return Ok((state, at));
        }
        if self.pinned(who).await.is_none() {
            let got = self.keys_of(who).await?;
            let state = kel::verify_log(&got.kel)
                .map_err(|e| LogTrouble::Definite(format!("the log of {who} does not verify: {e}")))?;
            let mut id = self.id.lock().await;
            crate::recipients::pin(
                &mut id,
                who,
                &state,
                None,
                Some("a room member, pinned on first sight".into()),
            );
            if let Err(e) = id.save_config() {
                tracing::warn!(error = %format!("{e:#}"), "could not save a new member's pin");
            }
            tracing::warn!(client_id = who, fingerprint = %state.fingerprint(), "pinned a room member on first sight");
        }
        self.peer_log(who).await
    }

    /// Fetches room `room_id`'s log and verifies it as PROTOCOL §15a says,
    /// with every signer's and consenter's log checked against its pin.
    pub async fn verified_room(&self, room_id: &str) -> Result<(VerifiedRoom, Logs)> {
        let log: RoomLog = self
            .signed(|| GetRoomLogArgs {
                client_id: self.me.clone(),
                room_id: room_id.to_owned(),
                ..Default::default()
            })
            .await?;
        let mut logs = Logs::new();
        let signers = log.statements.iter().map(|s| &s.client_id);
        for who in signers.chain(log.consents.iter().map(|c| &c.client_id)) {
            if !logs.contains_key(who) {
                let got = self.member_log(who).await.map_err(|t| anyhow::anyhow!(t.text()))?;
                logs.insert(who.clone(), got);
            }
        }
        let accepted: Vec<u64> = log.accepted_at.iter().map(|t| t.parse().unwrap_or(0)).collect();
        let server_key = self.server_key().await?;
        let trust = Trust {
            logs: &logs,
            server_key: Some(&server_key),
            rules: self.rules,
        };
        let room = room::verify_log(&log.statements, &accepted, &log.consents, trust).map_err(|e| {
            verify_failed(format!(
                "the log of room {room_id} does not verify, so nothing is sealed to it: {e}"
            ))
        })?;
        Ok((room, logs))
    }

    /// Signs `op` at the head of the log this client verified (`None` for
    /// a create) and has the server append it.
    pub async fn change_room(&self, room_id: Option<&str>, op: Op, member: &str, title: &str) -> Result<RoomChange> {
        let at = match room_id {
            Some(id) => Some(self.verified_room(id).await?.0.state),
            None => None,
        };
        let statement = room::statement(at.as_ref(), op, &self.me, member, title);
        Ok(self.signed(|| statement.clone()).await?)
    }

    /// The rooms this client is a member of, as the server reads them.
    pub async fn rooms(&self) -> Result<Vec<RoomEntry>> {
        let list = self
            .signed(|| ListRoomsArgs {
                client_id: self.me.clone(),
                ..Default::default()
            })
            .await?;
        Ok(list.rooms)
    }

    /// Sends `text` to room `room_id`, sealed (unless `seal` is false) to
    /// exactly the other members of the log this client verified, under
    /// their current sealing keys. A membership that moved meanwhile
    /// (`stale_epoch`) is verified again and the message sealed again, once.
    pub async fn send_to_room(&self, room_id: &str, text: &str, seal: bool) -> Result<RoomSendResult> {
        for attempt in 0..2 {
            let (room, logs) = self.verified_room(room_id).await?;
            let nonce = new_nonce();
            let parts = RoomSealParts::now(&self.me, &room.state, &nonce);
            let m = if seal {
                let others: Vec<(&str, &SealingPublicKey)> = room
                    .state
                    .members()
                    .iter()
                    .filter(|m| **m != self.me)
                    .map(|m| (m.as_str(), &logs[m].0.current().sealing_key))
                    .collect();
                SendRoomMessageArgs::seal_and_sign(self.signing(), parts, &others, text)
                    .context("cannot seal to the room's members")?
            } else {
                SendRoomMessageArgs::sign_plain(self.signing(), parts, "text/markdown", text)
            };
            match self.as_me(|| m.clone()).await {
                Err(e) if e.code() == Some("stale_epoch") && attempt == 0 => continue,
                other => return Ok(crate::connection::typed::<SendRoomMessageArgs>(other?)?),
            }
        }
        unreachable!("the second attempt returns")
    }

    /// Checks a room message against the room's log, verified now. The
    /// outer `Err` is a server that could not be asked (the message stays
    /// leased and comes back); the inner one a rejection.
    pub(super) async fn check_room_message(
        &self,
        m: &RoomDelivered,
        verified: &mut VerifiedRooms,
    ) -> Result<Result<Opened, String>, String> {
        if let Some((room, logs)) = verified.get(&m.room_id) {
            return Ok(self.check_in_room(m, room, logs));
        }
        let (room, logs) = match self.verified_room(&m.room_id).await {
            Ok(v) => v,
            Err(e) => {
                let transient = e
                    .downcast_ref::<ServerError>()
                    .is_some_and(|s| matches!(s.code(), None | Some("unavailable") | Some("rate_limited")));
                return if transient {
                    Err(format!("{e:#}"))
                } else {
                    Ok(Err(format!("{e:#}")))
                };
            }
        };
        let verdict = self.check_in_room(m, &room, &logs);
        verified.insert(m.room_id.clone(), (room, logs));
        Ok(verdict)
    }

    fn check_in_room(&self, m: &RoomDelivered, room: &VerifiedRoom, logs: &Logs) -> Result<Opened, String> {
        let (state, at) = logs
            .get(&m.sender_id)
            .cloned()
            .ok_or_else(|| format!("{} never acted in room {}", m.sender_id, m.room_id))?;
        let sender = SenderLog {
            state: &state,
            accepted_at: Some(&at),
        };
        check_message(m, &self.me, room, &sender, &self.sealing(), self.rules, now_ms()).map(|o| Opened {
            text: o.text,
            sealed: o.sealed,
        })
    }

    /// Blocks `other` (or unblocks it); this client's block list after.
    pub async fn block(&self, other: &str, block: bool) -> Result<Vec<String>> {
        let action = if block { "block" } else { "unblock" };
        let r = self
            .signed(|| mcpmsg_core::protocol::tools::BlockClientArgs {
                client_id: self.me.clone(),
                blocked_id: other.to_owned(),
                action: action.to_owned(),
                ..Default::default()
            })
            .await?;
        Ok(r.blocked)
    }

    /// Leaves the pairing queue; whether this client was in it.
    pub async fn leave_queue(&self) -> Result<bool> {
        let r = self
            .signed(|| mcpmsg_core::protocol::tools::LeaveQueueArgs {
                client_id: self.me.clone(),
                ..Default::default()
            })
            .await?;
        Ok(r.removed)
    }

    /// Enters the pairing queue.
    pub async fn enter_queue(&self, display_name: &str, interests: &str, wait_s: u64) -> Result<EnterQueueResult> {
        Ok(self
            .signed(|| EnterQueueArgs {
                client_id: self.me.clone(),
                display_name: display_name.to_owned(),
                interests: interests.to_owned(),
                wait_s: wait_s.to_string(),
                ..Default::default()
            })
            .await?)
    }
}

impl Session {
    /// Tells the other members of room `room_id` that this client is typing
    /// (or `stopped`). The server checks membership; a signal carries no
    /// content, so nothing is sealed.
    pub async fn signal(&self, room_id: &str, signal: &str) -> Result<SignalSent> {
        Ok(self
            .signed(|| SendSignalArgs {
                sender_id: self.me.clone(),
                room_id: room_id.to_owned(),
                signal: signal.to_owned(),
                ..Default::default()
            })
            .await?)
    }

    /// Checks a typing signal against the room's log, verified now (once
    /// per read); a verified one is kept, anything else is a note. A signal
    /// is never acknowledged (reading it removed it), so one that cannot be
    /// checked now is dropped, not kept for later.
    pub(super) async fn take_signal(&self, raw: &Value, out: &mut Received, verified: &mut VerifiedRooms) {
        let s: SignalDelivered = match serde_json::from_value(raw.clone()) {
            Ok(s) => s,
            Err(e) => {
                return out.held.push(format!(
                    "a malformed signal from the server was skipped: {}",
                    escape_inline(&e.to_string(), 200)
                ))
            }
        };
        if !verified.contains_key(&s.room_id) {
            match self.verified_room(&s.room_id).await {
                Ok(v) => {
                    verified.insert(s.room_id.clone(), v);
                }
                Err(e) => {
                    return out.held.push(format!(
                        "a signal for room {} was dropped: {}",
                        escape_inline(&s.room_id, 24),
                        escape_inline(&format!("{e:#}"), 300)
                    ))
                }
            }
        }
        let (room, logs) = &verified[&s.room_id];
        let checked = match logs.get(&s.sender_id) {
            Some((state, at)) => {
                let sender = SenderLog {
                    state,
                    accepted_at: Some(at),
                };
                room::check_signal(&s, &self.me, room, &sender, self.rules, now_ms())
            }
            None => Err(format!("{} never acted in room {}", s.sender_id, s.room_id)),
        };
        match checked {
            Ok(()) => out.add_signal(super::receive::Signal {
                room_id: s.room_id,
                from: s.sender_id,
                signal: s.signal,
                expires_at: s.expires_at.parse().unwrap_or(0),
            }),
            Err(why) => out.held.push(format!(
                "a signal claimed to be from {} was rejected: {}",
                escape_inline(&s.sender_id, 64),
                escape_inline(&why, 300)
            )),
        }
    }
}
