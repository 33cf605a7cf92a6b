//! Presence: every authenticated call is a heartbeat, and a client is
//! `active`, `idle` or `offline` by how long ago its last one was.
//!
//! A call is not a store write: each node remembers when it last wrote a
//! client's time and writes again only once `every` has passed (a quarter
//! of the idle threshold), so a busy client costs one small write per few
//! seconds per node, whatever its call rate. What this node saw since is
//! merged in when it answers, so its own clients are never shown staler
//! than they are.

use std::collections::HashMap;
use std::sync::Mutex;

use mcpmsg_core::protocol::tools::{HeartbeatArgs, PresenceStatus};
use mcpmsg_core::protocol::{check_client_id, now_ms};

use super::auth::Against;
use super::{ms, Broker, Refusal};

impl Broker {
    /// `heartbeat`: a signed call that does nothing but count as one.
    /// Returns when it was seen.
    pub async fn heartbeat(&self, req: HeartbeatArgs) -> Result<u64, Refusal> {
        check_client_id("client_id", &req.client_id)?;
        self.accept_request(&req, Against::Stored, now_ms()).await
    }

    /// When each client last made a signed call, and what that means now.
    pub(super) async fn presence_of(
        &self,
        client_ids: &[&str],
        now: u64,
    ) -> Result<Vec<(Option<u64>, PresenceStatus)>, Refusal> {
        let stored = self.store.last_seen(client_ids).await?;
        let (idle, offline) = (ms(self.config.idle_after), ms(self.config.offline_after));
        Ok(client_ids
            .iter()
            .zip(stored)
            .map(|(id, at)| {
                let last = self.presence.merged(id, at);
                (last, status(last, now, idle, offline))
            })
            .collect())
    }
}

/// This node's view: per client, the last call seen and the last written.
pub(super) struct Presence {
    seen: Mutex<HashMap<String, Seen>>,
    every_ms: u64,
    max: usize,
}

#[derive(Clone, Copy)]
struct Seen {
    last: u64,
    written: u64,
}

impl Presence {
    /// A view of at most `max` clients that writes each at most once per
    /// `every_ms`.
    pub(super) fn new(every_ms: u64, max: usize) -> Self {
        Self {
            seen: Mutex::new(HashMap::new()),
            every_ms,
            max: max.max(1),
        }
    }

    /// Notes a call of `client_id` at `now`; true when it should be
    /// written to the store.
    pub(super) fn heard(&self, client_id: &str, now: u64) -> bool {
        let mut seen = self.seen.lock().expect("presence lock");
        if let Some(s) = seen.get_mut(client_id) {
            s.last = s.last.max(now);
            if now.saturating_sub(s.written) < self.every_ms {
                return false;
            }
            s.written = now;
            return true;
        }
        // Bounded: forgetting only costs a write sooner than needed.
        if seen.len() >= self.max {
            seen.clear();
        }
        seen.insert(
            client_id.to_owned(),
            Seen {
                last: now,
                written: now,
            },
        );
        true
    }

    /// The later of what the store says and what this node saw.
    pub(super) fn merged(&self, client_id: &str, stored: Option<u64>) -> Option<u64> {
        let local = self.seen.lock().expect("presence lock").get(client_id).map(|s| s.last);
        local.max(stored)
    }
}

/// The status a last call at `last` means at `now`.
pub(super) fn status(last: Option<u64>, now: u64, idle_after_ms: u64, offline_after_ms: u64) -> PresenceStatus {
    match last.map(|t| now.saturating_sub(t)) {
        Some(ago) if ago < idle_after_ms => PresenceStatus::Active,
        Some(ago) if ago < offline_after_ms => PresenceStatus::Idle,
        _ => PresenceStatus::Offline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_written_once_per_interval_and_merged_when_read() {
        let p = Presence::new(1000, 10);
        assert!(p.heard("a", 0));
        assert!(!p.heard("a", 500));
        assert!(!p.heard("a", 999));
        assert!(p.heard("a", 1000));
        assert_eq!(p.merged("a", Some(200)), Some(1000));
        assert_eq!(p.merged("a", Some(5000)), Some(5000));
        assert_eq!(p.merged("b", None), None);
        // The view is bounded.
        for i in 0..20 {
            p.heard(&format!("c{i}"), 0);
        }
        assert!(p.seen.lock().unwrap().len() <= 10);
    }

    #[test]
    fn thresholds() {
        assert_eq!(status(Some(1000), 1500, 1000, 5000), PresenceStatus::Active);
        assert_eq!(status(Some(1000), 2000, 1000, 5000), PresenceStatus::Idle);
        assert_eq!(status(Some(1000), 6000, 1000, 5000), PresenceStatus::Offline);
        assert_eq!(status(None, 0, 1000, 5000), PresenceStatus::Offline);
    }
}
