//! A send on Redis: one script on a single node (nonce, head check and
//! queue in one step), or claim-then-queue on a Cluster, where the nonce
//! and the queue live in different slots (see the module doc).

use super::codec::{decode_nonce, encode_claim, encode_message, encode_nonce, nonce_record};
use super::keys::{block_key, nonce_ttl, queue_keys, BELL};
use super::{err, Claim, RedisStore};
use crate::store::{NonceRecord, SendOutcome, SendStep, StoreError};

impl RedisStore {
    /// A send on one node: the SEND script does it all in one step.
    pub(super) async fn send_single(&self, step: SendStep<'_>) -> Result<SendOutcome, StoreError> {
        let SendStep {
            message: msg,
            nonce_until,
            limits,
            now,
            sender_head,
        } = step;
        let record = NonceRecord::Send {
            message_id: msg.message_id.clone(),
            received_at: msg.received_at,
            expires_at: msg.expires_at,
        };
        let [q, l, s] = queue_keys(&msg.recipient_id);
        let (mut inv, field) = self.nonce_script(
            &self.scripts.send,
            &[q, l, s, block_key(&msg.recipient_id)],
            &msg.sender_id,
            &msg.nonce,
            now,
        )?;
        let r: Vec<Vec<u8>> = inv
            .arg(encode_message(msg)?)
            .arg(limits.max_queue)
            .arg(nonce_ttl(nonce_until, now))
            .arg(encode_nonce(&record, nonce_until)?)
            .arg(msg.expires_at)
            .arg(now)
            .arg(BELL)
            .arg(format!("{} {}", self.node, msg.recipient_id))
            .arg(&field[..])
            .arg(sender_head.unwrap_or_default())
            .arg(&msg.sender_id)
            .arg(limits.max_per_sender)
            .invoke_async(&mut self.conn())
            .await
            .map_err(err)?;
        match r.first().map(Vec::as_slice) {
            Some(b"queued") => Ok(SendOutcome::Queued),
            Some(b"stale") => Ok(SendOutcome::Stale),
            Some(b"blocked") => Ok(SendOutcome::Blocked),
            Some(b"full") => Ok(SendOutcome::QueueFull),
            Some(b"share") => Ok(SendOutcome::SenderShareFull),
            Some(b"used") => Ok(SendOutcome::NonceUsed(decode_nonce(
                r.get(1).map_or(&[][..], Vec::as_slice),
            )?)),
            _ => Err(StoreError(format!("redis: unexpected send result {r:?}"))),
        }
    }

    /// A send on a Cluster: claim the nonce, then queue.
    pub(super) async fn send_cluster(&self, step: SendStep<'_>) -> Result<SendOutcome, StoreError> {
        let msg = step.message;
        let claim = encode_claim(&msg.message_id, step.nonce_until)?;
        match self
            .claim(
                &msg.sender_id,
                &msg.nonce,
                &claim,
                step.nonce_until,
                step.now,
                step.sender_head,
            )
            .await?
        {
            Claim::Stale => return Ok(SendOutcome::Stale),
            // The same send retried after a crash between the two steps
            // finds its own claim: it goes on to the queue, which
            // deduplicates.
            Claim::Used(old) if nonce_record(&old) != nonce_record(&claim) => {
                return Ok(SendOutcome::NonceUsed(decode_nonce(&old)?))
            }
            Claim::Used(_) | Claim::Claimed => {}
        }
        let r = self.queue_on_cluster(step, true).await?;
        match r.first().map(String::as_str) {
            Some("queued") => Ok(SendOutcome::Queued),
            Some("dup") => Ok(SendOutcome::NonceUsed(dedup_record(
                msg.message_id.clone(),
                r.get(1).map_or("", String::as_str),
            )?)),
            Some(refused @ ("full" | "share" | "blocked")) => {
                // Free the nonce so the same request can be retried later.
                self.release_claim(step, &claim).await?;
                Ok(match refused {
                    "full" => SendOutcome::QueueFull,
                    "share" => SendOutcome::SenderShareFull,
                    _ => SendOutcome::Blocked,
                })
            }
            _ => Err(StoreError(format!("redis: unexpected send result {r:?}"))),
        }
    }

    /// The second step on a Cluster: the SEND_CLUSTER script queues the
    /// message in the recipient's slot, deduplicating by message id.
    pub(super) async fn queue_on_cluster(
        &self,
        step: SendStep<'_>,
        honour_blocks: bool,
    ) -> Result<Vec<String>, StoreError> {
        let (msg, limits, now) = (step.message, step.limits, step.now);
        let window = step.nonce_until.saturating_sub(now).max(1);
        let [q, l, s] = queue_keys(&msg.recipient_id);
        let dedup = format!("mcpmsg:{{{}}}:d:{}", msg.recipient_id, msg.message_id);
        self.scripts
            .send_cluster
            .key(q)
            .key(l)
            .key(s)
            .key(dedup)
            .key(block_key(&msg.recipient_id))
            .arg(encode_message(msg)?)
            .arg(limits.max_queue)
            .arg(window)
            .arg(format!("{} {}", msg.received_at, msg.expires_at))
            .arg(msg.expires_at)
            .arg(now)
            .arg(BELL)
            .arg(format!("{} {}", self.node, msg.recipient_id))
            .arg(&msg.sender_id)
            .arg(limits.max_per_sender)
            .arg(if honour_blocks { "1" } else { "0" })
            .invoke_async(&mut self.conn())
            .await
            .map_err(err)
    }

    /// Releases a nonce claimed for a send that was then refused.
    pub(super) async fn release_claim(&self, step: SendStep<'_>, claim: &[u8]) -> Result<(), StoreError> {
        let msg = step.message;
        let (keys, field) = self.nonce_place(&msg.sender_id, &msg.nonce, step.now)?;
        let _: i64 = self
            .scripts
            .release
            .key(&keys[0])
            .arg(&field[..])
            .arg(claim)
            .invoke_async(&mut self.conn())
            .await
            .map_err(err)?;
        Ok(())
    }
}

/// The original result of a send the queue had already deduplicated.
pub(super) fn dedup_record(message_id: String, times: &str) -> Result<NonceRecord, StoreError> {
    let malformed = || StoreError(format!("redis: malformed dedup record {times:?}"));
    let (recv, exp) = times.split_once(' ').ok_or_else(malformed)?;
    Ok(NonceRecord::Send {
        message_id,
        received_at: recv.parse().map_err(|_| malformed())?,
        expires_at: exp.parse().map_err(|_| malformed())?,
    })
}
