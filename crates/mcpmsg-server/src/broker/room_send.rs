//! Room messages (PROTOCOL §15): a signed send to a room at an epoch,
//! checked against the room's current log and fanned out to every other
//! member's queue in one store step.
//!
//! A copy is queued as a message whose body is the signed envelope (room,
//! epoch, content type, body, wraps) under its own content type, so it is
//! leased, acknowledged, expired and counted exactly as a 1:1 message on
//! every store; the rendering turns it back into `"kind": "room_message"`.

use serde::{Deserialize, Serialize};

use mcpmsg_core::crypto::b64;
use mcpmsg_core::crypto::seal::TAG_LEN;
use mcpmsg_core::protocol::room::{parse_wraps, RoomState};
use mcpmsg_core::protocol::tools::{RoomDelivered, RoomMessageKind, SendRoomMessageArgs};
use mcpmsg_core::protocol::{check_client_id, check_message_id, now_ms, parse_decimal, ErrorCode};

use super::auth::{Against, Freshness, SignedCall};
use super::messages::check_content_type;
use super::rooms::stale;
use super::{ms, Broker, Refusal};
use crate::store::{Delivery, FanOut, FanOutOutcome, FanOutTo, NonceRecord, StoredMessage};

/// The content type a room message's copies are queued under.
pub const ROOM_CONTENT_TYPE: &str = "application/mcpmsg-room";

/// What a queued copy's body holds: the signed members a 1:1 message does
/// not have.
#[derive(Serialize, Deserialize)]
struct Envelope {
    room_id: String,
    epoch: String,
    content_type: String,
    message: String,
    wraps: String,
}

/// The room message a queued item carries, if it is one.
pub fn room_message_of(m: &StoredMessage) -> Option<RoomDelivered> {
    if m.content_type != ROOM_CONTENT_TYPE || m.sender_id.is_empty() {
        return None;
    }
    let e: Envelope = serde_json::from_str(&m.message).ok()?;
    Some(RoomDelivered {
        kind: RoomMessageKind::RoomMessage,
        message_id: m.message_id.clone(),
        recipient_id: m.recipient_id.clone(),
        sender_id: m.sender_id.clone(),
        room_id: e.room_id,
        epoch: e.epoch,
        content_type: e.content_type,
        in_reply_to: m.in_reply_to.clone(),
        message: e.message,
        wraps: e.wraps,
        key_id: m.key_id.clone(),
        ts: m.ts.clone(),
        nonce: m.nonce.clone(),
        sig: m.sig.clone(),
        received_at: m.received_at.to_string(),
        expires_at: m.expires_at.to_string(),
    })
}

/// The result of `send_room_message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSent {
    /// The message id.
    pub message_id: String,
    /// A retry of an accepted send.
    pub duplicate: bool,
    /// Server time of acceptance.
    pub received_at: u64,
    /// Expiry.
    pub expires_at: u64,
    /// Members it was queued for.
    pub delivered: Vec<String>,
    /// Members it was not, and why.
    pub skipped: Vec<(String, &'static str)>,
}

impl Broker {
    fn check_room_send(&self, m: &SendRoomMessageArgs) -> Result<(), Refusal> {
        check_client_id("sender_id", &m.sender_id)?;
        check_message_id("room_id", &m.room_id)?;
        parse_decimal("epoch", &m.epoch)?;
        check_content_type(&m.content_type)?;
        if !m.in_reply_to.is_empty() {
            check_message_id("in_reply_to", &m.in_reply_to)?;
        }
        let max = self.config.max_message_bytes;
        let limit = if m.is_sealed() {
            b64::encoded_len(max + TAG_LEN)
        } else {
            max
        };
        if m.message.len() > limit {
            return Err(Refusal::new(
                ErrorCode::TooLarge,
                format!("message is over the limit of {max} bytes"),
            ));
        }
        if !m.is_sealed() && !m.wraps.is_empty() {
            return Err(Refusal::invalid(
                "wraps: empty unless content_type is application/mcpmsg-room-sealed",
            ));
        }
        Ok(())
    }

    /// Whether the wraps of a sealed message are exactly for `recipients`,
    /// each under its current sealing kid (re-read fresh once when the
    /// cached record disagrees: the member may have just rotated).
    async fn check_wraps(&self, m: &SendRoomMessageArgs, recipients: &[&str]) -> Result<(), Refusal> {
        let wraps = parse_wraps(&m.wraps).map_err(Refusal::invalid)?;
        let wrapped: Vec<&str> = wraps.iter().map(|w| w.member.as_str()).collect();
        if wrapped != recipients {
            return Err(Refusal::new(
                ErrorCode::StaleEpoch,
                format!(
                    "wraps: sealed for {wrapped:?}, but the other members of room {} are {recipients:?}; fetch its log with get_room_log, verify it and seal again",
                    m.room_id
                ),
            ));
        }
        for w in &wraps {
            self.check_wrap_kid(&w.member, &w.kid).await?;
        }
        Ok(())
    }

    /// Whether `kid` is `member`'s current sealing kid (re-read fresh once
    /// when the cached record disagrees: the member may have just rotated).
    pub(super) async fn check_wrap_kid(&self, member: &str, kid: &str) -> Result<(), Refusal> {
        let mut current = self.current_sealing_kid(member, false).await?;
        if current != kid {
            current = self.current_sealing_kid(member, true).await?;
        }
        if current != kid {
            return Err(Refusal::invalid(format!(
                "wraps: kid {kid} for {member} is not its current sealing key ({current}); fetch its log with get_client_keys"
            )));
        }
        Ok(())
    }

    async fn current_sealing_kid(&self, member: &str, fresh: bool) -> Result<String, Refusal> {
        let record = if fresh {
            self.store.identity(member).await?
        } else {
            self.store.recent_identity(member).await?
        };
        let record = record.ok_or_else(|| {
            Refusal::new(
                ErrorCode::UnknownRecipient,
                format!("member {member} is not registered"),
            )
        })?;
        Ok(self.state_of(member, &record)?.current().sealing_key.kid())
    }

    /// `send_room_message`: checks, authenticates and fans out one message.
    pub async fn send_to_room(&self, m: SendRoomMessageArgs) -> Result<RoomSent, Refusal> {
        self.check_room_send(&m)?;
        let now = now_ms();
        let message_id = m.message_id()?;
        let call = SignedCall::of(&m, now);
        self.authenticate(&call, Against::Stored, Freshness::SendOf(&message_id))
            .await?;
        self.check_typed(&m.content_type, &m.message).await?;
        let stored = StoredMessage {
            message_id: message_id.clone(),
            sender_id: m.sender_id.clone(),
            recipient_id: String::new(),
            content_type: ROOM_CONTENT_TYPE.to_owned(),
            in_reply_to: m.in_reply_to.clone(),
            message: serde_json::to_string(&Envelope {
                room_id: m.room_id.clone(),
                epoch: m.epoch.clone(),
                content_type: m.content_type.clone(),
                message: m.message.clone(),
                wraps: m.wraps.clone(),
            })
            .expect("an envelope serialises"),
            key_id: m.key_id.clone(),
            ts: m.ts.clone(),
            nonce: m.nonce.clone(),
            sig: m.sig.clone(),
            received_at: now,
            expires_at: now.saturating_add(ms(self.config.message_ttl)),
        };
        self.admit(&m.sender_id, now).await?;
        // First against this node's copy of the room's state, which the
        // store's step checks is still current (by the log's length: logs
        // only grow, and a room id never comes back); anything that copy
        // refuses, or a log that moved, is judged again on a fresh read.
        for attempt in 0..3 {
            let state = self.room_state(&m.room_id, attempt > 0).await?;
            let checked = match self.room_recipients(&m, &state) {
                Ok(r) if m.is_sealed() => self.check_wraps(&m, &r).await.map(|()| r),
                other => other,
            };
            let recipients = match checked {
                Ok(r) => r,
                Err(_) if attempt == 0 => continue,
                Err(refused) => return Err(refused),
            };
            let step = FanOut {
                to: FanOutTo::Room {
                    room_id: &m.room_id,
                    log_len: state.len(),
                },
                message: &stored,
                recipients: &recipients,
                nonce_until: now.saturating_add(2 * ms(self.config.max_skew)),
                limits: self.queue_limits(),
                now,
            };
            match self.store.fan_out(step).await? {
                FanOutOutcome::Moved => continue,
                FanOutOutcome::NonceUsed(NonceRecord::Send {
                    message_id: id,
                    received_at,
                    expires_at,
                }) if id == message_id => {
                    return Ok(RoomSent {
                        message_id,
                        duplicate: true,
                        received_at,
                        expires_at,
                        delivered: Vec::new(),
                        skipped: Vec::new(),
                    })
                }
                FanOutOutcome::NonceUsed(_) => {
                    return Err(Refusal::new(
                        ErrorCode::Replay,
                        format!(
                            "nonce {} was already used by {} for another request",
                            m.nonce, m.sender_id
                        ),
                    ))
                }
                FanOutOutcome::Sent(deliveries) => return fanned_out(&self.waiters, &stored, &recipients, &deliveries),
            }
        }
        let state = self.room_state(&m.room_id, true).await?;
        Err(stale(&state))
    }

    /// The members a message goes to: every member but the sender, if the
    /// sender is one and the message names the current epoch.
    fn room_recipients<'s>(&self, m: &SendRoomMessageArgs, state: &'s RoomState) -> Result<Vec<&'s str>, Refusal> {
        if !state.is_member(&m.sender_id) {
            return Err(Refusal::new(
                ErrorCode::NotMember,
                format!("{} is not a member of room {}", m.sender_id, m.room_id),
            ));
        }
        if parse_decimal("epoch", &m.epoch)? != state.epoch() {
            return Err(stale(state));
        }
        Ok(state
            .members()
            .iter()
            .map(String::as_str)
            .filter(|c| *c != m.sender_id)
            .collect())
    }
}

/// The result of a fan-out: who got a copy (their waiters woken) and who
/// was skipped and why. A message no recipient could take is refused
/// whole, as the store left its nonce free: `blocked` if every recipient
/// blocks the sender, else `queue_full`.
pub(super) fn fanned_out(
    waiters: &super::wait::Waiters,
    stored: &StoredMessage,
    recipients: &[&str],
    deliveries: &[Delivery],
) -> Result<RoomSent, Refusal> {
    let mut delivered = Vec::new();
    let mut skipped = Vec::new();
    for (member, d) in recipients.iter().zip(deliveries) {
        let reason = match d {
            Delivery::Queued => {
                waiters.notify(member);
                delivered.push((*member).to_owned());
                continue;
            }
            Delivery::QueueFull | Delivery::ShareFull => "queue_full",
            Delivery::StoreFull => "store_full",
            Delivery::Blocked => "blocked",
        };
        skipped.push(((*member).to_owned(), reason));
    }
    if !recipients.is_empty() && delivered.is_empty() {
        if skipped.iter().all(|(_, r)| *r == "blocked") {
            return Err(Refusal::new(
                ErrorCode::Blocked,
                "every recipient blocks you; nothing was queued",
            ));
        }
        return Err(Refusal::new(
            ErrorCode::QueueFull,
            "no recipient's queue could take the message (--max-queue, --max-queue-per-sender or --max-queued-bytes); nothing was queued; retry later",
        ));
    }
    Ok(RoomSent {
        message_id: stored.message_id.clone(),
        duplicate: false,
        received_at: stored.received_at,
        expires_at: stored.expires_at,
        delivered,
        skipped,
    })
}
