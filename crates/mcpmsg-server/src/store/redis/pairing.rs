//! The pen-pal queue on Redis: a ZSET of who waits, oldest first, and a
//! HASH of their entries, beside the presence hash in one slot (`{p}`), so
//! one script pairs or queues, dropping offline clients on the way.

use redis::AsyncCommands;

use super::conn::err;
use super::keys::{PAIR_ENTRIES, PAIR_ORDER, PAIR_ROOMS, PRESENCE};
use super::RedisStore;
use crate::store::{PairEnter, PairOutcome, StoreError, Waiting, PAIR_SCAN};

impl RedisStore {
    pub(super) async fn pair_enter_step(&self, step: PairEnter<'_>) -> Result<PairOutcome, StoreError> {
        let entry = serde_json::to_string(step.entry).map_err(|e| StoreError(e.to_string()))?;
        let r: Vec<String> = self
            .scripts
            .pair_enter
            .key(PAIR_ORDER)
            .key(PAIR_ENTRIES)
            .key(PRESENCE)
            .arg(&step.entry.client_id)
            .arg(entry)
            .arg(step.now)
            .arg(step.offline_before)
            .arg(step.seed)
            .arg(PAIR_SCAN)
            .arg(step.max_queue)
            .arg(step.entry.interests.join(","))
            .arg(step.grace_before)
            .arg(step.entry.blocked.join(","))
            .arg(if step.rematch { "1" } else { "0" })
            .invoke_async(&mut self.conn())
            .await
            .map_err(err)?;
        match (r.first().map(String::as_str), r.get(1)) {
            (Some("paired"), Some(raw)) => {
                let partner: Waiting = serde_json::from_str(raw)
                    .map_err(|e| StoreError(format!("redis: malformed pairing entry: {e}")))?;
                Ok(PairOutcome::Paired(Box::new(partner)))
            }
            (Some("waiting"), _) => Ok(PairOutcome::Waiting),
            (Some("full"), _) => Ok(PairOutcome::QueueFull),
            (Some("gone"), _) => Ok(PairOutcome::Gone),
            _ => Err(StoreError(format!("redis: unexpected pairing result {r:?}"))),
        }
    }

    pub(super) async fn pair_waiting_step(
        &self,
        before: u64,
        now: u64,
        limit: usize,
    ) -> Result<Vec<Waiting>, StoreError> {
        let ids: Vec<String> = self
            .conn()
            .zrangebyscore_limit(PAIR_ORDER, "-inf", format!("({before}"), 0, limit as isize)
            .await
            .map_err(err)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let raw: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(PAIR_ENTRIES)
            .arg(&ids)
            .query_async(&mut self.conn())
            .await
            .map_err(err)?;
        Ok(raw
            .into_iter()
            .flatten()
            .filter_map(|r| serde_json::from_str::<Waiting>(&r).ok())
            .filter(|w| w.until > now)
            .collect())
    }

    pub(super) async fn mark_pair_room_step(&self, room_id: &str, live: bool) -> Result<(), StoreError> {
        let _: i64 = if live {
            self.conn().sadd(PAIR_ROOMS, room_id).await
        } else {
            self.conn().srem(PAIR_ROOMS, room_id).await
        }
        .map_err(err)?;
        Ok(())
    }

    pub(super) async fn pair_rooms_step(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        let count = isize::try_from(limit).unwrap_or(isize::MAX);
        let all: Vec<String> = self.conn().srandmember_multiple(PAIR_ROOMS, count).await.map_err(err)?;
        Ok(all)
    }

    pub(super) async fn pair_leave_step(&self, client_id: &str) -> Result<bool, StoreError> {
        let removed: i64 = self.conn().zrem(PAIR_ORDER, client_id).await.map_err(err)?;
        let _: i64 = self.conn().hdel(PAIR_ENTRIES, client_id).await.map_err(err)?;
        Ok(removed > 0)
    }
}
