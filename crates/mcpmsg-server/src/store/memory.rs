//! The embedded in-memory store.
//!
//! Messages and used nonces are kept in compact forms (see `packed`). One
//! `std::sync::Mutex` guards everything: every operation is a few map
//! and deque steps with no `.await` inside, so the lock is held for
//! microseconds and a sharded design would buy little on a few cores.
//!
//! Expiry costs nothing while idle: there is no timer per message and no
//! periodic scan; every operation first drops what has expired. Message
//! lifetime and the nonce window are constant, so a queue's messages expire
//! front first, and so do used nonces. Nonces sit in a FIFO of
//! `(until, key)`. Queues each keep one *armed* hint `(expires_at of the
//! head, recipient)` in a min-heap: processing a due hint drops the expired
//! head messages and re-arms at the new head. Hints whose queue was emptied
//! or re-armed meanwhile no longer match `armed` and are skipped, so the
//! heap holds about one entry per queue rather than one per message.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use super::packed::{nonce_key, CompactNonce, NonceKey, Packed};
use super::{
    Delivery, FanOut, FanOutOutcome, IdentityRecord, LoggedStatement, NonceRecord, PairEnter, PairOutcome, QueueLimits,
    RoomAppend, SendOutcome, SendStep, SignalStep, Store, StoreError, StoredMessage, TakeMode,
};

struct Entry {
    msg: Packed,
    /// 0 when not leased.
    leased_until: u64,
}

impl Entry {
    fn deliverable(&self, now: u64) -> bool {
        self.leased_until <= now && self.msg.expires_at > now
    }
}

/// A stored identity with its head (hash of its last event), computed once
/// when it is written rather than on every request that checks it.
struct Identity {
    record: Arc<IdentityRecord>,
    head: Option<String>,
}

#[derive(Default)]
struct Inner {
    identities: BTreeMap<String, Identity>,
    nonces: HashMap<NonceKey, CompactNonce>,
    nonce_expiry: VecDeque<(u64, NonceKey)>,
    queues: HashMap<Arc<str>, VecDeque<Entry>>,
    /// Armed hints: `(expires_at of a queue's head, recipient)`.
    message_expiry: BinaryHeap<Reverse<(u64, Arc<str>)>>,
    /// The time of each queue's pending hint.
    armed: HashMap<Arc<str>, u64>,
    /// Bytes of the bodies of every queued message.
    queued_bytes: u64,
    /// Messages queued per (recipient, sender); no zero entries.
    per_sender: HashMap<(Arc<str>, Box<str>), usize>,
    /// Last authenticated call per client (bounded: only registered
    /// identities make one).
    last_seen: HashMap<Box<str>, u64>,
    /// Rooms and the index of each client's rooms (see `rooms`).
    rooms: rooms::Rooms,
    /// Who waits to be paired (see `pairing`).
    pairing: pairing::PairQueue,
    /// Live pen-pal rooms (each also a room of `rooms`, so bounded with them).
    pair_rooms: std::collections::BTreeSet<String>,
    /// Each client's block list (bounded by the broker's limit).
    blocks: pairing::Blocks,
}

impl Inner {
    fn sweep(&mut self, now: u64) {
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
    fn forget(&mut self, recipient: &Arc<str>, e: &Entry) {
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
    fn remove_at(&mut self, recipient: &str, i: usize) -> Option<Entry> {
        let key = self.queues.get_key_value(recipient)?.0.clone();
        let e = self.queues.get_mut(recipient)?.remove(i)?;
        self.forget(&key, &e);
        Some(e)
    }

    fn queue(&mut self, recipient: &str) -> Option<&mut VecDeque<Entry>> {
        self.queues.get_mut(recipient)
    }

    /// Queues `msg` for its recipient within `limits`, or says which one
    /// refused (nothing changed then).
    fn enqueue(&mut self, msg: &StoredMessage, limits: QueueLimits) -> Result<(), Delivery> {
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

    fn drop_if_empty(&mut self, recipient: &str) {
        if self.queues.get(recipient).is_some_and(VecDeque::is_empty) {
            self.queues.remove(recipient);
            self.armed.remove(recipient);
        }
    }
}

/// The in-memory store: the embedded default, for one server process.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    signals: Mutex<signals::Signals>,
    registry: Mutex<protocols::Registry>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The lock, for steps that touch only identities (nothing expires).
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated
        // in a way that matters more than losing the process would.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_signals(&self) -> MutexGuard<'_, signals::Signals> {
        self.signals.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The lock, with what expired by `now` dropped first.
    fn lock_swept(&self, now: u64) -> MutexGuard<'_, Inner> {
        let mut inner = self.lock();
        inner.sweep(now);
        inner
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn identity(&self, client_id: &str) -> Result<Option<Arc<IdentityRecord>>, StoreError> {
        Ok(self.lock().identities.get(client_id).map(|i| i.record.clone()))
    }

    async fn put_identity(
        &self,
        client_id: &str,
        expected_len: usize,
        record: &IdentityRecord,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let current = inner.identities.get(client_id).map_or(0, |i| i.record.events.len());
        if current != expected_len {
            return Ok(false);
        }
        let identity = Identity {
            record: Arc::new(record.clone()),
            head: record.head(),
        };
        inner.identities.insert(client_id.to_owned(), identity);
        Ok(true)
    }

    async fn identities(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Arc<IdentityRecord>)>, StoreError> {
        use std::ops::Bound;
        let from = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_owned()));
        Ok(self
            .lock()
            .identities
            .range((from, Bound::Unbounded))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.record.clone()))
            .collect())
    }

    async fn identity_count(&self) -> Result<usize, StoreError> {
        Ok(self.lock().identities.len())
    }

    async fn touch(&self, client_id: &str, at: u64) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let seen = inner.last_seen.entry(client_id.into()).or_insert(at);
        *seen = (*seen).max(at);
        Ok(())
    }

    async fn last_seen(&self, client_ids: &[&str]) -> Result<Vec<Option<u64>>, StoreError> {
        let inner = self.lock();
        Ok(client_ids.iter().map(|id| inner.last_seen.get(*id).copied()).collect())
    }

    async fn precheck(
        &self,
        client_id: &str,
        nonce: &str,
        now: u64,
    ) -> Result<(Option<NonceRecord>, Option<String>), StoreError> {
        let inner = self.lock_swept(now);
        let seen = inner.nonces.get(&nonce_key(client_id, nonce)).map(CompactNonce::record);
        Ok((seen, inner.identities.get(client_id).and_then(|i| i.head.clone())))
    }

    async fn nonce(&self, client_id: &str, nonce: &str, now: u64) -> Result<Option<NonceRecord>, StoreError> {
        let inner = self.lock_swept(now);
        Ok(inner.nonces.get(&nonce_key(client_id, nonce)).map(CompactNonce::record))
    }

    async fn claim_nonce(
        &self,
        client_id: &str,
        nonce: &str,
        record: NonceRecord,
        until: u64,
        now: u64,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock_swept(now);
        let key = nonce_key(client_id, nonce);
        if inner.nonces.contains_key(&key) {
            return Ok(false);
        }
        inner.claim(key, &record, until);
        Ok(true)
    }

    async fn send(&self, step: SendStep<'_>) -> Result<SendOutcome, StoreError> {
        let SendStep {
            message: msg,
            nonce_until,
            limits,
            now,
            sender_head,
        } = step;
        let mut inner = self.lock_swept(now);
        if let Some(head) = sender_head {
            if inner.identities.get(&msg.sender_id).and_then(|i| i.head.as_deref()) != Some(head) {
                return Ok(SendOutcome::Stale);
            }
        }
        let key = nonce_key(&msg.sender_id, &msg.nonce);
        if let Some(used) = inner.nonces.get(&key) {
            return Ok(SendOutcome::NonceUsed(used.record()));
        }
        if inner.blocks.blocks(&msg.recipient_id, &msg.sender_id) {
            return Ok(SendOutcome::Blocked);
        }
        if let Err(refused) = inner.enqueue(msg, limits) {
            return Ok(match refused {
                Delivery::QueueFull => SendOutcome::QueueFull,
                Delivery::ShareFull => SendOutcome::SenderShareFull,
                _ => SendOutcome::StoreFull,
            });
        }
        let record = NonceRecord::Send {
            message_id: msg.message_id.clone(),
            received_at: msg.received_at,
            expires_at: msg.expires_at,
        };
        inner.claim(key, &record, nonce_until);
        Ok(SendOutcome::Queued)
    }

    async fn take(
        &self,
        recipient: &str,
        max: usize,
        mode: TakeMode,
        now: u64,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let mut inner = self.lock_swept(now);
        let mut out = Vec::new();
        match mode {
            TakeMode::Remove => {
                let mut i = 0;
                while out.len() < max {
                    let Some(e) = inner.queue(recipient).and_then(|q| q.get(i)) else {
                        break;
                    };
                    if e.deliverable(now) {
                        let e = inner.remove_at(recipient, i).expect("index in range");
                        out.push(e.msg.unpack());
                    } else {
                        i += 1;
                    }
                }
            }
            TakeMode::LeaseUntil(until) => {
                if let Some(q) = inner.queue(recipient) {
                    for e in q.iter_mut().filter(|e| e.deliverable(now)).take(max) {
                        e.leased_until = until;
                        out.push(e.msg.unpack());
                    }
                }
            }
        }
        inner.drop_if_empty(recipient);
        drop(inner);
        out.extend(self.lock_signals().take(recipient, now));
        Ok(out)
    }

    async fn take_reply(
        &self,
        recipient: &str,
        sender: &str,
        reply_to: &str,
        now: u64,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let mut inner = self.lock_swept(now);
        let Some(q) = inner.queue(recipient) else {
            return Ok(None);
        };
        let from_sender = |e: &Entry| e.deliverable(now) && e.msg.sender_id() == sender;
        let index = q
            .iter()
            .position(|e| from_sender(e) && e.msg.in_reply_to() == reply_to)
            .or_else(|| q.iter().position(from_sender));
        let taken = index
            .and_then(|i| inner.remove_at(recipient, i))
            .map(|e| e.msg.unpack());
        inner.drop_if_empty(recipient);
        Ok(taken)
    }

    async fn ack(&self, recipient: &str, ids: &[String], now: u64) -> Result<(Vec<String>, Vec<String>), StoreError> {
        let mut inner = self.lock_swept(now);
        let (mut acked, mut unknown) = (Vec::new(), Vec::new());
        for id in ids {
            // Only what was handed out with a lease: a client learns an id
            // no other way (the Redis store relies on it to search only
            // leased messages).
            let at = inner
                .queue(recipient)
                .and_then(|q| q.iter().position(|e| e.leased_until != 0 && e.msg.message_id() == id));
            match at.and_then(|i| inner.remove_at(recipient, i)) {
                Some(_) => acked.push(id.clone()),
                None => unknown.push(id.clone()),
            }
        }
        inner.drop_if_empty(recipient);
        Ok((acked, unknown))
    }

    async fn next_lease_expiry(&self, recipient: &str, now: u64) -> Result<Option<u64>, StoreError> {
        let mut inner = self.lock_swept(now);
        Ok(inner
            .queue(recipient)
            .and_then(|q| q.iter().filter(|e| e.leased_until > now).map(|e| e.leased_until).min()))
    }

    async fn queue_len(&self, recipient: &str, now: u64) -> Result<usize, StoreError> {
        let mut inner = self.lock_swept(now);
        Ok(inner.queue(recipient).map_or(0, |q| q.len()))
    }

    async fn room(&self, room_id: &str) -> Result<Vec<LoggedStatement>, StoreError> {
        Ok(self.lock().rooms.log(room_id))
    }

    async fn append_room(&self, step: RoomAppend<'_>) -> Result<bool, StoreError> {
        Ok(self.lock().rooms.append(step))
    }

    async fn rooms_of(&self, client_id: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        Ok(self.lock().rooms.of(client_id, limit))
    }

    async fn fan_out(&self, step: FanOut<'_>) -> Result<FanOutOutcome, StoreError> {
        Ok(self.lock_swept(step.now).fan_out(step))
    }

    async fn register_protocol(&self, step: super::ProtocolRegister<'_>) -> Result<super::RegisterOutcome, StoreError> {
        Ok(self.registry.lock().unwrap_or_else(|p| p.into_inner()).register(step))
    }

    async fn protocol(&self, name: &str) -> Result<Option<(super::NameOwner, Vec<super::ProtocolRecord>)>, StoreError> {
        Ok(self.registry.lock().unwrap_or_else(|p| p.into_inner()).get(name))
    }

    async fn protocol_names(&self, after: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        Ok(self
            .registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .names_after(after, limit))
    }

    async fn declare(&self, client_id: &str, declared: &super::Declaration) -> Result<(), StoreError> {
        let mut r = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        r.declared.insert(client_id.to_owned(), declared.clone());
        Ok(())
    }

    async fn declarations(&self, client_ids: &[&str]) -> Result<Vec<Option<super::Declaration>>, StoreError> {
        let r = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        Ok(client_ids.iter().map(|c| r.declared.get(*c).cloned()).collect())
    }

    async fn put_signal(&self, step: SignalStep<'_>) -> Result<Vec<bool>, StoreError> {
        Ok(self.lock_signals().put(step))
    }

    async fn pair_enter(&self, step: PairEnter<'_>) -> Result<PairOutcome, StoreError> {
        let mut inner = self.lock();
        let Inner { pairing, last_seen, .. } = &mut *inner;
        Ok(pairing.enter(step, last_seen))
    }

    async fn pair_leave(&self, client_id: &str) -> Result<bool, StoreError> {
        Ok(self.lock().pairing.leave(client_id))
    }

    async fn pair_waiting(&self, before: u64, now: u64, limit: usize) -> Result<Vec<super::Waiting>, StoreError> {
        Ok(self.lock().pairing.waiting_since(before, now, limit))
    }

    async fn set_block(
        &self,
        client_id: &str,
        other: &str,
        block: bool,
        max: usize,
    ) -> Result<Option<Vec<String>>, StoreError> {
        Ok(self.lock().blocks.set(client_id, other, block, max))
    }

    async fn mark_pair_room(&self, room_id: &str, live: bool) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if live {
            inner.pair_rooms.insert(room_id.to_owned());
        } else {
            inner.pair_rooms.remove(room_id);
        }
        Ok(())
    }

    async fn pair_rooms(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        Ok(self.lock().pair_rooms.iter().take(limit).cloned().collect())
    }

    async fn blocks(&self, client_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(self.lock().blocks.of(client_id))
    }
}

mod pairing;
mod protocols;
mod rooms;
mod signals;
#[cfg(test)]
mod tests;
