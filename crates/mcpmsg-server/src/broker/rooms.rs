//! Rooms (PROTOCOL §15): membership statements appended to a room's log,
//! reading it, listing a client's rooms.
//!
//! The server applies exactly the rules every member re-checks
//! (`mcpmsg_core::protocol::room::RoomState`); the signature of a statement
//! is the signature of the request that carries it, so authentication
//! checks it once and the log keeps it for members to check again. The
//! stored log is read and replayed per request rather than cached: it is
//! short (at most `--max-room-log` statements, no signatures re-checked)
//! and always current, on every node.

use std::collections::BTreeMap;

use mcpmsg_core::protocol::room::{Op, RoomError, RoomRule, RoomState};
use mcpmsg_core::protocol::tools::{ChangeRoomArgs, GetRoomLogArgs, ListRoomsArgs};
use mcpmsg_core::protocol::{check_client_id, check_message_id, now_ms, ErrorCode};

use super::auth::{Against, Freshness, SignedCall};
use super::{Broker, Refusal};
use crate::store::{LoggedStatement, RoomAppend};

/// A statement accepted into a room's log.
#[derive(Debug, Clone)]
pub struct RoomChanged {
    /// The log after it.
    pub state: RoomState,
    /// When it was accepted.
    pub accepted_at: u64,
}

impl From<RoomError> for Refusal {
    fn from(e: RoomError) -> Self {
        let code = match e.rule {
            RoomRule::Malformed => ErrorCode::InvalidArgument,
            RoomRule::NotAllowed => ErrorCode::NotMember,
            RoomRule::Stale => ErrorCode::StaleEpoch,
        };
        Refusal::new(code, e.message)
    }
}

fn unknown_room(room_id: &str) -> Refusal {
    Refusal::new(
        ErrorCode::UnknownRoom,
        format!("room {room_id} does not exist (its members all left, or the id is wrong); list_rooms shows yours"),
    )
}

pub(super) fn stale(state: &RoomState) -> Refusal {
    Refusal::new(
        ErrorCode::StaleEpoch,
        format!(
            "room {} changed: its log is at seq {} (epoch {}); fetch it with get_room_log, verify it, and try again",
            state.room_id(),
            state.len(),
            state.epoch()
        ),
    )
}

/// What this node last read of each room's log, by room id: bounded
/// (cleared when full, like the key log cache); always checked against the
/// store before it is acted on (see `send_to_room`).
pub(super) struct RoomCache {
    map: std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<RoomState>>>,
    max: usize,
}

impl RoomCache {
    pub(super) fn new(max: usize) -> Self {
        Self {
            map: Default::default(),
            max: max.max(1),
        }
    }

    fn get(&self, room_id: &str) -> Option<std::sync::Arc<RoomState>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).get(room_id).cloned()
    }

    fn put(&self, state: std::sync::Arc<RoomState>) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.max {
            map.clear();
        }
        map.insert(state.room_id().to_owned(), state);
    }
}

impl Broker {
    /// The room's state: this node's copy unless `fresh`, else (or when it
    /// has none) read from the store.
    pub(super) async fn room_state(&self, room_id: &str, fresh: bool) -> Result<std::sync::Arc<RoomState>, Refusal> {
        if !fresh {
            if let Some(s) = self.room_cache.get(room_id) {
                return Ok(s);
            }
        }
        let (_, state) = self.read_room(room_id).await?;
        Ok(std::sync::Arc::new(state))
    }

    /// A room's stored log and what it says, or `unknown_room`.
    pub(super) async fn read_room(&self, room_id: &str) -> Result<(Vec<LoggedStatement>, RoomState), Refusal> {
        let log = self.store.room(room_id).await?;
        if log.is_empty() {
            return Err(unknown_room(room_id));
        }
        let statements: Vec<ChangeRoomArgs> = log.iter().map(|e| e.statement.clone()).collect();
        let state = RoomState::replay(&statements).map_err(|(i, e)| {
            tracing::error!(room_id, index = i, error = %e, "a stored room log does not replay");
            Refusal::new(ErrorCode::Unavailable, "the store is unavailable; try again shortly")
        })?;
        self.room_cache.put(std::sync::Arc::new(state.clone()));
        Ok((log, state))
    }

    /// `change_room`: checks, authenticates and appends one membership
    /// statement, then tells whom it concerns (events of PROTOCOL §15).
    pub async fn change_room(&self, args: ChangeRoomArgs) -> Result<RoomChanged, Refusal> {
        check_client_id("client_id", &args.client_id)?;
        let op = Op::parse(&args.op)
            .filter(|op| *op != Op::Pair)
            .ok_or_else(|| Refusal::invalid("op: one of create, invite, join, leave, remove (pair is the server's)"))?;
        if op != Op::Create {
            check_message_id("room_id", &args.room_id)?;
        }
        let call = SignedCall::of(&args, now_ms());
        self.authenticate(&call, Against::Stored, Freshness::Once).await?;
        let (before, state) = match op {
            Op::Create => (None, RoomState::create(&args)?),
            _ => {
                let (log, mut state) = self.read_room(&args.room_id).await?;
                let before = state.clone();
                state.apply(&args)?;
                (Some((log.len() as u64, before)), state)
            }
        };
        self.check_room_limits(op, &args, before.as_ref().map(|(_, s)| s), &state)
            .await?;
        self.admit(call.client_id, call.now).await?;
        self.claim(&call).await?;
        let entry = LoggedStatement {
            statement: args.clone(),
            accepted_at: call.now,
            consents: Vec::new(),
        };
        let subject = match op {
            Op::Remove => args.member.as_str(),
            _ => args.client_id.as_str(),
        };
        // A pen-pal room ends when either leaves: both are unindexed and
        // the log is deleted.
        let ends = state.members().is_empty() || (state.is_pair() && op == Op::Leave);
        let mut subjects = vec![subject];
        if ends {
            subjects.extend(state.members().iter().map(String::as_str));
        }
        let step = RoomAppend {
            room_id: state.room_id(),
            expected_len: before.as_ref().map_or(0, |(len, _)| *len),
            entry: &entry,
            joins: if matches!(op, Op::Create | Op::Join) {
                &subjects
            } else {
                &[]
            },
            leaves: if matches!(op, Op::Leave | Op::Remove) {
                &subjects
            } else {
                &[]
            },
            empties: ends,
        };
        if !self.store.append_room(step).await? {
            let (_, now_state) = self.read_room(state.room_id()).await?;
            return Err(stale(&now_state));
        }
        if ends && state.is_pair() {
            self.store.mark_pair_room(state.room_id(), false).await?;
        }
        self.announce(op, &args, &state).await;
        Ok(RoomChanged {
            state,
            accepted_at: call.now,
        })
    }

    /// The bounds a statement must stay within: members (and invitations)
    /// per room, rooms per client, statements per log; and an invitee must
    /// be registered.
    async fn check_room_limits(
        &self,
        op: Op,
        args: &ChangeRoomArgs,
        before: Option<&RoomState>,
        after: &RoomState,
    ) -> Result<(), Refusal> {
        let c = &self.config;
        // A full log takes no invitation or join, but always a leave or a
        // removal: those only shrink the membership, so they are bounded by
        // it, and nobody is ever stuck in a room.
        let grows = matches!(op, Op::Invite | Op::Join);
        if grows && before.is_some_and(|b| b.len() as usize >= c.max_room_log) {
            return Err(Refusal::new(
                ErrorCode::RoomFull,
                format!(
                    "room {} holds its most statements, {} (--max-room-log); create a new room",
                    after.room_id(),
                    c.max_room_log
                ),
            ));
        }
        match op {
            Op::Invite => {
                if after.members().len() + after.invited_count() > c.max_room_members {
                    return Err(Refusal::new(
                        ErrorCode::RoomFull,
                        format!(
                            "room {} has its most members and open invitations, {} (--max-room-members)",
                            after.room_id(),
                            c.max_room_members
                        ),
                    ));
                }
                if self.store.recent_identity(&args.member).await?.is_none() {
                    return Err(Refusal::new(
                        ErrorCode::UnknownRecipient,
                        format!(
                            "member: {} never checked in; only registered clients can be invited",
                            args.member
                        ),
                    ));
                }
            }
            Op::Create | Op::Join => {
                let rooms = self.store.rooms_of(&args.client_id, c.max_rooms_per_client + 1).await?;
                if rooms.len() >= c.max_rooms_per_client {
                    return Err(Refusal::new(
                        ErrorCode::RoomFull,
                        format!(
                            "{} is a member of its most rooms, {} (--max-rooms-per-client); leave one first",
                            args.client_id, c.max_rooms_per_client
                        ),
                    ));
                }
            }
            Op::Leave | Op::Remove | Op::Pair => {}
        }
        Ok(())
    }

    /// Events for a membership change: `room.invited` to the invitee,
    /// `room.member_joined` and `partner.disconnected` (reason `left` or
    /// `removed`) to the other members, `room.removed` to a removed member.
    /// A poke, not the truth (the log is): an event a full queue refuses is
    /// logged and dropped.
    async fn announce(&self, op: Op, args: &ChangeRoomArgs, state: &RoomState) {
        let base = |extra: &[(&str, &str)]| {
            let mut data = BTreeMap::from([
                ("room_id".to_owned(), state.room_id().to_owned()),
                ("epoch".to_owned(), state.epoch().to_string()),
            ]);
            data.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
            data
        };
        let actor = args.client_id.as_str();
        let (event, data, to): (&str, _, Vec<&str>) = match op {
            Op::Create | Op::Pair => return,
            Op::Invite => (
                "room.invited",
                base(&[("by", actor), ("title", state.title())]),
                vec![args.member.as_str()],
            ),
            Op::Join => (
                "room.member_joined",
                base(&[("member", actor)]),
                self.others(state, actor),
            ),
            Op::Leave => (
                "partner.disconnected",
                base(&[("member", actor), ("reason", "left")]),
                self.others(state, actor),
            ),
            Op::Remove => {
                let removed = base(&[("by", actor)]);
                if let Err(e) = self.emit_event(&args.member, "room.removed", removed).await {
                    tracing::info!(error = %e, "room.removed not queued");
                }
                (
                    "partner.disconnected",
                    base(&[("member", args.member.as_str()), ("reason", "removed")]),
                    self.others(state, actor),
                )
            }
        };
        for member in to {
            if let Err(e) = self.emit_event(member, event, data.clone()).await {
                tracing::info!(error = %e, event, "room event not queued");
            }
        }
    }

    fn others<'s>(&self, state: &'s RoomState, but: &str) -> Vec<&'s str> {
        state
            .members()
            .iter()
            .map(String::as_str)
            .filter(|m| *m != but)
            .collect()
    }

    /// `get_room_log`: the whole log, for a member or an invitee.
    pub async fn room_log(&self, args: GetRoomLogArgs) -> Result<(Vec<LoggedStatement>, RoomState), Refusal> {
        check_client_id("client_id", &args.client_id)?;
        check_message_id("room_id", &args.room_id)?;
        let call = SignedCall::of(&args, now_ms());
        self.authenticate(&call, Against::Stored, Freshness::Once).await?;
        let (log, state) = self.read_room(&args.room_id).await?;
        if !state.is_member(&args.client_id) && !state.is_invited(&args.client_id) {
            return Err(Refusal::new(
                ErrorCode::NotMember,
                format!(
                    "{} is neither a member of room {} nor invited to it",
                    args.client_id, args.room_id
                ),
            ));
        }
        self.admit(call.client_id, call.now).await?;
        self.claim(&call).await?;
        Ok((log, state))
    }

    /// `list_rooms`: the rooms the caller is a member of, by id.
    pub async fn list_rooms(&self, args: ListRoomsArgs) -> Result<Vec<RoomState>, Refusal> {
        check_client_id("client_id", &args.client_id)?;
        self.accept_request(&args, Against::Stored, now_ms()).await?;
        let ids = self
            .store
            .rooms_of(&args.client_id, self.config.max_rooms_per_client)
            .await?;
        let mut rooms = Vec::with_capacity(ids.len());
        for id in ids {
            match self.read_room(&id).await {
                Ok((_, state)) if state.is_member(&args.client_id) => rooms.push(state),
                Ok(_) => {}
                Err(r) if r.code == ErrorCode::UnknownRoom => {}
                Err(r) => return Err(r),
            }
        }
        Ok(rooms)
    }
}
