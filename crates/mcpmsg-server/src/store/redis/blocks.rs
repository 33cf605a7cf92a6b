//! Block lists on Redis: a SET per client in its queue's slot (see
//! `keys::block_key`), which the send scripts read in their own step.

use redis::AsyncCommands;

use super::conn::err;
use super::keys::block_key;
use super::RedisStore;
use crate::store::StoreError;

impl RedisStore {
    pub(super) async fn set_block_step(
        &self,
        client_id: &str,
        other: &str,
        block: bool,
        max: usize,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let list: Option<Vec<String>> = self
            .scripts
            .set_block
            .key(block_key(client_id))
            .arg(other)
            .arg(if block { "1" } else { "0" })
            .arg(max)
            .invoke_async(&mut self.conn())
            .await
            .map_err(err)?;
        Ok(list.map(|mut l| {
            l.sort();
            l
        }))
    }

    pub(super) async fn blocks_of(&self, client_id: &str) -> Result<Vec<String>, StoreError> {
        let mut l: Vec<String> = self.conn().smembers(block_key(client_id)).await.map_err(err)?;
        l.sort();
        Ok(l)
    }
}
