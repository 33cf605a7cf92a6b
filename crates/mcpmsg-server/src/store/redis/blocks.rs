//! Block lists on Redis: a SET per client in its queue's slot (see
//! `keys::block_key`), which the send scripts read in their own step.

use redis::AsyncCommands;

use super::conn::err;
use super::keys::block_key;
use super::RedisStore;
use crate::store::StoreError;

/// KEYS: the block list. ARGV: other, '1' to add or '0' to remove, max.
/// Returns the list after, or false when adding would pass max.
const SET_BLOCK: &str = r"
if ARGV[2] == '1' then
  if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 and redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[3]) then
    return false
  end
  redis.call('SADD', KEYS[1], ARGV[1])
else
  redis.call('SREM', KEYS[1], ARGV[1])
end
return redis.call('SMEMBERS', KEYS[1])
";

impl RedisStore {
    pub(super) async fn set_block_step(
        &self,
        client_id: &str,
        other: &str,
        block: bool,
        max: usize,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let script = redis::Script::new(SET_BLOCK);
        let list: Option<Vec<String>> = script
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
