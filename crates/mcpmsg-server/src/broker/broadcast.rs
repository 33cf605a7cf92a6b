//! Broadcast (PROTOCOL §18e): one signed send fanned out, in one store
//! step, to every client that matches a filter (a declared capability tag,
//! a declared protocol version in a range, a presence status) but the
//! sender; or, sealed, to exactly the clients its key is wrapped for.
//!
//! A copy is queued as a message whose body is the signed envelope under
//! its own content type, so it is leased, acknowledged, expired and counted
//! exactly as a 1:1 message on every store; the rendering turns it back
//! into `"kind": "broadcast"`. Each recipient's block list is checked in the
//! step that queues its copy.

use serde::{Deserialize, Serialize};

use mcpmsg_core::crypto::b64;
use mcpmsg_core::crypto::seal::TAG_LEN;
use mcpmsg_core::protocol::broadcast::Filter;
use mcpmsg_core::protocol::room::parse_wraps;
use mcpmsg_core::protocol::tools::{BroadcastArgs, BroadcastDelivered, BroadcastKind};
use mcpmsg_core::protocol::{check_client_id, check_message_id, now_ms, ErrorCode};

use super::auth::{Against, Freshness, SignedCall};
use super::messages::check_content_type;
use super::room_send::{fanned_out, RoomSent};
use super::{ms, Broker, Refusal};
use crate::store::{FanOut, FanOutOutcome, FanOutTo, NonceRecord, StoredMessage};

/// The content type a broadcast's copies are queued under.
pub const BROADCAST_CONTENT_TYPE: &str = "application/mcpmsg-broadcast";

/// What a queued copy's body holds: the signed members a 1:1 message does
/// not have.
#[derive(Serialize, Deserialize)]
struct Envelope {
    tag: String,
    protocol: String,
    status: String,
    content_type: String,
    message: String,
    wraps: String,
}

/// The broadcast a queued item carries, if it is one.
pub fn broadcast_of(m: &StoredMessage) -> Option<BroadcastDelivered> {
    if m.content_type != BROADCAST_CONTENT_TYPE || m.sender_id.is_empty() {
        return None;
    }
    let e: Envelope = serde_json::from_str(&m.message).ok()?;
    Some(BroadcastDelivered {
        kind: BroadcastKind::Broadcast,
        message_id: m.message_id.clone(),
        recipient_id: m.recipient_id.clone(),
        sender_id: m.sender_id.clone(),
        tag: e.tag,
        protocol: e.protocol,
        status: e.status,
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

impl Broker {
    /// The checks that need no store: fields, size, and the filter, which
    /// an unsealed broadcast must have and a sealed one must not.
    fn check_broadcast(&self, m: &BroadcastArgs) -> Result<Filter, Refusal> {
        check_client_id("sender_id", &m.sender_id)?;
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
        let filter = Filter::parse(&m.tag, &m.protocol, &m.status).map_err(Refusal::invalid)?;
        if m.is_sealed() {
            if !filter.is_empty() {
                return Err(Refusal::invalid(
                    "tag, protocol, status: empty for a sealed broadcast, which goes to exactly the clients in wraps (find them with list_clients and the filter first)",
                ));
            }
        } else {
            if !m.wraps.is_empty() {
                return Err(Refusal::invalid(
                    "wraps: empty unless content_type is application/mcpmsg-broadcast-sealed",
                ));
            }
            if !filter.names_a_declaration() {
                return Err(Refusal::invalid(
                    "tag, protocol: name a capability tag or a protocol (a broadcast goes to clients that declared it with declare_capabilities)",
                ));
            }
        }
        Ok(filter)
    }

    /// `broadcast`: checks, authenticates, finds the recipients and fans
    /// out one message to them.
    pub async fn broadcast(&self, m: BroadcastArgs) -> Result<RoomSent, Refusal> {
        let filter = self.check_broadcast(&m)?;
        let now = now_ms();
        let message_id = m.message_id()?;
        let call = SignedCall::of(&m, now);
        self.authenticate(&call, Against::Stored, Freshness::SendOf(&message_id))
            .await?;
        self.broadcast_rate(&m.sender_id)?;
        self.check_typed(&m.content_type, &m.message).await?;
        let recipients = if m.is_sealed() {
            self.wrapped_recipients(&m).await?
        } else {
            self.matching(&filter, &m.sender_id, now).await?
        };
        let stored = StoredMessage {
            message_id: message_id.clone(),
            sender_id: m.sender_id.clone(),
            recipient_id: String::new(),
            content_type: BROADCAST_CONTENT_TYPE.to_owned(),
            in_reply_to: m.in_reply_to.clone(),
            message: serde_json::to_string(&Envelope {
                tag: m.tag.clone(),
                protocol: m.protocol.clone(),
                status: m.status.clone(),
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
        let to: Vec<&str> = recipients.iter().map(String::as_str).collect();
        let step = FanOut {
            to: FanOutTo::Broadcast,
            message: &stored,
            recipients: &to,
            nonce_until: now.saturating_add(2 * ms(self.config.max_skew)),
            limits: self.queue_limits(),
            now,
        };
        match self.store.fan_out(step).await? {
            FanOutOutcome::Sent(deliveries) => fanned_out(&self.waiters, &stored, &to, &deliveries),
            FanOutOutcome::NonceUsed(NonceRecord::Send {
                message_id: id,
                received_at,
                expires_at,
            }) if id == message_id => Ok(RoomSent {
                message_id,
                duplicate: true,
                received_at,
                expires_at,
                delivered: Vec::new(),
                skipped: Vec::new(),
            }),
            FanOutOutcome::NonceUsed(_) => Err(Refusal::new(
                ErrorCode::Replay,
                format!(
                    "nonce {} was already used by {} for another request",
                    m.nonce, m.sender_id
                ),
            )),
            FanOutOutcome::Moved => Err(Refusal::new(
                ErrorCode::Unavailable,
                "the store answered a broadcast as a room message; nothing was queued",
            )),
        }
    }

    /// Every client the filter keeps but the sender, in ascending order;
    /// more than `--max-broadcast-recipients` is refused.
    async fn matching(&self, filter: &Filter, sender: &str, now: u64) -> Result<Vec<String>, Refusal> {
        let mut ids: Vec<String> = self
            .store
            .all_declarations()
            .await?
            .into_iter()
            .filter(|(c, d)| c != sender && filter.keeps_declared(d))
            .map(|(c, _)| c)
            .collect();
        ids.sort_unstable();
        // Presence is one more store read for every candidate: made only
        // for a filter that names statuses.
        if filter.names_a_status() {
            let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let presence = self.presence_of(&refs, now).await?;
            let mut statuses = presence.into_iter().map(|(_, status)| status);
            ids.retain(|_| statuses.next().is_some_and(|s| filter.keeps_status(s)));
        }
        self.within_broadcast_limit(ids.len())?;
        Ok(ids)
    }

    /// The clients a sealed broadcast is wrapped for: each registered,
    /// under its current sealing kid, and not the sender.
    async fn wrapped_recipients(&self, m: &BroadcastArgs) -> Result<Vec<String>, Refusal> {
        let wraps = parse_wraps(&m.wraps).map_err(Refusal::invalid)?;
        self.within_broadcast_limit(wraps.len())?;
        if wraps.iter().any(|w| w.member == m.sender_id) {
            return Err(Refusal::invalid(
                "wraps: not for yourself; a broadcast goes to everyone but its sender",
            ));
        }
        for w in &wraps {
            self.check_wrap_kid(&w.member, &w.kid).await?;
        }
        Ok(wraps.into_iter().map(|w| w.member).collect())
    }

    fn within_broadcast_limit(&self, n: usize) -> Result<(), Refusal> {
        let max = self.config.max_broadcast_recipients;
        if n > max {
            return Err(Refusal::new(
                ErrorCode::TooLarge,
                format!("the broadcast reaches {n} clients, over the limit of {max} (--max-broadcast-recipients); narrow the filter; nothing was queued"),
            ));
        }
        Ok(())
    }

    /// Broadcasts are limited per client (`--broadcast-rate` a minute, per
    /// node), beside the general rate of signed calls: each is a fan-out.
    fn broadcast_rate(&self, client_id: &str) -> Result<(), Refusal> {
        self.broadcast_limit.client(client_id).map_err(|wait| {
            Refusal::rate_limited(
                &format!(
                    "{client_id} broadcast {} times in the last minute (--broadcast-rate)",
                    self.config.broadcast_rate
                ),
                wait,
            )
        })
    }
}
