//! The embedded in-memory store.
//!
//! Messages and used nonces are kept in compact forms (see `packed`). One
//! `std::sync::Mutex` guards the queues, nonces, identities, rooms and
//! pairing (`inner`): every operation is a few map and deque steps with no
//! `.await` inside, so the lock is held for microseconds and a sharded
//! design would buy little on a few cores. Typing signals and the protocol
//! registry touch none of that and have a lock each.
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

use std::sync::{Arc, Mutex, MutexGuard};

use self::inner::{Entry, Identity, Inner};
use async_trait::async_trait;

use super::packed::{nonce_key, CompactNonce};
use super::{
    Delivery, FanOut, FanOutOutcome, IdentityRecord, LoggedStatement, NonceRecord, PairEnter, PairOutcome, RoomAppend,
    SendOutcome, SendStep, SignalStep, Store, StoreError, StoredMessage, TakeMode,
};

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

    async fn register_adapter(&self, step: super::AdapterRegister<'_>) -> Result<super::AdapterOutcome, StoreError> {
        Ok(self
            .registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .register_adapter(step))
    }

    async fn adapters(&self, name: &str) -> Result<Vec<super::AdapterRecord>, StoreError> {
        Ok(self.registry.lock().unwrap_or_else(|p| p.into_inner()).adapters(name))
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

    async fn all_declarations(&self) -> Result<Vec<(String, super::Declaration)>, StoreError> {
        let r = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        Ok(r.declared.iter().map(|(c, d)| (c.clone(), d.clone())).collect())
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

mod inner;
mod pairing;
mod protocols;
mod rooms;
mod signals;
#[cfg(test)]
mod tests;
