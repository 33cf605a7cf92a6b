//! The room and pairing tools (PROTOCOL §15, §16): one small function
//! each, as in `handlers`.

use super::handlers::Answer;
use super::{relative, McpServer};
use crate::broker::{Entered, Refusal, RoomSent};
use mcpmsg_core::protocol::escape_inline;
use mcpmsg_core::protocol::now_ms;
use mcpmsg_core::protocol::room::RoomState;
use mcpmsg_core::protocol::tools::{
    self as wire, BlockClientArgs, BroadcastArgs, ChangeRoomArgs, EnterQueueArgs, GetRoomLogArgs, LeaveQueueArgs,
    ListRoomsArgs, SendRoomMessageArgs, SendSignalArgs,
};

fn entry(s: &RoomState) -> wire::RoomEntry {
    wire::RoomEntry {
        room_id: s.room_id().to_owned(),
        title: s.title().to_owned(),
        owner: s.owner().to_owned(),
        members: s.members().iter().cloned().collect(),
        epoch: s.epoch().to_string(),
    }
}

impl McpServer {
    pub(super) async fn change_room(&self, args: ChangeRoomArgs) -> Result<Answer<ChangeRoomArgs>, Refusal> {
        let (op, actor, member) = (args.op.clone(), args.client_id.clone(), args.member.clone());
        let r = self.broker.change_room(args).await?;
        let s = &r.state;
        let what = match op.as_str() {
            "create" => format!("`{actor}` created room `{}`", s.room_id()),
            "invite" => format!(
                "`{actor}` invited `{member}` to room `{}` (they join with their own statement)",
                s.room_id()
            ),
            "join" => format!("`{actor}` joined room `{}`", s.room_id()),
            "leave" => format!("`{actor}` left room `{}`", s.room_id()),
            _ => format!("`{actor}` removed `{member}` from room `{}`", s.room_id()),
        };
        let md = format!(
            "{what}. Log at seq {}, head `{}`, epoch {}; {} member(s).",
            s.len() - 1,
            s.head(),
            s.epoch(),
            s.members().len()
        );
        let out = wire::RoomChange {
            room_id: s.room_id().to_owned(),
            seq: (s.len() - 1).to_string(),
            head: s.head().to_owned(),
            epoch: s.epoch().to_string(),
            accepted_at: r.accepted_at.to_string(),
        };
        Ok((md, out))
    }

    pub(super) async fn get_room_log(&self, args: GetRoomLogArgs) -> Result<Answer<GetRoomLogArgs>, Refusal> {
        let (log, state) = self.broker.room_log(args).await?;
        let md = format!(
            "Room `{}` ({}): {} statement(s), epoch {}, members {}. Verify every statement against its signer's key event log before you seal to them.",
            state.room_id(),
            escape_inline(state.title(), 128),
            log.len(),
            state.epoch(),
            state.members().iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
        );
        let out = wire::RoomLog {
            room_id: state.room_id().to_owned(),
            accepted_at: log.iter().map(|e| e.accepted_at.to_string()).collect(),
            consents: log.first().map(|e| e.consents.clone()).unwrap_or_default(),
            statements: log.into_iter().map(|e| e.statement).collect(),
            members: state.members().iter().cloned().collect(),
            epoch: state.epoch().to_string(),
        };
        Ok((md, out))
    }

    pub(super) async fn list_rooms(&self, args: ListRoomsArgs) -> Result<Answer<ListRoomsArgs>, Refusal> {
        let rooms = self.broker.list_rooms(args).await?;
        let mut md = format!("**{} room(s)**\n\n", rooms.len());
        for s in &rooms {
            md.push_str(&format!(
                "- `{}` {}: owner `{}`, {} member(s), epoch {}\n",
                s.room_id(),
                escape_inline(s.title(), 128),
                s.owner(),
                s.members().len(),
                s.epoch()
            ));
        }
        let rooms = rooms.iter().map(entry).collect();
        Ok((md, wire::RoomList { rooms }))
    }

    pub(super) async fn send_room_message(
        &self,
        args: SendRoomMessageArgs,
    ) -> Result<Answer<SendRoomMessageArgs>, Refusal> {
        let room = args.room_id.clone();
        let r = self.broker.send_to_room(args).await?;
        let md = if r.duplicate {
            format!(
                "Message `{}` to room `{room}` was accepted before; nothing new was queued.",
                r.message_id
            )
        } else {
            format!(
                "Sent message `{}` to room `{room}`: queued for {} member(s), {} skipped; expires {}.",
                r.message_id,
                r.delivered.len(),
                r.skipped.len(),
                relative(now_ms(), r.expires_at)
            )
        };
        Ok((md, r.into()))
    }

    pub(super) async fn broadcast(&self, args: BroadcastArgs) -> Result<Answer<BroadcastArgs>, Refusal> {
        let r = self.broker.broadcast(args).await?;
        let md = if r.duplicate {
            format!(
                "Broadcast `{}` was accepted before; nothing new was queued.",
                r.message_id
            )
        } else {
            let skipped: Vec<String> = r.skipped.iter().map(|(c, why)| format!("`{c}` ({why})")).collect();
            format!(
                "Broadcast `{}`: queued for {} client(s){}; expires {}.",
                r.message_id,
                r.delivered.len(),
                if skipped.is_empty() {
                    String::new()
                } else {
                    format!(", skipped {}", skipped.join(", "))
                },
                relative(now_ms(), r.expires_at)
            )
        };
        Ok((md, r.into()))
    }
}

/// A fan-out's result as a room send's wire result.
impl From<RoomSent> for wire::RoomSendResult {
    fn from(r: RoomSent) -> Self {
        Self {
            message_id: r.message_id,
            duplicate: r.duplicate,
            received_at: r.received_at.to_string(),
            expires_at: r.expires_at.to_string(),
            delivered: r.delivered,
            skipped: wire_skipped(r.skipped),
        }
    }
}

/// A fan-out's result as a broadcast's wire result.
impl From<RoomSent> for wire::BroadcastResult {
    fn from(r: RoomSent) -> Self {
        Self {
            message_id: r.message_id,
            duplicate: r.duplicate,
            received_at: r.received_at.to_string(),
            expires_at: r.expires_at.to_string(),
            delivered: r.delivered,
            skipped: wire_skipped(r.skipped),
        }
    }
}

fn wire_skipped(skipped: Vec<(String, &'static str)>) -> Vec<wire::Skipped> {
    skipped
        .into_iter()
        .map(|(member, reason)| wire::Skipped {
            member,
            reason: reason.to_owned(),
        })
        .collect()
}

impl McpServer {
    pub(super) async fn enter_queue(&self, args: EnterQueueArgs) -> Result<Answer<EnterQueueArgs>, Refusal> {
        let out = match self.broker.enter_queue(args).await? {
            Entered::Paired { room_id, partner_id } => {
                let md = format!(
                    "Paired with `{partner_id}` in room `{room_id}`: chatroom.found in your inbox has their name and key log head to pin."
                );
                let out = wire::EnterQueueResult {
                    status: "paired".into(),
                    room_id: Some(room_id),
                    partner_id: Some(partner_id),
                    until: None,
                };
                return Ok((md, out));
            }
            Entered::Waiting(until) => wire::EnterQueueResult {
                status: "waiting".into(),
                room_id: None,
                partner_id: None,
                until: Some(until.to_string()),
            },
        };
        let md =
            "Waiting for a pen pal: chatroom.found arrives in your inbox when someone is paired with you.".to_owned();
        Ok((md, out))
    }

    pub(super) async fn leave_queue(&self, args: LeaveQueueArgs) -> Result<Answer<LeaveQueueArgs>, Refusal> {
        let removed = self.broker.leave_queue(args).await?;
        let md = if removed {
            "Left the pairing queue."
        } else {
            "You were not in the pairing queue."
        };
        Ok((md.to_owned(), wire::LeaveQueueResult { removed }))
    }
}

impl McpServer {
    pub(super) async fn send_signal(&self, args: SendSignalArgs) -> Result<Answer<SendSignalArgs>, Refusal> {
        let (signal, room) = (args.signal.clone(), args.room_id.clone());
        let left = self.broker.send_signal(args).await?;
        let md = format!(
            "Signalled `{signal}` in room `{room}` to {} member(s){}; it lapses {}.",
            left.delivered.len(),
            if left.skipped.is_empty() {
                String::new()
            } else {
                format!(" ({} skipped: they hold too many signals)", left.skipped.len())
            },
            relative(now_ms(), left.expires_at)
        );
        let skipped = left
            .skipped
            .into_iter()
            .map(|member| wire::Skipped {
                member,
                reason: "signals_full".to_owned(),
            })
            .collect();
        Ok((
            md,
            wire::SignalSent {
                delivered: left.delivered,
                skipped,
                expires_at: left.expires_at.to_string(),
            },
        ))
    }

    pub(super) async fn block_client(&self, args: BlockClientArgs) -> Result<Answer<BlockClientArgs>, Refusal> {
        let (who, verb) = (
            args.blocked_id.clone(),
            if args.action == "block" { "Blocked" } else { "Unblocked" },
        );
        let blocked = self.broker.block_client(args).await?;
        let md = format!("{verb} `{who}`; you block {} client(s).", blocked.len());
        Ok((md, wire::BlockList { blocked }))
    }
}
