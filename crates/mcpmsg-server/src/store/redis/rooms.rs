//! Rooms on Redis (PROTOCOL §15). A room's log is a LIST of JSON entries
//! under `mcpmsg:{r:<room_id>}:log`; each client's rooms a SET under
//! `mcpmsg:{<client>}:rooms`. Appends are conditional on the log's length
//! (a script), so concurrent statements cannot both land; the index is
//! written after, in the client's own slot, and is only a listing.
//!
//! A room message goes to every member in one script on a single node: the
//! log length, the sender's nonce and every member's queue in one step. On
//! a Cluster the members' queues live in other slots: the log length is
//! checked, the nonce claimed, then each member's copy is queued by the
//! deduplicating send script, concurrently, so a retry after a crash queues
//! each copy once.
//!
//! A broadcast (PROTOCOL §18e) takes the same path without a log, and
//! checks each recipient's block set beside its queue.

use futures_util::future::join_all;
use redis::AsyncCommands;

use super::codec::{decode_nonce, encode_claim, encode_message, encode_nonce, nonce_record};
use super::keys::{block_key, nonce_ttl, queue_keys, BELL};
use super::send::dedup_record;
use super::{err, Claim, RedisStore};
use crate::store::{
    Delivery, FanOut, FanOutOutcome, FanOutTo, LoggedStatement, NonceRecord, RoomAppend, SendStep, StoreError,
    StoredMessage,
};

fn log_key(room_id: &str) -> String {
    format!("mcpmsg:{{r:{room_id}}}:log")
}

fn index_key(client_id: &str) -> String {
    format!("mcpmsg:{{{client_id}}}:rooms")
}

fn delivery(word: &str) -> Result<Delivery, StoreError> {
    match word {
        "queued" | "dup" => Ok(Delivery::Queued),
        "full" => Ok(Delivery::QueueFull),
        "share" => Ok(Delivery::ShareFull),
        "blocked" => Ok(Delivery::Blocked),
        other => Err(StoreError(format!("redis: unexpected fan-out result {other:?}"))),
    }
}

impl RedisStore {
    pub(super) async fn room_log(&self, room_id: &str) -> Result<Vec<LoggedStatement>, StoreError> {
        let raw: Vec<Vec<u8>> = self.conn().lrange(log_key(room_id), 0, -1).await.map_err(err)?;
        raw.iter()
            .map(|e| serde_json::from_slice(e).map_err(|e| StoreError(format!("redis: malformed room entry: {e}"))))
            .collect()
    }

    pub(super) async fn room_append(&self, step: RoomAppend<'_>) -> Result<bool, StoreError> {
        let entry = serde_json::to_vec(step.entry).map_err(|e| StoreError(e.to_string()))?;
        let appended: i64 = self
            .scripts
            .room_append
            .key(log_key(step.room_id))
            .arg(step.expected_len)
            .arg(entry)
            .arg(if step.empties { "1" } else { "0" })
            .invoke_async(&mut self.conn())
            .await
            .map_err(err)?;
        if appended != 1 {
            return Ok(false);
        }
        for c in step.joins {
            let _: i64 = self.conn().sadd(index_key(c), step.room_id).await.map_err(err)?;
        }
        for c in step.leaves {
            let _: i64 = self.conn().srem(index_key(c), step.room_id).await.map_err(err)?;
        }
        Ok(true)
    }

    pub(super) async fn rooms_of_client(&self, client_id: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        let mut rooms: Vec<String> = self.conn().smembers(index_key(client_id)).await.map_err(err)?;
        rooms.sort();
        rooms.truncate(limit);
        Ok(rooms)
    }

    pub(super) async fn room_fan_out(&self, step: FanOut<'_>) -> Result<FanOutOutcome, StoreError> {
        if self.cluster() {
            return self.fan_out_cluster(step).await;
        }
        let msg = step.message;
        let (nonce_keys, field) = self.nonce_place(&msg.sender_id, &msg.nonce, step.now)?;
        let record = send_record(msg);
        let mut inv = self.scripts.room_fan_out.prepare_invoke();
        let log_len = match step.to {
            FanOutTo::Room { room_id, log_len } => {
                inv.key(log_key(room_id));
                log_len.to_string()
            }
            // No log to check; a single node takes any key in its place.
            FanOutTo::Broadcast => {
                inv.key(block_key(&msg.sender_id));
                "b".to_owned()
            }
        };
        for k in &nonce_keys {
            inv.key(k);
        }
        for member in step.recipients {
            for k in queue_keys(member) {
                inv.key(k);
            }
            if step.to == FanOutTo::Broadcast {
                inv.key(block_key(member));
            }
        }
        inv.arg(log_len)
            .arg(&field[..])
            .arg(encode_nonce(&record, step.nonce_until)?)
            .arg(nonce_ttl(step.nonce_until, step.now))
            .arg(encode_message(msg)?)
            .arg(msg.expires_at)
            .arg(step.now)
            .arg(BELL)
            .arg(&self.node)
            .arg(&msg.sender_id)
            .arg(step.limits.max_queue)
            .arg(step.limits.max_per_sender)
            .arg(nonce_keys.len());
        for member in step.recipients {
            inv.arg(*member);
        }
        let r: Vec<Vec<u8>> = inv.invoke_async(&mut self.conn()).await.map_err(err)?;
        match r.first().map(Vec::as_slice) {
            Some(b"moved") => Ok(FanOutOutcome::Moved),
            Some(b"used") => Ok(FanOutOutcome::NonceUsed(decode_nonce(
                r.get(1).map_or(&[][..], Vec::as_slice),
            )?)),
            Some(b"sent") => r[1..]
                .iter()
                .map(|w| delivery(&String::from_utf8_lossy(w)))
                .collect::<Result<_, _>>()
                .map(FanOutOutcome::Sent),
            _ => Err(StoreError(format!("redis: unexpected fan-out result {r:?}"))),
        }
    }

    /// On a Cluster: the log length, then the nonce, then every copy.
    async fn fan_out_cluster(&self, step: FanOut<'_>) -> Result<FanOutOutcome, StoreError> {
        if let FanOutTo::Room { room_id, log_len } = step.to {
            let len: u64 = self.conn().llen(log_key(room_id)).await.map_err(err)?;
            if len != log_len {
                return Ok(FanOutOutcome::Moved);
            }
        }
        let msg = step.message;
        let claim = encode_claim(&msg.message_id, step.nonce_until)?;
        let retry_of = match self
            .claim(&msg.sender_id, &msg.nonce, &claim, step.nonce_until, step.now, None)
            .await?
        {
            Claim::Stale => unreachable!("no head was given"),
            Claim::Used(old) if nonce_record(&old) != nonce_record(&claim) => {
                return Ok(FanOutOutcome::NonceUsed(decode_nonce(&old)?))
            }
            // The same send retried (perhaps after a crash between the
            // claim and the copies) goes on, so every copy gets queued,
            // each queue deduplicating by message id; it is answered as
            // the retry it is.
            Claim::Used(_) => Some(()),
            Claim::Claimed => None,
        };
        let copies: Vec<StoredMessage> = step
            .recipients
            .iter()
            .map(|m| StoredMessage {
                recipient_id: (*m).to_owned(),
                ..msg.clone()
            })
            .collect();
        let results = join_all(copies.iter().map(|copy| {
            let one = SendStep::new(copy, step.nonce_until, step.limits, step.now);
            self.queue_on_cluster(one, step.to == FanOutTo::Broadcast)
        }))
        .await;
        let replies: Vec<Vec<String>> = results.into_iter().collect::<Result<_, _>>()?;
        if retry_of.is_some() {
            // The original acceptance's times are kept beside each copy;
            // if no copy had been queued before, this retry's are the ones.
            let dup = replies.iter().find(|r| r.first().map(String::as_str) == Some("dup"));
            let original = match dup {
                Some(r) => dedup_record(msg.message_id.clone(), r.get(1).map_or("", String::as_str))?,
                None => send_record(msg),
            };
            return Ok(FanOutOutcome::NonceUsed(original));
        }
        let sent: Vec<Delivery> = replies
            .iter()
            .map(|r| delivery(r.first().map_or("", String::as_str)))
            .collect::<Result<_, _>>()?;
        if !sent.is_empty() && !sent.contains(&Delivery::Queued) {
            // Refused whole, as on a single node: the nonce is freed.
            let any = SendStep::new(msg, step.nonce_until, step.limits, step.now);
            self.release_claim(any, &claim).await?;
        }
        Ok(FanOutOutcome::Sent(sent))
    }
}

fn send_record(msg: &StoredMessage) -> NonceRecord {
    NonceRecord::Send {
        message_id: msg.message_id.clone(),
        received_at: msg.received_at,
        expires_at: msg.expires_at,
    }
}
