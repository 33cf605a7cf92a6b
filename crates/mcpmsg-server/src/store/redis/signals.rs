//! Typing signals on Redis (PROTOCOL §15d): a HASH per recipient in its
//! queue's slot (see `keys::signal_key`), field "<room> <sender>", so a
//! new signal replaces its sender's last one there, and the take script
//! hands them out in the same step as the queue.

use futures_util::future::join_all;

use super::codec::encode_message;
use super::conn::err;
use super::keys::{signal_key, BELL};
use super::RedisStore;
use crate::store::{SignalStep, StoreError};

impl RedisStore {
    pub(super) async fn put_signal_step(&self, step: SignalStep<'_>) -> Result<Vec<bool>, StoreError> {
        if step.recipients.is_empty() {
            return Ok(Vec::new());
        }
        let field = format!("{} {}", step.room_id, step.signal.sender_id);
        let entry = encode_message(step.signal)?;
        let ttl = step.signal.expires_at.saturating_sub(step.now).max(1);
        let call = |recipients: &[&str]| {
            let mut inv = self.scripts.signal.prepare_invoke();
            for r in recipients {
                inv.key(signal_key(r));
            }
            inv.arg(&field)
                .arg(&entry[..])
                .arg(ttl)
                .arg(step.now)
                .arg(step.max)
                .arg(BELL)
                .arg(&self.node);
            for r in recipients {
                inv.arg(*r);
            }
            let mut conn = self.conn();
            async move {
                let left: Vec<String> = inv.invoke_async(&mut conn).await.map_err(err)?;
                Ok::<_, StoreError>(left.into_iter().map(|w| w == "1").collect::<Vec<bool>>())
            }
        };
        if !self.cluster() {
            // One script for every member: their hashes share a node.
            return call(step.recipients).await;
        }
        // On a Cluster each member's hash is in its own slot.
        let each = join_all(step.recipients.iter().map(|r| call(std::slice::from_ref(r)))).await;
        let mut left = Vec::with_capacity(each.len());
        for one in each {
            left.extend(one?);
        }
        Ok(left)
    }
}
