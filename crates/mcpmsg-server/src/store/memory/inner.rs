//! The memory store's core state under its one lock: queues with their
//! expiry hints, used nonces, identities and presence, and what rooms,
//! pairing and block lists keep (see the module doc of `memory`).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

use super::super::packed::{CompactNonce, NonceKey, Packed};
use super::super::{Delivery, IdentityRecord, NonceRecord, QueueLimits, StoredMessage};
use super::{pairing, rooms};

pub(super) struct Entry {
    pub(super) msg: Packed,
    /// 0 when not leased.
    pub(super) leased_until: u64,
}

impl Entry {
    pub(super) fn deliverable(&self, now: u64) -> bool {
        self.leased_until <= now && self.msg.expires_at > now
    }
}

/// A stored identity with its head (hash of its last event), computed once
/// when it is written rather than on every request that checks it.
pub(super) struct Identity {
    pub(super) record: Arc<IdentityRecord>,
    pub(super) head: Option<String>,
}

#[derive(Default)]
pub(super) struct Inner {
    pub(super) identities: BTreeMap<String, Identity>,
    pub(super) nonces: HashMap<NonceKey, CompactNonce>,
    pub(super) nonce_expiry: VecDeque<(u64, NonceKey)>,
    pub(super) queues: HashMap<Arc<str>, VecDeque<Entry>>,
    /// Armed hints: `(expires_at of a queue's head, recipient)`.
    pub(super) message_expiry: BinaryHeap<Reverse<(u64, Arc<str>)>>,
    /// The time of each queue's pending hint.
    pub(super) armed: HashMap<Arc<str>, u64>,
    /// Bytes of the bodies of every queued message.
    pub(super) queued_bytes: u64,
    /// Messages queued per (recipient, sender); no zero entries.
    pub(super) per_sender: HashMap<(Arc<str>, Box<str>), usize>,
    /// Last authenticated call per client (bounded: only registered
    /// identities make one).
    pub(super) last_seen: HashMap<Box<str>, u64>,
    /// Rooms and the index of each client's rooms (see `rooms`).
    pub(super) rooms: rooms::Rooms,
    /// Who waits to be paired (see `pairing`).
    pub(super) pairing: pairing::PairQueue,
    /// Live pen-pal rooms (each also a room of `rooms`, so bounded with them).
    pub(super) pair_rooms: std::collections::BTreeSet<String>,
    /// Each client's block list (bounded by the broker's limit).
    pub(super) blocks: pairing::Blocks,
}

impl Inner {
    pub(super) fn sweep(&mut self, now: u64) {
        while let Some((at, _)) = self.nonce_expiry.front() {
            if *at > now {
                break;
            }
            let (_, key) = self.nonce_expiry.pop_front().expect("front exists");
            if self.nonces.get(&key).is_some_and(|n| n.until <= now) {
                self.nonces.remove(&key);
            }
        }
        while let Some(Reverse((at, _))) = self.message_expiry.peek() {
            if *at > now {
                break;
            }
            let Reverse((at, recipient)) = self.message_expiry.pop().expect("peeked");
            if self.armed.get(&recipient) != Some(&at) {
                continue;
            }
            let mut expired = Vec::new();
            let head = self.queues.get_mut(&recipient).and_then(|q| {
                while q.front().is_some_and(|e| e.msg.expires_at <= now) {
                    expired.extend(q.pop_front());
                }
                q.front().map(|e| e.msg.expires_at)
            });
            for e in &expired {
                self.forget(&recipient, e);
            }
            match head {
                Some(next) => {
                    self.armed.insert(recipient.clone(), next);
                    self.message_expiry.push(Reverse((next, recipient)));
                }
                None => {
                    self.queues.remove(&recipient);
                    self.armed.remove(&recipient);
                }
            }
        }
    }

    /// Accounts for a message leaving `recipient`'s queue.
    pub(super) fn forget(&mut self, recipient: &Arc<str>, e: &Entry) {
        self.queued_bytes = self.queued_bytes.saturating_sub(e.msg.body_len() as u64);
        let key = (recipient.clone(), Box::from(e.msg.sender_id()));
        if let Some(n) = self.per_sender.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.per_sender.remove(&key);
            }
        }
    }

    /// Removes entry `i` of `recipient`'s queue, accounting for it.
    pub(super) fn remove_at(&mut self, recipient: &str, i: usize) -> Option<Entry> {
        let key = self.queues.get_key_value(recipient)?.0.clone();
        let e = self.queues.get_mut(recipient)?.remove(i)?;
        self.forget(&key, &e);
        Some(e)
    }

    pub(super) fn queue(&mut self, recipient: &str) -> Option<&mut VecDeque<Entry>> {
        self.queues.get_mut(recipient)
    }

    /// Queues `msg` for its recipient within `limits`, or says which one
    /// refused (nothing changed then).
    pub(super) fn enqueue(&mut self, msg: &StoredMessage, limits: QueueLimits) -> Result<(), Delivery> {
        self.enqueue_with(msg, limits, None)
    }

    /// As [`Inner::enqueue`], with the body `shared` by other copies (a
    /// room message's): counted against `--max-queued-bytes` for each copy,
    /// stored once.
    pub(super) fn enqueue_with(
        &mut self,
        msg: &StoredMessage,
        limits: QueueLimits,
        shared: Option<&Arc<str>>,
    ) -> Result<(), Delivery> {
        let body_len = shared.map_or(msg.message.len(), |b| b.len()) as u64;
        if self.queues.get(msg.recipient_id.as_str()).map_or(0, VecDeque::len) >= limits.max_queue {
            return Err(Delivery::QueueFull);
        }
        let recipient: Arc<str> = match self.queues.get_key_value(msg.recipient_id.as_str()) {
            Some((k, _)) => k.clone(),
            None => Arc::from(msg.recipient_id.as_str()),
        };
        let share = (recipient.clone(), Box::from(msg.sender_id.as_str()));
        if self.per_sender.get(&share).copied().unwrap_or(0) >= limits.max_per_sender {
            return Err(Delivery::ShareFull);
        }
        if self.queued_bytes + body_len > limits.max_bytes {
            return Err(Delivery::StoreFull);
        }
        *self.per_sender.entry(share).or_default() += 1;
        self.queued_bytes += body_len;
        if !self.armed.contains_key(&recipient) {
            self.armed.insert(recipient.clone(), msg.expires_at);
            self.message_expiry.push(Reverse((msg.expires_at, recipient.clone())));
        }
        let packed = match shared {
            Some(body) => Packed::with_shared_body(msg, body.clone()),
            None => Packed::new(msg),
        };
        self.queues.entry(recipient).or_default().push_back(Entry {
            msg: packed,
            leased_until: 0,
        });
        Ok(())
    }

    /// Records a used nonce until `until`.
    pub(super) fn claim(&mut self, key: NonceKey, record: &NonceRecord, until: u64) {
        self.nonces.insert(key, CompactNonce::new(record, until));
        self.nonce_expiry.push_back((until, key));
    }

    pub(super) fn drop_if_empty(&mut self, recipient: &str) {
        if self.queues.get(recipient).is_some_and(VecDeque::is_empty) {
            self.queues.remove(recipient);
            self.armed.remove(recipient);
        }
    }
}
