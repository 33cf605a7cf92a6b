//! `mcpmsg room` and `mcpmsg pair`: rooms and pen-pal pairing from the
//! shell (PROTOCOL §15, §16). Every statement is signed at the head of a
//! log this client verified, and every message sealed to the members of
//! that verified log only.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use mcpmsg_core::protocol::room::Op;
use serde_json::json;

use crate::error::hinted;
use crate::session::Session;
use crate::shell::{recv, refused, runtime, RecvArgs, PATIENCE};
use crate::{out, Ctx};

#[derive(Subcommand)]
pub enum RoomCommand {
    /// Create a room; you are its owner and first member
    Create {
        /// The room's title (at most 128 characters)
        #[arg(default_value = "")]
        title: String,
    },
    /// Invite a registered client (it joins with its own signed statement)
    Invite {
        #[arg(allow_hyphen_values = true)]
        room: String,
        member: String,
    },
    /// Join a room you were invited to
    Join {
        #[arg(allow_hyphen_values = true)]
        room: String,
    },
    /// Leave a room (a pen-pal room ends for both)
    Leave {
        #[arg(allow_hyphen_values = true)]
        room: String,
    },
    /// Remove a member (owner only)
    Remove {
        #[arg(allow_hyphen_values = true)]
        room: String,
        member: String,
    },
    /// List the rooms you are a member of
    List {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Verify a room's membership log and print what it proves
    Log {
        /// The room's id (ids may start with '-')
        #[arg(allow_hyphen_values = true)]
        room: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Send to every other member, sealed to the members of the verified log
    Send {
        #[arg(allow_hyphen_values = true)]
        room: String,
        /// The message
        message: String,
        /// Send in the clear instead of sealed
        #[arg(long)]
        no_seal: bool,
    },
    /// Receive messages (room messages are verified against their room's log)
    Recv(RecvArgs),
    /// Tell the other members you are typing (lapses after a few seconds)
    Typing {
        #[arg(allow_hyphen_values = true)]
        room: String,
        /// Say you stopped instead
        #[arg(long)]
        stopped: bool,
    },
}

#[derive(Args)]
pub struct BlockArgs {
    /// The client to block
    id: String,
    /// Unblock it instead
    #[arg(long)]
    unblock: bool,
}

/// `mcpmsg block`: refuse a client's 1:1 messages and pairing (or stop).
pub fn block(ctx: &Ctx, a: BlockArgs) -> Result<()> {
    let s = Session::load(&ctx.config, &ctx.pass, PATIENCE)?;
    runtime().block_on(async {
        let list = s.block(&a.id, !a.unblock).await?;
        let verb = if a.unblock { "unblocked" } else { "blocked" };
        let now = if list.is_empty() {
            "nobody".to_owned()
        } else {
            list.join(", ")
        };
        out(&format!("{verb} {}; you block {now}\n", a.id)).map_err(Into::into)
    })
}

#[derive(Args)]
pub struct PairArgs {
    /// Interests, comma-separated (a-z, 0-9, -): a partner sharing one is preferred
    #[arg(long, default_value = "")]
    interests: String,
    /// Seconds to wait for a partner
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    wait: u64,
    /// The name your partner sees
    #[arg(long, default_value = "")]
    name: String,
}

pub fn run(ctx: &Ctx, cmd: RoomCommand) -> Result<()> {
    if let RoomCommand::Recv(a) = cmd {
        return recv(ctx, a);
    }
    let s = Session::load(&ctx.config, &ctx.pass, PATIENCE)?;
    runtime().block_on(async {
        let changed = match cmd {
            RoomCommand::Create { title } => s.change_room(None, Op::Create, "", &title).await?,
            RoomCommand::Invite { room, member } => s.change_room(Some(&room), Op::Invite, &member, "").await?,
            RoomCommand::Join { room } => s.change_room(Some(&room), Op::Join, "", "").await?,
            RoomCommand::Leave { room } => s.change_room(Some(&room), Op::Leave, "", "").await?,
            RoomCommand::Remove { room, member } => s.change_room(Some(&room), Op::Remove, &member, "").await?,
            RoomCommand::List { json } => return list(&s, json).await,
            RoomCommand::Log { room, json } => return log(&s, &room, json).await,
            RoomCommand::Send { room, message, no_seal } => {
                let r = s.send_to_room(&room, &message, !no_seal).await?;
                let sealed = if no_seal { "not sealed" } else { "sealed" };
                let skipped: Vec<String> = r
                    .skipped
                    .iter()
                    .map(|k| format!("{} ({})", k.member, k.reason))
                    .collect();
                return out(&format!(
                    "sent {} to room {room}, {sealed}: queued for {}{}\n",
                    r.message_id,
                    if r.delivered.is_empty() {
                        "nobody".to_owned()
                    } else {
                        r.delivered.join(", ")
                    },
                    if skipped.is_empty() {
                        String::new()
                    } else {
                        format!("; skipped {}", skipped.join(", "))
                    }
                ))
                .map_err(Into::into);
            }
            RoomCommand::Typing { room, stopped } => {
                let signal = if stopped { "stopped" } else { "typing" };
                let r = s.signal(&room, signal).await?;
                return out(&format!(
                    "signalled {signal} in room {room} to {}{}\n",
                    if r.delivered.is_empty() {
                        "nobody".to_owned()
                    } else {
                        r.delivered.join(", ")
                    },
                    if r.skipped.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; skipped {} (they hold too many signals)",
                            r.skipped
                                .iter()
                                .map(|k| k.member.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                ))
                .map_err(Into::into);
            }
            RoomCommand::Recv(_) => unreachable!("handled above"),
        };
        out(&format!(
            "room {}: statement {} accepted, epoch {}, head {}\n",
            changed.room_id, changed.seq, changed.epoch, changed.head
        ))?;
        Ok(())
    })
}

async fn list(s: &Session, json: bool) -> Result<()> {
    let rooms = s.rooms().await?;
    if json {
        return out(&(serde_json::to_string_pretty(&rooms)? + "\n")).map_err(Into::into);
    }
    if rooms.is_empty() {
        return out("no rooms\n").map_err(Into::into);
    }
    let mut text = String::new();
    for r in rooms {
        let title = mcpmsg_core::protocol::escape_inline(&r.title, 128);
        text.push_str(&format!(
            "{} {title}: owner {}, epoch {}, members {} (the server's reading; `mcpmsg room log` verifies)\n",
            r.room_id,
            if r.owner.is_empty() {
                "none (pen-pal room)"
            } else {
                &r.owner
            },
            r.epoch,
            r.members.join(", ")
        ));
    }
    out(&text).map_err(Into::into)
}

async fn log(s: &Session, room_id: &str, json: bool) -> Result<()> {
    let (room, _) = s.verified_room(room_id).await?;
    let st = &room.state;
    let members: Vec<&String> = st.members().iter().collect();
    if json {
        let v = json!({"room_id": st.room_id(), "verified": true, "title": st.title(), "owner": st.owner(),
            "epoch": st.epoch().to_string(), "members": members, "head": st.head(), "statements": st.len()});
        return out(&(serde_json::to_string_pretty(&v)? + "\n")).map_err(Into::into);
    }
    out(&format!(
        "room {} verified: {} statement(s), each signed by its member's pinned key; epoch {}, members {}, head {}\n",
        st.room_id(),
        st.len(),
        st.epoch(),
        members.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", "),
        st.head()
    ))
    .map_err(Into::into)
}

/// `mcpmsg pair`: enters the queue, then waits for `chatroom.found`,
/// verified against the pinned server key, and verifies the new room (which
/// pins the partner).
pub fn pair(ctx: &Ctx, a: PairArgs) -> Result<()> {
    if a.wait == 0 {
        bail!(hinted(
            "--wait: at least 1 second",
            "give how long to wait for a partner"
        ));
    }
    let s = Session::load(&ctx.config, &ctx.pass, PATIENCE)?;
    runtime().block_on(async {
        let entered = s.enter_queue(&a.name, &a.interests, a.wait).await?;
        let (room_id, partner) = match (entered.room_id, entered.partner_id) {
            (Some(r), Some(p)) => (r, p),
            _ => {
                eprintln!("mcpmsg: waiting up to {} s for a pen pal…", a.wait);
                match wait_for_partner(&s, Duration::from_secs(a.wait)).await? {
                    Some(found) => found,
                    None => bail!(hinted(
                        "nobody was paired with you in time (you left the queue when your wait ran out)",
                        "run `mcpmsg pair` again, perhaps with --wait longer"
                    )),
                }
            }
        };
        s.verified_room(&room_id).await?;
        out(&format!(
            "paired with {partner} in room {room_id} (verified: the server's pairing and both consents); talk with `mcpmsg room send {room_id} MESSAGE`, end it with `mcpmsg room leave {room_id}`\n"
        ))?;
        Ok(())
    })
}

/// Reads the inbox until a verified `chatroom.found` arrives; only that
/// event is acknowledged, everything else stays queued.
async fn wait_for_partner(s: &Session, wait: Duration) -> Result<Option<(String, String)>> {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now()).as_secs().min(50);
        let mut got = s.receive(left, 100).await.map_err(refused)?;
        if let Some(found) = got.take_event("chatroom.found") {
            let data = found.items[0].event_data.clone().unwrap_or_default();
            s.handed_on(&found).await.map_err(|e| anyhow::anyhow!(e))?;
            let (Some(room), Some(partner)) = (data.get("room_id"), data.get("partner_id")) else {
                bail!("chatroom.found without room_id and partner_id");
            };
            return Ok(Some((room.clone(), partner.clone())));
        }
        if left == 0 {
            return Ok(None);
        }
    }
}
