//! The Redis store: several server nodes share one store.
//!
//! Every step is one command or one Lua script (see `scripts`, and the
//! `.lua` files beside it), so
//! nodes never race: a send checks the sender's log head, claims its nonce
//! and queues its message in one script (one round trip; the broker has
//! checked the signature against its cached copy of that log). Leases live
//! in Redis, so a message leased by a node that dies comes back when its
//! lease ends. A send publishes the recipient's id on one channel; each
//! node subscribes once (see [`Store::watch`]) and wakes its own waiters,
//! re-checking all of them whenever it (re)subscribes; waiters also
//! re-check every few seconds as a safety net.
//!
//! Keys carry hash tags: `{recipient}` for a queue, `{client}` for an
//! identity and its nonces, so Redis Cluster can place them. On a Cluster
//! the sender's keys and the recipient's queue live in different slots, so
//! the nonce is claimed first (with the head check, holding the message id)
//! and the queue script then deduplicates by message id in the recipient's
//! slot: a retry after a crash between the two steps queues the message
//! once (two round trips).

mod blocks;
mod cache;
mod codec;
mod conn;
mod identities;
mod keys;
mod memory;
mod nonces;
mod pairing;
mod protocols;
mod rooms;
mod scripts;
mod send;
mod signals;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::AsyncCommands;
use tokio_util::sync::CancellationToken;

use self::cache::{IdentityCache, FORGET, IDENTITY_TTL};
use self::codec::{decode_message, decode_nonce, encode_nonce, raw16};
use self::conn::{err, open, Conn};
pub use self::conn::{redacted_url, RedisTls};
use self::keys::{identity_key, node_name, queue_keys, signal_key, BELL, DEFAULT_NONCE_WINDOW, IDS};
use self::memory::MemorySample;
use self::scripts::Scripts;
use super::{
    FanOut, FanOutOutcome, IdentityRecord, LoggedStatement, NonceRecord, PairEnter, PairOutcome, RoomAppend,
    SendOutcome, SendStep, SignalStep, Store, StoreError, StoredMessage, TakeMode, Waiting,
};

use self::nonces::Claim;

/// The Redis-backed store.
pub struct RedisStore {
    /// Where the doorbell subscribes: the server, or each Cluster seed in turn.
    seeds: Vec<redis::Client>,
    conn: Conn,
    scripts: Arc<Scripts>,
    identities: IdentityCache,
    /// How far back a nonce is looked for, in ms.
    nonce_window: u64,
    /// This node's name on the doorbell: it skips its own rings, having
    /// woken its own waiters already.
    node: String,
    /// Redis's `used_memory`, sampled: the bound on queued bytes.
    memory: MemorySample,
}

impl RedisStore {
    /// Connects to `url`: `redis://HOST:PORT/DB` for one Redis, or
    /// `redis-cluster://HOST:PORT,HOST:PORT,...` for a Cluster by its seed
    /// nodes; `rediss://` and `rediss-cluster://` speak TLS, checked with
    /// `tls`. Calls fail fast (about a second) while Redis is unreachable,
    /// and the connection comes back by itself.
    pub async fn connect(url: &str, tls: &RedisTls) -> Result<Self, StoreError> {
        let (seeds, conn) = open(url, tls).await?;
        Ok(Self {
            seeds,
            conn,
            scripts: Arc::new(Scripts::new()),
            identities: IdentityCache::new(),
            nonce_window: DEFAULT_NONCE_WINDOW.as_millis() as u64,
            node: node_name(),
            memory: MemorySample::default(),
        })
    }

    /// The replay window the broker keeps nonces for (twice its max skew;
    /// 240 s unless set): how far back a nonce is looked for.
    pub fn with_nonce_window(mut self, window: Duration) -> Self {
        self.nonce_window = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        self
    }

    fn conn(&self) -> Conn {
        self.conn.clone()
    }

    async fn fetch_identity(&self, client_id: &str) -> Result<Option<Arc<IdentityRecord>>, StoreError> {
        let rec: Option<String> = self.conn().hget(identity_key(client_id), "rec").await.map_err(err)?;
        let Some(rec) = rec else { return Ok(None) };
        let parsed =
            serde_json::from_str(&rec).map_err(|e| StoreError(format!("redis: malformed identity record: {e}")))?;
        let r: Arc<IdentityRecord> = Arc::new(parsed);
        self.identities.put(client_id, r.clone());
        Ok(Some(r))
    }

    fn cluster(&self) -> bool {
        matches!(self.conn, Conn::Cluster(_))
    }

    async fn queue_call<T: redis::FromRedisValue>(
        &self,
        script: &redis::Script,
        recipient: &str,
        args: &[&[u8]],
    ) -> Result<T, StoreError> {
        let mut inv = script.prepare_invoke();
        for k in queue_keys(recipient) {
            inv.key(k);
        }
        for a in args {
            inv.arg(a);
        }
        inv.invoke_async(&mut self.conn()).await.map_err(err)
    }
}

#[async_trait]
impl Store for RedisStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        redis::cmd("PING")
            .query_async::<String>(&mut self.conn())
            .await
            .map(drop)
            .map_err(err)
    }

    /// The identity must be current here (it decides which key may act),
    /// so a cached record is used only when the head stored in Redis still
    /// names it: one small read instead of fetching and decoding the log.
    async fn identity(&self, client_id: &str) -> Result<Option<Arc<IdentityRecord>>, StoreError> {
        let head: Option<String> = self.conn().hget(identity_key(client_id), "head").await.map_err(err)?;
        let Some(head) = head else { return Ok(None) };
        if let Some(r) = self.identities.get(client_id, None, Some(&head)) {
            return Ok(Some(r));
        }
        self.fetch_identity(client_id).await
    }

    /// A recipient's identity may be a moment old (at most `IDENTITY_TTL`,
    /// and invalidated on every write): used to check where a message goes.
    async fn recent_identity(&self, client_id: &str) -> Result<Option<Arc<IdentityRecord>>, StoreError> {
        if let Some(r) = self.identities.get(client_id, Some(IDENTITY_TTL), None) {
            return Ok(Some(r));
        }
        self.fetch_identity(client_id).await
    }

    /// Any cached record: the broker checks its head with the nonce.
    async fn cached_identity(&self, client_id: &str) -> Result<Option<Arc<IdentityRecord>>, StoreError> {
        if let Some(r) = self.identities.get(client_id, None, None) {
            return Ok(Some(r));
        }
        self.fetch_identity(client_id).await
    }

    async fn put_identity(
        &self,
        client_id: &str,
        expected_len: usize,
        record: &IdentityRecord,
    ) -> Result<bool, StoreError> {
        self.put_identity_step(client_id, expected_len, record).await
    }

    async fn identities(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Arc<IdentityRecord>)>, StoreError> {
        self.identity_page(after, limit).await
    }

    async fn identity_count(&self) -> Result<usize, StoreError> {
        self.conn().scard(IDS).await.map_err(err)
    }

    async fn touch(&self, client_id: &str, at: u64) -> Result<(), StoreError> {
        self.touch_step(client_id, at).await
    }

    async fn last_seen(&self, client_ids: &[&str]) -> Result<Vec<Option<u64>>, StoreError> {
        self.last_seen_of(client_ids).await
    }

    async fn precheck(
        &self,
        client_id: &str,
        nonce: &str,
        now: u64,
    ) -> Result<(Option<NonceRecord>, Option<String>), StoreError> {
        let (mut inv, field) = self.nonce_script(&self.scripts.precheck, &[], client_id, nonce, now)?;
        let (seen, head): (Vec<u8>, String) = inv
            .arg(&field[..])
            .arg(now)
            .invoke_async(&mut self.conn())
            .await
            .map_err(err)?;
        let seen = if seen.is_empty() {
            None
        } else {
            Some(decode_nonce(&seen)?)
        };
        Ok((seen, Some(head).filter(|h| !h.is_empty())))
    }

    async fn nonce(&self, client_id: &str, nonce: &str, now: u64) -> Result<Option<NonceRecord>, StoreError> {
        Ok(self.precheck(client_id, nonce, now).await?.0)
    }

    async fn claim_nonce(
        &self,
        client_id: &str,
        nonce: &str,
        record: NonceRecord,
        until: u64,
        now: u64,
    ) -> Result<bool, StoreError> {
        let value = encode_nonce(&record, until)?;
        Ok(matches!(
            self.claim(client_id, nonce, &value, until, now, None).await?,
            Claim::Claimed
        ))
    }

    async fn send(&self, step: SendStep<'_>) -> Result<SendOutcome, StoreError> {
        if self
            .memory
            .over(&mut self.conn(), step.limits.max_bytes, step.now)
            .await
        {
            return Ok(SendOutcome::StoreFull);
        }
        if self.cluster() {
            self.send_cluster(step).await
        } else {
            self.send_single(step).await
        }
    }

    async fn take(
        &self,
        recipient: &str,
        max: usize,
        mode: TakeMode,
        now: u64,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let lease = match mode {
            TakeMode::Remove => 0,
            TakeMode::LeaseUntil(t) => t,
        };
        let mut inv = self.scripts.take.prepare_invoke();
        for k in queue_keys(recipient) {
            inv.key(k);
        }
        inv.key(signal_key(recipient)).arg(max).arg(lease).arg(now);
        let raw: Vec<Vec<u8>> = inv.invoke_async(&mut self.conn()).await.map_err(err)?;
        raw.iter().map(|v| decode_message(v, recipient)).collect()
    }

    async fn take_reply(
        &self,
        recipient: &str,
        sender: &str,
        reply_to: &str,
        now: u64,
    ) -> Result<Option<StoredMessage>, StoreError> {
        // An id not in its protocol form matches no stored reply.
        let reply_to = raw16(reply_to).map_or_else(Vec::new, |r| r.to_vec());
        let raw: Option<Vec<u8>> = self
            .queue_call(
                &self.scripts.take_reply,
                recipient,
                &[sender.as_bytes(), &reply_to, now.to_string().as_bytes()],
            )
            .await?;
        raw.map(|v| decode_message(&v, recipient)).transpose()
    }

    async fn ack(&self, recipient: &str, ids: &[String], now: u64) -> Result<(Vec<String>, Vec<String>), StoreError> {
        // Ids not in their protocol form were never stored: unknown, unasked.
        let raws: Vec<Option<[u8; 16]>> = ids.iter().map(|id| raw16(id)).collect();
        let now = now.to_string();
        let mut args: Vec<&[u8]> = vec![now.as_bytes()];
        args.extend(raws.iter().flatten().map(|r| &r[..]));
        let flags: Vec<i64> = if args.len() > 1 {
            self.queue_call(&self.scripts.ack, recipient, &args).await?
        } else {
            Vec::new()
        };
        let mut flags = flags.into_iter();
        let (mut acked, mut unknown) = (Vec::new(), Vec::new());
        for (id, raw) in ids.iter().zip(&raws) {
            match raw.and_then(|_| flags.next()) {
                Some(1) => acked.push(id.clone()),
                _ => unknown.push(id.clone()),
            }
        }
        Ok((acked, unknown))
    }

    async fn next_lease_expiry(&self, recipient: &str, now: u64) -> Result<Option<u64>, StoreError> {
        let (_, next): (u64, String) = self
            .queue_call(&self.scripts.inspect, recipient, &[now.to_string().as_bytes()])
            .await?;
        Ok(next.parse::<f64>().ok().filter(|v| *v >= 0.0).map(|v| v as u64))
    }

    async fn queue_len(&self, recipient: &str, now: u64) -> Result<usize, StoreError> {
        let (len, _): (usize, String) = self
            .queue_call(&self.scripts.inspect, recipient, &[now.to_string().as_bytes()])
            .await?;
        Ok(len)
    }

    async fn room(&self, room_id: &str) -> Result<Vec<LoggedStatement>, StoreError> {
        self.room_log(room_id).await
    }

    async fn append_room(&self, step: RoomAppend<'_>) -> Result<bool, StoreError> {
        self.room_append(step).await
    }

    async fn rooms_of(&self, client_id: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        self.rooms_of_client(client_id, limit).await
    }

    async fn pair_enter(&self, step: PairEnter<'_>) -> Result<PairOutcome, StoreError> {
        self.pair_enter_step(step).await
    }

    async fn pair_leave(&self, client_id: &str) -> Result<bool, StoreError> {
        self.pair_leave_step(client_id).await
    }

    async fn pair_waiting(&self, before: u64, now: u64, limit: usize) -> Result<Vec<Waiting>, StoreError> {
        self.pair_waiting_step(before, now, limit).await
    }

    async fn set_block(
        &self,
        client_id: &str,
        other: &str,
        block: bool,
        max: usize,
    ) -> Result<Option<Vec<String>>, StoreError> {
        self.set_block_step(client_id, other, block, max).await
    }

    async fn blocks(&self, client_id: &str) -> Result<Vec<String>, StoreError> {
        self.blocks_of(client_id).await
    }

    async fn mark_pair_room(&self, room_id: &str, live: bool) -> Result<(), StoreError> {
        self.mark_pair_room_step(room_id, live).await
    }

    async fn pair_rooms(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        self.pair_rooms_step(limit).await
    }

    async fn register_protocol(&self, step: super::ProtocolRegister<'_>) -> Result<super::RegisterOutcome, StoreError> {
        self.register_protocol_step(step).await
    }

    async fn register_adapter(&self, step: super::AdapterRegister<'_>) -> Result<super::AdapterOutcome, StoreError> {
        self.register_adapter_step(step).await
    }

    async fn adapters(&self, name: &str) -> Result<Vec<super::AdapterRecord>, StoreError> {
        self.adapters_of(name).await
    }

    async fn protocol(&self, name: &str) -> Result<Option<(super::NameOwner, Vec<super::ProtocolRecord>)>, StoreError> {
        self.protocol_of(name).await
    }

    async fn protocol_names(&self, after: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        self.protocol_names_after(after, limit).await
    }

    async fn declare(&self, client_id: &str, declared: &super::Declaration) -> Result<(), StoreError> {
        self.declare_step(client_id, declared).await
    }

    async fn declarations(&self, client_ids: &[&str]) -> Result<Vec<Option<super::Declaration>>, StoreError> {
        self.declarations_of(client_ids).await
    }

    async fn all_declarations(&self) -> Result<Vec<(String, super::Declaration)>, StoreError> {
        self.every_declaration().await
    }

    async fn put_signal(&self, step: SignalStep<'_>) -> Result<Vec<bool>, StoreError> {
        self.put_signal_step(step).await
    }

    async fn fan_out(&self, step: FanOut<'_>) -> Result<FanOutOutcome, StoreError> {
        if self
            .memory
            .over(&mut self.conn(), step.limits.max_bytes, step.now)
            .await
        {
            let refused = vec![crate::store::Delivery::StoreFull; step.recipients.len()];
            return Ok(FanOutOutcome::Sent(refused));
        }
        self.room_fan_out(step).await
    }

    fn recheck_interval(&self) -> Option<Duration> {
        Some(Duration::from_secs(2))
    }

    async fn watch(&self, ring: &(dyn for<'r> Fn(Option<&'r str>) + Send + Sync), shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        let mut turn = 0usize;
        while !shutdown.is_cancelled() {
            // Classic pub/sub reaches every node of a Cluster: any seed will do.
            let seed = &self.seeds[turn % self.seeds.len()];
            turn += 1;
            match seed.get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.subscribe(BELL).await {
                    Ok(()) => {
                        backoff = Duration::from_millis(100);
                        // Anything written while we were not subscribed: every
                        // waiter re-checks and every cached identity is dropped.
                        self.identities.forget(None);
                        ring(None);
                        let mut stream = pubsub.on_message();
                        loop {
                            tokio::select! {
                                _ = shutdown.cancelled() => return,
                                msg = stream.next() => match msg {
                                    // "<node> <recipient> [<recipient> ...]" (a room's
                                    // fan-out rings its members at once) or "<node> id:<client>".
                                    Some(m) => match m.get_payload::<String>().ok().as_deref().and_then(|p| p.split_once(' ')) {
                                        Some((node, _)) if node == self.node => {}
                                        Some((_, p)) => match p.strip_prefix(FORGET) {
                                            Some(id) => self.identities.forget(Some(id)),
                                            None => p.split(' ').for_each(|r| ring(Some(r))),
                                        },
                                        None => tracing::warn!("malformed doorbell message"),
                                    },
                                    None => break,
                                },
                            }
                        }
                        tracing::warn!("redis doorbell subscription lost; resubscribing");
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot subscribe to the redis doorbell"),
                },
                Err(e) => tracing::warn!(error = %e, "cannot reach redis for the doorbell"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
}
