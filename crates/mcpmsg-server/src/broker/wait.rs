//! Parked waits, woken the moment a message lands: no polling loops.
//!
//! Each recipient with at least one parked request has one `Notify`; a send
//! calls `notify_waiters` on it. A waiter registers and *enables* its
//! `Notified` future before it looks at the queue, so a message that lands
//! between the look and the sleep still wakes it (tokio's documented
//! pattern). The entry is removed when the last waiter leaves, so the map
//! holds only recipients someone is waiting on, and their number is capped:
//! in all (`--max-waiters`) and per client (`--max-waits-per-client`), so
//! one client cannot hold every slot. A wait is always on the acting
//! client's own queue, so the recipient is the client it counts against.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::Refusal;
use mcpmsg_core::protocol::ErrorCode;

pub(super) struct Waiters {
    map: Mutex<HashMap<String, Entry>>,
    parked: AtomicUsize,
    max: usize,
    max_per_client: usize,
}

struct Entry {
    notify: Arc<Notify>,
    parked: usize,
}

/// A registered waiter; deregisters on drop.
pub(super) struct Guard<'a> {
    waiters: &'a Waiters,
    recipient: String,
    pub(super) notify: Arc<Notify>,
}

impl Waiters {
    pub(super) fn new(max: usize, max_per_client: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            parked: AtomicUsize::new(0),
            max,
            max_per_client,
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
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.entry(recipient.to_owned()).or_insert_with(|| Entry {
            notify: Arc::default(),
            parked: 0,
        });
        if entry.parked >= self.max_per_client {
            self.parked.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::new(
                ErrorCode::RateLimited,
                format!(
                    "{recipient} has {} requests waiting already (--max-waits-per-client); retry with wait_s=0 or when one returns",
                    self.max_per_client
                ),
            ));
        }
        entry.parked += 1;
        let notify = entry.notify.clone();
        drop(map);
        Ok(Guard {
            waiters: self,
            recipient: recipient.to_owned(),
            notify,
        })
    }

    pub(super) fn notify(&self, recipient: &str) {
        if let Some(e) = self.map.lock().unwrap_or_else(|p| p.into_inner()).get(recipient) {
            e.notify.notify_waiters();
        }
    }

    pub(super) fn notify_all(&self) {
        for e in self.map.lock().unwrap_or_else(|p| p.into_inner()).values() {
            e.notify.notify_waiters();
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
        if let Some(e) = map.get_mut(&self.recipient) {
            e.parked -= 1;
            if e.parked == 0 {
                map.remove(&self.recipient);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_leave_with_their_last_waiter_and_the_cap_holds() {
        let w = Waiters::new(2, 2);
        let a = w.register("bob").unwrap();
        let b = w.register("bob").unwrap();
        assert_eq!(w.register("carol").err().map(|e| e.code), Some(ErrorCode::RateLimited));
        drop(a);
        assert_eq!(w.len(), 1);
        drop(b);
        assert_eq!(w.len(), 0);
        assert!(w.register("carol").is_ok());
    }

    #[test]
    fn one_client_cannot_hold_every_slot() {
        let w = Waiters::new(10, 2);
        let _a = w.register("mallory").unwrap();
        let _b = w.register("mallory").unwrap();
        let refused = w.register("mallory").err().unwrap();
        assert_eq!(refused.code, ErrorCode::RateLimited);
        assert!(
            refused.message.contains("--max-waits-per-client"),
            "{}",
            refused.message
        );
        // Others still get in, and the refused attempt took no slot.
        let _c = w.register("bob").unwrap();
        assert_eq!(w.parked.load(Ordering::Acquire), 3);
    }
}
