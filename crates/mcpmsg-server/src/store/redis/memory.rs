//! The Redis store's bound on queued bytes: Redis's own `used_memory`,
//! sampled at most once a second per node. Queues expire as whole keys
//! when idle, so no counter of queued bytes could follow them; Redis's
//! accounting bounds everything it holds.

use std::sync::atomic::AtomicU64;

use super::conn::{err, Conn};

/// The last sample of `used_memory`, and when it was taken (Unix ms).
#[derive(Default)]
pub(super) struct MemorySample {
    used_memory: AtomicU64,
    sampled_at: AtomicU64,
}

impl MemorySample {
    /// Whether Redis uses more than `max_bytes`, from a sample at most a
    /// second old (one `INFO memory` per node per second). Queues expire as
    /// whole keys when idle, so no counter of queued bytes could follow
    /// them; Redis's own accounting bounds everything it holds. A sample
    /// that fails counts as not full: sends then fail on their own if
    /// Redis is really gone.
    pub(super) async fn over(&self, conn: &mut Conn, max_bytes: u64, now: u64) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        if now.saturating_sub(self.sampled_at.load(Relaxed)) >= 1000 {
            self.sampled_at.store(now, Relaxed);
            // One Redis answers with its text; a Cluster with one text per
            // node, whose figures add up.
            match redis::cmd("INFO").arg("memory").query_async::<redis::Value>(conn).await {
                Ok(info) => self.used_memory.store(used_memory(&info), Relaxed),
                Err(e) => tracing::warn!(error = %err(e), "cannot sample redis memory"),
            }
        }
        self.used_memory.load(Relaxed) > max_bytes
    }
}

/// The sum of `used_memory` over every INFO text in `info`.
fn used_memory(info: &redis::Value) -> u64 {
    use redis::Value as V;
    let text = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    match info {
        V::BulkString(b) => text(b),
        V::VerbatimString { text: t, .. } => text(t.as_bytes()),
        V::SimpleString(t) => text(t.as_bytes()),
        V::Array(items) | V::Set(items) => items.iter().map(used_memory).sum(),
        V::Map(pairs) => pairs.iter().map(|(_, v)| used_memory(v)).sum(),
        _ => 0,
    }
}
