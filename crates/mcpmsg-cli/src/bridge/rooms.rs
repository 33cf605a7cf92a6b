//! The bridge's room and pairing tools (PROTOCOL §15, §16), for the model:
//! it names rooms and members; the bridge verifies each room's log, pins
//! its members, signs the statements and seals to the verified members.

use mcpmsg_core::protocol::room::Op;
use rmcp::model::{CallToolResult, JsonObject};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{describe, ok, tools, Bridge};

/// `create_room`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct CreateRoomArgs {
    /// The room's title (at most 128 characters).
    #[serde(default)]
    pub title: String,
}

/// `invite`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct InviteArgs {
    /// The room, as list_rooms shows it.
    pub room_id: String,
    /// The client id to invite; it joins with join_room.
    pub member: String,
}

/// `join_room`, `leave_chat`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct RoomArgs {
    /// The room, as list_rooms or the chatroom.found or room.invited event shows it.
    pub room_id: String,
}

/// `send_room_message`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct SendRoomArgs {
    /// The room, as list_rooms shows it.
    pub room_id: String,
    /// The message, as markdown text.
    pub message: String,
    /// Seal end to end to the room's verified members (default true).
    #[serde(default)]
    pub seal: Option<bool>,
}

/// `send_typing`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct TypingArgs {
    /// The room, as list_rooms shows it.
    pub room_id: String,
    /// Say you stopped typing instead (default false).
    #[serde(default)]
    pub stopped: bool,
}

/// `block_client`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct BlockArgs {
    /// The client id to block.
    pub client_id: String,
    /// Unblock it instead (default false).
    #[serde(default)]
    pub unblock: bool,
}

/// `enter_queue`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct EnterQueueArgs {
    /// The name your pen pal sees (optional).
    #[serde(default)]
    pub display_name: String,
    /// What you would like to talk about: tags of a-z, 0-9 and -, comma-separated (optional).
    #[serde(default)]
    pub interests: String,
    /// Seconds to wait in the queue for a partner (default 300).
    #[serde(default)]
    pub wait_s: Option<u64>,
}

/// The room tools' descriptions, for `tools::all`.
pub(super) fn all() -> Vec<rmcp::model::Tool> {
    use tools::{tool, NoArgs, KEYS};
    vec![
        tool::<EnterQueueArgs>("enter_queue", format!("Find a pen pal: enter the pairing queue. You are paired at random, preferring shared interests, in a two-member room; the chatroom.found event (read with get_messages) says with whom. {KEYS}")),
        tool::<NoArgs>("leave_queue", "Stop waiting for a pen pal.".into()),
        tool::<SendRoomArgs>("send_room_message", format!("Send a message to every other member of a room, sealed end to end to the members whose joining the bridge verified itself. {KEYS}")),
        tool::<RoomArgs>("leave_chat", "Leave a room. A pen-pal chat ends for both; your partner is told (partner.disconnected).".into()),
        tool::<NoArgs>("list_rooms", "The rooms you are a member of, with their titles and members.".into()),
        tool::<CreateRoomArgs>("create_room", format!("Create a room of your own; invite others with invite. {KEYS}")),
        tool::<InviteArgs>("invite", "Invite a client to a room you are a member of; it joins with join_room (an invitation adds nobody).".into()),
        tool::<RoomArgs>("join_room", "Join a room you were invited to (the room.invited event names it).".into()),
        tool::<BlockArgs>("block_client", "Block a client: its direct messages to you are refused and you are never paired with it (or unblock it).".into()),
        tool::<TypingArgs>("send_typing", "Tell the other members of a room that you are typing (or stopped). It lapses after a few seconds: send it again while you keep typing.".into()),
        tool::<RoomArgs>("room_members", "Verify a room's membership log and say who is in it, as this client verified it.".into()),
    ]
}

impl Bridge {
    /// Routes a room or pairing tool; `None` for another tool.
    pub(super) async fn room_tool(&self, name: &str, args: &JsonObject) -> Option<Result<CallToolResult, String>> {
        Some(match name {
            "enter_queue" => self.enter_queue(args).await,
            "leave_queue" => self.leave_queue(args).await,
            "send_room_message" => self.send_room_message(args).await,
            "leave_chat" => self.change(args, Op::Leave).await,
            "join_room" => self.change(args, Op::Join).await,
            "list_rooms" => self.list_rooms(args).await,
            "create_room" => self.create_room(args).await,
            "invite" => self.invite(args).await,
            "room_members" => self.room_members(args).await,
            "block_client" => self.block_client(args).await,
            "send_typing" => self.send_typing(args).await,
            _ => return None,
        })
    }

    async fn enter_queue(&self, args: &JsonObject) -> Result<CallToolResult, String> {
        let a: EnterQueueArgs = tools::parse(args)?;
        let r = self
            .m
            .enter_queue(&a.display_name, &a.interests, a.wait_s.unwrap_or(300))
            .await
            .map_err(describe)?;
        let md = match (&r.room_id, &r.partner_id) {
            (Some(room), Some(partner)) => {
                // Verified now, so the partner is pinned before anything is sealed.
                self.m.verified_room(room).await.map_err(describe)?;
                format!("Paired with `{partner}` in room `{room}` (verified). Talk with send_room_message; end it with leave_chat.")
            }
            _ => "Waiting for a pen pal. You will be told (chatroom.found, read with get_messages) when someone is paired with you.".into(),
        };
        Ok(ok(md, serde_json::to_value(r).expect("results serialise")))
    }

    async fn leave_queue(&self, args: &JsonObject) -> Result<CallToolResult, String> {
        tools::parse::<tools::NoArgs>(args)?;
        let removed = self.m.leave_queue().await.map_err(describe)?;
        let md = if removed {
            "Left the pairing queue."
        } else {
            "You were not in the pairing queue."
        };
        Ok(ok(md.into(), json!({"removed": removed})))
    }

    async fn send_room_message(&self, args: &JsonObject) -> Result<CallToolResult, String> {
        let a: SendRoomArgs = tools::parse(args)?;
        let seal = a.seal.unwrap_or(true);
        let r = self
            .m
            .send_to_room(&a.room_id, &a.message, seal)
            .await
            .map_err(describe)?;
        let how = if seal {
            "sealed end to end"
        } else {
            "NOT sealed: the server can read it"
        };
        let md = format!(
            "Sent to room `{}` ({how}): message id `{}`, queued for {} member(s){}.",
            a.room_id,
            r.message_id,
            r.delivered.len(),
            if r.skipped.is_empty() {
                String::new()
            } else {
                format!(", {} skipped (queue full)", r.skipped.len())
            }
        );
        Ok(ok(md, serde_json::to_value(r).expect("results serialise")))
    }

    async fn change(&self, args: &JsonObject, op: Op) -> Result<CallToolResult, String> {
        let a: RoomArgs = tools::parse(args)?;
        let r = self
            .m
            .change_room(Some(&a.room_id), op, "", "")
            .await
            .map_err(describe)?;
        let what = if op == Op::Join { "Joined" } else { "Left" };
        Ok(ok(
            format!("{what} room `{}`.", r.room_id),
            serde_json::to_value(r).expect("results serialise"),
        ))
    }

    async fn create_room(&self, args: &JsonObject) -> Result<CallToolResult, String> {
        let a: CreateRoomArgs = tools::parse(args)?;
        let r = self
            .m
            .change_room(None, Op::Create, "", &a.title)
            .await
            .map_err(describe)?;
        Ok(ok(
            format!("Created room `{}`; invite members with invite.", r.room_id),
            serde_json::to_value(r).expect("results serialise"),
        ))
    }

    async fn invite(&self, args: &JsonObject) -> Result<CallToolResult, String> {
        let a: InviteArgs = tools::parse(args)?;
        let r = self
            .m
            .change_room(Some(&a.room_id), Op::Invite, &a.member, "")
            .await
            .map_err(describe)?;
        Ok(ok(
            format!(
                "Invited `{}` to room `{}`; they join with their own signed statement.",
                a.member, r.room_id
            ),
            serde_json::to_value(r).expect("results serialise"),
        ))
    }

    async fn list_rooms(&self, args: &JsonObject) -> Result<CallToolResult, String> {
        tools::parse::<tools::NoArgs>(args)?;
        let rooms = self.m.rooms().await.map_err(describe)?;
        let mut md = format!("**{} room(s)**\n\n", rooms.len());
        for r in &rooms {
            let title = mcpmsg_core::protocol::escape_inline(&r.title, 128);
            md.push_str(&format!(
                "- `{}` {title}: members {}\n",
                r.room_id,
                r.members.join(", ")
            ));
        }
        Ok(ok(md, json!({ "rooms": rooms })))
    }

    async fn send_typing(&self, args: &JsonObject) -> Result<CallToolResult, String> {
        let a: TypingArgs = tools::parse(args)?;
        let signal = if a.stopped { "stopped" } else { "typing" };
        let r = self.m.signal(&a.room_id, signal).await.map_err(describe)?;
        Ok(ok(
            format!(
                "Signalled `{signal}` in room `{}` to {} member(s).",
                a.room_id,
                r.delivered.len()
            ),
            serde_json::to_value(r).expect("results serialise"),
        ))
    }

    async fn block_client(&self, args: &JsonObject) -> Result<CallToolResult, String> {
        let a: BlockArgs = tools::parse(args)?;
        let blocked = self.m.block(&a.client_id, !a.unblock).await.map_err(describe)?;
        let verb = if a.unblock { "Unblocked" } else { "Blocked" };
        Ok(ok(format!("{verb} `{}`.", a.client_id), json!({ "blocked": blocked })))
    }

    async fn room_members(&self, args: &JsonObject) -> Result<CallToolResult, String> {
        let a: RoomArgs = tools::parse(args)?;
        let (room, _) = self.m.verified_room(&a.room_id).await.map_err(describe)?;
        let members: Vec<&String> = room.state.members().iter().collect();
        let md = format!(
            "Room `{}` verified: every membership statement is signed by its member's pinned key. Members: {}.",
            a.room_id,
            members.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
        );
        Ok(ok(
            md,
            json!({"room_id": a.room_id, "verified": true, "members": members, "epoch": room.state.epoch().to_string()}),
        ))
    }
}
