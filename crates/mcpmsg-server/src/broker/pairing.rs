//! Pen-pal pairing (PROTOCOL §16): a signed `enter_queue` pairs the caller
//! with a waiting client in one store step, or queues it; a pairing makes
//! a two-member room whose first statement the server signs (with both
//! requests as consent) and tells both with `chatroom.found`.

use std::collections::BTreeMap;

use mcpmsg_core::crypto::b64;
use mcpmsg_core::protocol::room::RoomState;
use mcpmsg_core::protocol::tools::{ChangeRoomArgs, EnterQueueArgs, LeaveQueueArgs, SignedArgs};
use mcpmsg_core::protocol::{check_client_id, is_printable, new_nonce, now_ms, parse_decimal, ErrorCode};

use super::auth::{Against, Freshness, SignedCall};
use super::{ms, Broker, Refusal};
use crate::store::{overlap, LoggedStatement, PairEnter, PairOutcome, RoomAppend, Waiting};

/// Most interests of one entrant.
const MAX_INTERESTS: usize = 8;

/// Most waiting entries one rematch looks at (the oldest first).
const REMATCH_BATCH: usize = 32;

/// What `enter_queue` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entered {
    /// Paired at once, in this room, with this partner.
    Paired {
        /// The new room.
        room_id: String,
        /// The partner.
        partner_id: String,
    },
    /// Queued until this time (Unix ms).
    Waiting(u64),
}

/// `interests`: up to 8 distinct tags of `a-z`, `0-9` and `-`, 1 to 32
/// each, comma-separated; may be empty.
fn parse_interests(s: &str) -> Result<Vec<String>, Refusal> {
    mcpmsg_core::protocol::registry::parse_tag_list("interests", s, MAX_INTERESTS).map_err(|_| {
        Refusal::invalid(format!(
            "interests: up to {MAX_INTERESTS} distinct tags of a-z, 0-9 and -, 1 to 32 characters each, comma-separated"
        ))
    })
}

impl Broker {
    /// `enter_queue`: checks, authenticates and rate-limits the entrant,
    /// then pairs it or queues it.
    pub async fn enter_queue(&self, args: EnterQueueArgs) -> Result<Entered, Refusal> {
        check_client_id("client_id", &args.client_id)?;
        if args.display_name.chars().count() > 64 || !is_printable(&args.display_name) {
            return Err(Refusal::invalid("display_name: at most 64 printable characters"));
        }
        let interests = parse_interests(&args.interests)?;
        let longest = self.config.max_pair_wait.as_secs();
        let wait = parse_decimal("wait_s", &args.wait_s)?;
        if !(1..=longest).contains(&wait) {
            return Err(Refusal::invalid(format!(
                "wait_s: from 1 to {longest} seconds (--max-pair-wait)"
            )));
        }
        let call = SignedCall::of(&args, now_ms());
        self.authenticate(&call, Against::Stored, Freshness::Once).await?;
        self.pairing_rate(&args.client_id)?;
        self.check_room_count(&args.client_id).await?;
        self.admit(call.client_id, call.now).await?;
        self.claim(&call).await?;
        let now = call.now;
        let blocked = self.store.blocks(&args.client_id).await?;
        let entry = Waiting {
            blocked,
            client_id: args.client_id.clone(),
            interests,
            entered_at: now,
            until: now.saturating_add(wait * 1000),
            consent: args,
        };
        let step = PairEnter {
            entry: &entry,
            now,
            offline_before: now.saturating_sub(ms(self.config.offline_after)),
            grace_before: now.saturating_sub(ms(self.config.pair_grace)),
            seed: u32::from_le_bytes(*mcpmsg_core::crypto::random_bytes::<4>()),
            max_queue: self.config.max_pair_queue,
            rematch: false,
        };
        match self.store.pair_enter(step).await? {
            // (Gone answers only a rematch.)
            PairOutcome::Waiting | PairOutcome::Gone => Ok(Entered::Waiting(entry.until)),
            PairOutcome::QueueFull => Err(Refusal::new(
                ErrorCode::QueueFull,
                format!(
                    "the pairing queue holds its most clients, {} (--max-pair-queue); try again later",
                    self.config.max_pair_queue
                ),
            )),
            PairOutcome::Paired(partner) => self.pair(*partner, entry, now).await,
        }
    }

    /// Looks again for a partner for the oldest waiting clients whose grace
    /// is over (PROTOCOL §16b): an entry is matched only when someone
    /// enters, so two clients with no shared interest who entered within
    /// each other's grace would otherwise wait for a third. Each look is the
    /// same atomic store step as an entry, for that very entry only, so
    /// nodes that look at once cannot pair a client twice. Returns how many
    /// pairs it made.
    pub async fn rematch_waiting(&self) -> Result<usize, Refusal> {
        let now = now_ms();
        let grace_before = now.saturating_sub(ms(self.config.pair_grace));
        let mut paired = 0;
        for entry in self.store.pair_waiting(grace_before, now, REMATCH_BATCH).await? {
            let step = PairEnter {
                entry: &entry,
                now,
                offline_before: now.saturating_sub(ms(self.config.offline_after)),
                grace_before,
                seed: u32::from_le_bytes(*mcpmsg_core::crypto::random_bytes::<4>()),
                max_queue: self.config.max_pair_queue,
                rematch: true,
            };
            if let PairOutcome::Paired(partner) = self.store.pair_enter(step).await? {
                let (first, second) = if partner.entered_at < entry.entered_at {
                    (*partner, entry)
                } else {
                    (entry, *partner)
                };
                self.pair(first, second, now).await?;
                paired += 1;
            }
        }
        Ok(paired)
    }

    /// Entering is limited per client (`--pair-rate` a minute, per node),
    /// beside the general rate of signed calls: each entry scans the queue.
    fn pairing_rate(&self, client_id: &str) -> Result<(), Refusal> {
        self.pairing_limit.client(client_id).map_err(|wait| {
            Refusal::rate_limited(
                &format!(
                    "{client_id} entered the pairing queue {} times in the last minute (--pair-rate)",
                    self.config.pair_rate
                ),
                wait,
            )
        })
    }

    /// A pairing makes a room: refused up front for a client in its most.
    async fn check_room_count(&self, client_id: &str) -> Result<(), Refusal> {
        let max = self.config.max_rooms_per_client;
        if self.store.rooms_of(client_id, max + 1).await?.len() >= max {
            return Err(Refusal::new(
                ErrorCode::RoomFull,
                format!("{client_id} is a member of its most rooms, {max} (--max-rooms-per-client); leave one first"),
            ));
        }
        Ok(())
    }

    /// The room of a pairing: its `pair` statement signed by the server
    /// key, with both requests as consent, the earlier entrant first; and
    /// `chatroom.found` for both.
    async fn pair(&self, first: Waiting, second: Waiting, now: u64) -> Result<Entered, Refusal> {
        let mut statement = ChangeRoomArgs {
            op: "pair".into(),
            seq: "0".into(),
            client_id: first.client_id.clone(),
            member: second.client_id.clone(),
            key_id: self.server_key.public().kid(),
            ts: now.to_string(),
            nonce: new_nonce(),
            ..ChangeRoomArgs::default()
        };
        statement.sig = b64::encode(&self.server_key.sign(&statement.sign_input()));
        let state = RoomState::create(&statement).expect("a pair statement the server made is well formed");
        let entry = LoggedStatement {
            statement,
            accepted_at: now,
            consents: vec![first.consent.clone(), second.consent.clone()],
        };
        let both = [first.client_id.as_str(), second.client_id.as_str()];
        let step = RoomAppend {
            room_id: state.room_id(),
            expected_len: 0,
            entry: &entry,
            joins: &both,
            leaves: &[],
            empties: false,
        };
        if !self.store.append_room(step).await? {
            tracing::error!(room_id = state.room_id(), "a new pen-pal room's id was taken");
            return Err(Refusal::new(
                ErrorCode::Unavailable,
                "the store is unavailable; try again shortly",
            ));
        }
        self.store.mark_pair_room(state.room_id(), true).await?;
        let shared = first
            .interests
            .iter()
            .filter(|t| overlap(std::slice::from_ref(t), &second.interests) > 0)
            .cloned()
            .collect::<Vec<_>>()
            .join(",");
        for (me, partner) in [(&first, &second), (&second, &first)] {
            let data = self.found_data(state.room_id(), partner, &shared).await?;
            if let Err(e) = self.emit_event(&me.client_id, "chatroom.found", data).await {
                tracing::info!(error = %e, "chatroom.found not queued");
            }
        }
        Ok(Entered::Paired {
            room_id: state.room_id().to_owned(),
            partner_id: first.client_id,
        })
    }

    /// What `chatroom.found` tells a member about its partner: who, the
    /// name it chose, and its key log's head and seq to pin.
    async fn found_data(
        &self,
        room_id: &str,
        partner: &Waiting,
        shared: &str,
    ) -> Result<BTreeMap<String, String>, Refusal> {
        let record = self.store.recent_identity(&partner.client_id).await?;
        let (seq, head) = record
            .and_then(|r| Some((r.events.len().checked_sub(1)?, r.head()?)))
            .unwrap_or_default();
        Ok(BTreeMap::from([
            ("room_id".into(), room_id.to_owned()),
            ("partner_id".into(), partner.client_id.clone()),
            ("display_name".into(), partner.consent.display_name.clone()),
            ("partner_kel_seq".into(), seq.to_string()),
            ("partner_kel_head".into(), head),
            ("shared_interests".into(), shared.to_owned()),
        ]))
    }

    /// `leave_queue`: whether the caller was waiting.
    pub async fn leave_queue(&self, args: LeaveQueueArgs) -> Result<bool, Refusal> {
        check_client_id("client_id", &args.client_id)?;
        self.accept_request(&args, Against::Stored, now_ms()).await?;
        Ok(self.store.pair_leave(&args.client_id).await?)
    }
}

/// Most pen-pal rooms one sweep looks at (a random sample on Redis).
const SWEEP_MAX: usize = 10_000;

impl Broker {
    /// Ends the pen-pal rooms a member of which went silent past
    /// `--offline-after` (PROTOCOL §16c): the room is deleted and the other
    /// member told `partner.disconnected` with `reason` `timeout`. Every
    /// node sweeps; the store's conditional delete lets only one of them end
    /// a given room. A member never seen is not judged (its presence is
    /// unknown, not old). Returns how many rooms ended.
    pub async fn sweep_pair_rooms(&self) -> Result<usize, Refusal> {
        let mut ended = 0;
        for room_id in self.store.pair_rooms(SWEEP_MAX).await? {
            let (log, state) = match self.read_room(&room_id).await {
                Ok(v) => v,
                Err(r) if r.code == ErrorCode::UnknownRoom => {
                    self.store.mark_pair_room(&room_id, false).await?;
                    continue;
                }
                Err(r) => return Err(r),
            };
            let members: Vec<&str> = state.members().iter().map(String::as_str).collect();
            let presence = self.presence_of(&members, now_ms()).await?;
            let silent: Vec<&str> = members
                .iter()
                .zip(&presence)
                .filter(|(_, (seen, status))| {
                    seen.is_some() && *status == mcpmsg_core::protocol::tools::PresenceStatus::Offline
                })
                .map(|(m, _)| *m)
                .collect();
            if silent.is_empty() {
                continue;
            }
            let last = log.last().expect("a stored room has a statement").clone();
            let step = RoomAppend {
                room_id: &room_id,
                expected_len: state.len(),
                entry: &last,
                joins: &[],
                leaves: &members,
                empties: true,
            };
            if !self.store.append_room(step).await? {
                continue;
            }
            self.store.mark_pair_room(&room_id, false).await?;
            ended += 1;
            for member in members.iter().filter(|m| !silent.contains(m)) {
                let data = BTreeMap::from([
                    ("room_id".to_owned(), room_id.clone()),
                    ("epoch".to_owned(), state.epoch().to_string()),
                    ("member".to_owned(), silent[0].to_owned()),
                    ("reason".to_owned(), "timeout".to_owned()),
                ]);
                if let Err(e) = self.emit_event(member, "partner.disconnected", data).await {
                    tracing::info!(error = %e, "partner.disconnected not queued");
                }
            }
        }
        Ok(ended)
    }
}
