//! Identities and presence on Redis: each identity's record (its key
//! event log) under `mcpmsg:{<id>}:id`, written by a script only at the
//! log length it was read at; the set of ids (`mcpmsg:ids`) that lists
//! them; and one hash of each client's last signed call, which never goes
//! back in time.

use std::sync::Arc;

use redis::AsyncCommands;

use super::cache::FORGET;
use super::conn::err;
use super::keys::{identity_key, BELL, IDS, PRESENCE};
use super::RedisStore;
use crate::store::{IdentityRecord, Store, StoreError};

impl RedisStore {
    pub(super) async fn put_identity_step(
        &self,
        client_id: &str,
        expected_len: usize,
        record: &IdentityRecord,
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(record).expect("a record serialises");
        let done: i64 = self
            .scripts
            .put_identity
            .key(identity_key(client_id))
            .arg(expected_len)
            .arg(record.events.len())
            .arg(json)
            .arg(BELL)
            .arg(format!("{} {FORGET}{client_id}", self.node))
            .arg(record.head().unwrap_or_default())
            .invoke_async(&mut self.conn())
            .await
            .map_err(err)?;
        if done == 1 {
            self.identities.put(client_id, Arc::new(record.clone()));
            let _: i64 = self.conn().sadd(IDS, client_id).await.map_err(err)?;
        }
        Ok(done == 1)
    }

    pub(super) async fn identity_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Arc<IdentityRecord>)>, StoreError> {
        // The set of ids is bounded by --max-clients; a page is cut from it
        // sorted here.
        let mut ids: Vec<String> = self.conn().smembers(IDS).await.map_err(err)?;
        ids.retain(|id| after.is_none_or(|a| id.as_str() > a));
        ids.sort_unstable();
        ids.truncate(limit);
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(r) = self.identity(&id).await? {
                out.push((id, r));
            }
        }
        Ok(out)
    }

    pub(super) async fn touch_step(&self, client_id: &str, at: u64) -> Result<(), StoreError> {
        // Never back in time, whichever node writes last: one small script.
        let _: i64 = self
            .scripts
            .touch
            .key(PRESENCE)
            .arg(client_id)
            .arg(at)
            .invoke_async(&mut self.conn())
            .await
            .map_err(err)?;
        Ok(())
    }

    pub(super) async fn last_seen_of(&self, client_ids: &[&str]) -> Result<Vec<Option<u64>>, StoreError> {
        if client_ids.is_empty() {
            return Ok(Vec::new());
        }
        redis::cmd("HMGET")
            .arg(PRESENCE)
            .arg(client_ids)
            .query_async(&mut self.conn())
            .await
            .map_err(err)
    }
}
