//! Parked waits, woken the moment a message lands: no polling loops.
//!
//! Each recipient with at least one parked request has one `Notify`; a send
//! calls `notify_waiters` on it. A waiter registers and *enables* its
//! `Notified` future before it looks at the queue, so a message that lands
//! between the look and the sleep still wakes it (tokio's documented
//! pattern). The entry is removed when the last waiter leaves, so the map
//! holds only recipients someone is waiting on, and their number is capped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::Refusal;
use crate::protocol::ErrorCode;

pub(super) struct Waiters {
    map: Mutex<HashMap<String, Arc<Notify>>>,
    parked: AtomicUsize,
    max: usize,
}

/// A registered waiter; deregisters on drop.
pub(super) struct Guard<'a> {
    waiters: &'a Waiters,
    recipient: String,
    pub(super) notify: Arc<Notify>,
}

impl Waiters {
    pub(super) fn new(max: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            parked: AtomicUsize::new(0),
            max,
        }
    }

    pub(super) fn register(&self, recipient: &str) -> Result<Guard<'_>, Refusal> {
        if self.parked.fetch_add(1, Ordering::AcqRel) >= self.max {
            self.parked.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::new(
                ErrorCode::RateLimited,
                format!(
                    "the server has {} requests waiting already; retry with wait_s=0 or later",
                    self.max
                ),
            ));
        }
        let notify = self
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(recipient.to_owned())
            .or_default()
            .clone();
        Ok(Guard {
            waiters: self,
            recipient: recipient.to_owned(),
            notify,
        })
    }

    pub(super) fn notify(&self, recipient: &str) {
        if let Some(n) = self.map.lock().unwrap_or_else(|p| p.into_inner()).get(recipient) {
            n.notify_waiters();
        }
    }

    pub(super) fn notify_all(&self) {
        for n in self.map.lock().unwrap_or_else(|p| p.into_inner()).values() {
            n.notify_waiters();
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.map.lock().unwrap().len()
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.waiters.parked.fetch_sub(1, Ordering::AcqRel);
        let mut map = self.waiters.map.lock().unwrap_or_else(|p| p.into_inner());
        // The map's reference and ours: nobody else waits on this recipient.
        if Arc::strong_count(&self.notify) == 2 {
            map.remove(&self.recipient);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_leave_with_their_last_waiter_and_the_cap_holds() {
        let w = Waiters::new(2);
        let a = w.register("bob").unwrap();
        let b = w.register("bob").unwrap();
        assert_eq!(w.register("carol").err().map(|e| e.code), Some(ErrorCode::RateLimited));
        drop(a);
        assert_eq!(w.len(), 1);
        drop(b);
        assert_eq!(w.len(), 0);
        assert!(w.register("carol").is_ok());
    }
}
