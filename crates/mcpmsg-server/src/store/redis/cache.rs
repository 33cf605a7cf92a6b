//! The Redis store's cache of identity records, kept honest by the
//! doorbell's invalidations and by checks of the stored log's head.

use std::sync::Arc;
use std::time::Duration;

use super::IdentityRecord;

/// Identity records read recently, so a request does not fetch and decode a
/// whole log each time. The acting client's record is checked against the
/// stored log's head before use (with its nonce, in one round trip); a
/// recipient's is used as it is for at most `IDENTITY_TTL`. Every write of
/// an identity publishes an invalidation on the doorbell channel, and the
/// cache is emptied whenever the subscription is (re)established.
pub(super) struct IdentityCache {
    map: std::sync::Mutex<std::collections::HashMap<String, Cached>>,
}

struct Cached {
    record: Arc<IdentityRecord>,
    head: Option<String>,
    at: std::time::Instant,
}

/// A safety net only: every write publishes an invalidation, and the cache
/// is emptied whenever the doorbell (re)subscribes.
pub(super) const IDENTITY_TTL: Duration = Duration::from_secs(30);
const IDENTITY_CACHE_MAX: usize = 100_000;
/// Doorbell messages starting with this invalidate an identity (client ids
/// cannot contain ':', so they never collide with a recipient's bell).
pub(super) const FORGET: &str = "id:";

impl IdentityCache {
    pub(super) fn new() -> Self {
        Self {
            map: Default::default(),
        }
    }

    /// The cached record, if any and, with `max_age`, young enough; with
    /// `head`, only if it is the record of that log.
    pub(super) fn get(&self, id: &str, max_age: Option<Duration>, head: Option<&str>) -> Option<Arc<IdentityRecord>> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(id)
            .filter(|c| max_age.is_none_or(|m| c.at.elapsed() < m))
            .filter(|c| head.is_none_or(|h| c.head.as_deref() == Some(h)))
            .map(|c| c.record.clone())
    }

    pub(super) fn put(&self, id: &str, record: Arc<IdentityRecord>) {
        let head = record.head();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= IDENTITY_CACHE_MAX {
            map.clear();
        }
        let at = std::time::Instant::now();
        map.insert(id.to_owned(), Cached { record, head, at });
    }

    pub(super) fn forget(&self, id: Option<&str>) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        match id {
            Some(id) => drop(map.remove(id)),
            None => map.clear(),
        }
    }
}
