//! What the stores keep for rooms (PROTOCOL §15): each room's membership
//! log, an index of each client's rooms, and the step that fans a room
//! message out to the members' queues.
//!
//! The log is the truth: the broker reads it, applies the rules of
//! `mcpmsg_core::protocol::room`, and appends only if the log still has the
//! length it read (so two statements racing for the same place cannot both
//! land). The index only lists; a reader re-checks membership in each log.

use serde::{Deserialize, Serialize};

use super::{NonceRecord, QueueLimits, StoredMessage};
use mcpmsg_core::protocol::tools::{ChangeRoomArgs, EnterQueueArgs};

/// A statement of a room's log as stored: as signed, and when accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedStatement {
    /// The statement, every member as signed.
    pub statement: ChangeRoomArgs,
    /// Server time of acceptance, Unix ms.
    pub accepted_at: u64,
    /// A `pair` statement: both members' `enter_queue` requests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consents: Vec<EnterQueueArgs>,
}

/// Appends `entry` to room `room_id`'s log if it still has `expected_len`
/// statements (0: the room does not exist yet), and updates the index.
#[derive(Debug, Clone, Copy)]
pub struct RoomAppend<'a> {
    /// The room.
    pub room_id: &'a str,
    /// Statements the log must have for the append to happen.
    pub expected_len: u64,
    /// The statement.
    pub entry: &'a LoggedStatement,
    /// Clients that become members (create, join, pair): indexed.
    pub joins: &'a [&'a str],
    /// Clients that stop being members (leave, remove; both members when
    /// a pen-pal room ends): unindexed.
    pub leaves: &'a [&'a str],
    /// Nobody is a member any more: the room and its log are deleted.
    pub empties: bool,
}

/// Who a fan-out goes to, and what it checks on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanOutTo<'a> {
    /// A room's members, if its log still has `log_len` statements (the
    /// length the membership was read at). Block lists are not consulted:
    /// a member chose to be in the room.
    Room {
        /// The room.
        room_id: &'a str,
        /// The log length the membership was read at.
        log_len: u64,
    },
    /// The clients a broadcast matched; each recipient's block list is
    /// checked in the same step as its copy is queued.
    Broadcast,
}

/// One message queued for each recipient, in one step (one script on a
/// single Redis node): a room message (the log checked first) or a
/// broadcast (each recipient's block list checked); the sender's nonce is
/// claimed in the same step.
#[derive(Debug, Clone, Copy)]
pub struct FanOut<'a> {
    /// Room members or broadcast recipients.
    pub to: FanOutTo<'a>,
    /// The message as queued, with `recipient_id` empty: each copy gets
    /// its recipient's id.
    pub message: &'a StoredMessage,
    /// Every member but the sender, or every client the broadcast matched.
    pub recipients: &'a [&'a str],
    /// Until when the sender's nonce stays claimed, Unix ms.
    pub nonce_until: u64,
    /// The bounds of each recipient's queue.
    pub limits: QueueLimits,
    /// Server time, Unix ms.
    pub now: u64,
}

/// What happened to one recipient's copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Queued.
    Queued,
    /// The recipient's queue is full.
    QueueFull,
    /// The sender has its share of the recipient's queue.
    ShareFull,
    /// The store holds its most bytes.
    StoreFull,
    /// The recipient blocks the sender (broadcasts only).
    Blocked,
}

/// The result of [`super::Store::fan_out`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FanOutOutcome {
    /// Done: one [`Delivery`] per recipient, in order.
    Sent(Vec<Delivery>),
    /// The nonce was used before; nothing was queued.
    NonceUsed(NonceRecord),
    /// The log changed since it was read; nothing was queued and the nonce
    /// is free.
    Moved,
}

/// Leaves a typing signal (PROTOCOL §15d) for each of `recipients`,
/// replacing the one its sender left there for the same room. A recipient
/// already holding `max` signals from other senders or rooms is skipped.
/// Signals live apart from the queues (they never count against one) and
/// lapse at their `expires_at`; [`super::Store::take`] hands them out.
#[derive(Debug, Clone, Copy)]
pub struct SignalStep<'a> {
    /// The room it is about.
    pub room_id: &'a str,
    /// The signal, with an empty recipient (each copy gets its own).
    pub signal: &'a StoredMessage,
    /// The members it is for.
    pub recipients: &'a [&'a str],
    /// Signals one recipient holds at most.
    pub max: usize,
    /// Server time, Unix ms.
    pub now: u64,
}
