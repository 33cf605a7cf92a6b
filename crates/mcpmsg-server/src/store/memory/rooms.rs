//! Rooms in the memory store: each log, and each client's rooms.

use std::collections::{BTreeSet, HashMap};

use std::sync::Arc;

use super::Inner;
use crate::store::packed::nonce_key;
use crate::store::{
    Delivery, FanOut, FanOutOutcome, FanOutTo, LoggedStatement, NonceRecord, RoomAppend, StoredMessage,
};

/// Room logs by id, and the rooms each client was indexed in. Bounded by
/// the broker: rooms per client and statements per log are limits it
/// checks, and a room nobody is a member of is deleted.
#[derive(Default)]
pub(super) struct Rooms {
    logs: HashMap<String, Vec<LoggedStatement>>,
    index: HashMap<String, BTreeSet<String>>,
}

impl Rooms {
    pub(super) fn log(&self, room_id: &str) -> Vec<LoggedStatement> {
        self.logs.get(room_id).cloned().unwrap_or_default()
    }

    pub(super) fn len_of(&self, room_id: &str) -> u64 {
        self.logs.get(room_id).map_or(0, |l| l.len() as u64)
    }

    pub(super) fn append(&mut self, step: RoomAppend<'_>) -> bool {
        if self.len_of(step.room_id) != step.expected_len {
            return false;
        }
        if step.empties {
            self.logs.remove(step.room_id);
        } else {
            self.logs
                .entry(step.room_id.to_owned())
                .or_default()
                .push(step.entry.clone());
        }
        for c in step.joins {
            self.index
                .entry((*c).to_owned())
                .or_default()
                .insert(step.room_id.to_owned());
        }
        for c in step.leaves {
            if let Some(rooms) = self.index.get_mut(*c) {
                rooms.remove(step.room_id);
                if rooms.is_empty() {
                    self.index.remove(*c);
                }
            }
        }
        true
    }

    pub(super) fn of(&self, client_id: &str, limit: usize) -> Vec<String> {
        self.index
            .get(client_id)
            .map(|r| r.iter().take(limit).cloned().collect())
            .unwrap_or_default()
    }
}

impl Inner {
    /// A room message's or a broadcast's copies queued in one step (see
    /// `Store::fan_out`); the caller swept expired items first.
    pub(in crate::store) fn fan_out(&mut self, step: FanOut<'_>) -> FanOutOutcome {
        let inner = self;
        if let FanOutTo::Room { room_id, log_len } = step.to {
            if inner.rooms.len_of(room_id) != log_len {
                return FanOutOutcome::Moved;
            }
        }
        let honour_blocks = step.to == FanOutTo::Broadcast;
        let msg = step.message;
        let key = nonce_key(&msg.sender_id, &msg.nonce);
        if let Some(used) = inner.nonces.get(&key) {
            return FanOutOutcome::NonceUsed(used.record());
        }
        // One body for every copy: a 50-member room's envelope is stored
        // once, not 49 times.
        let body: Arc<str> = Arc::from(msg.message.as_str());
        let mut copy = StoredMessage {
            message: String::new(),
            ..msg.clone()
        };
        let mut sent = Vec::with_capacity(step.recipients.len());
        for member in step.recipients {
            if honour_blocks && inner.blocks.blocks(member, &msg.sender_id) {
                sent.push(Delivery::Blocked);
                continue;
            }
            (*member).clone_into(&mut copy.recipient_id);
            let queued = inner.enqueue_with(&copy, step.limits, Some(&body));
            sent.push(queued.map_or_else(|d| d, |()| Delivery::Queued));
        }
        // A message no member could take is refused whole: its nonce stays
        // free (as on Redis).
        if sent.is_empty() || sent.contains(&Delivery::Queued) {
            let record = NonceRecord::Send {
                message_id: msg.message_id.clone(),
                received_at: msg.received_at,
                expires_at: msg.expires_at,
            };
            inner.claim(key, &record, step.nonce_until);
        }
        FanOutOutcome::Sent(sent)
    }
}
