//! Rate limits, per node: per identity for authenticated calls, and per
//! source address for anonymous calls and for refused ones (a request
//! that fails its checks cannot be charged to the identity it names, or
//! anyone could use up a victim's allowance).
//!
//! The limiter is governor's GCRA, keyed; bursts of twice the rate. Both
//! maps are bounded: governor's `retain_recent` drops keys whose allowance
//! is full again (so the maps hold only who called in the last couple of
//! seconds), and it runs whenever a map grows past `PRUNE_AT`. IPv6
//! addresses are keyed by their /64, the unit one host usually holds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// A map with more keys than this is pruned before it grows further.
const PRUNE_AT: usize = 10_000;

/// How long a caller must wait before it may call again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

/// The rate limits of one node.
pub(super) struct RateLimits {
    clients: DefaultKeyedRateLimiter<String>,
    addresses: DefaultKeyedRateLimiter<IpAddr>,
    /// Addresses that used up their allowance with refused calls, until
    /// when: their signed calls are refused before any signature is checked.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    clock: DefaultClock,
}

fn quota(per_second: u32) -> Quota {
    let rate = NonZeroU32::new(per_second.max(1)).expect("at least 1");
    let burst = NonZeroU32::new(per_second.saturating_mul(2).max(1)).expect("at least 1");
    Quota::per_second(rate).allow_burst(burst)
}

/// The key of an address: IPv4 as is, IPv6 by its /64.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut seg = v6.segments();
                seg[4..].fill(0);
                IpAddr::V6(seg.into())
            }
        },
    }
}

impl RateLimits {
    pub(super) fn new(per_client: u32, per_address: u32) -> Self {
        Self {
            clients: DefaultKeyedRateLimiter::keyed(quota(per_client)),
            addresses: DefaultKeyedRateLimiter::keyed(quota(per_address)),
            blocked: Mutex::new(HashMap::new()),
            clock: DefaultClock::default(),
        }
    }

    /// One authenticated call of `client_id`.
    pub(super) fn client(&self, client_id: &str) -> Result<(), RetryAfter> {
        check_client(&self.clients, &self.clock, client_id)
    }

    /// One anonymous or refused call from `ip`.
    pub(super) fn address(&self, ip: IpAddr) -> Result<(), RetryAfter> {
        let key = address_key(ip);
        if self.addresses.len() > PRUNE_AT {
            self.addresses.retain_recent();
        }
        self.addresses.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
            if blocked.len() > PRUNE_AT {
                let now = Instant::now();
                blocked.retain(|_, until| *until > now);
            }
            blocked.insert(key, Instant::now() + wait);
            RetryAfter(wait)
        })
    }

    /// Whether `ip` is still serving a block for refused calls.
    pub(super) fn blocked(&self, ip: IpAddr) -> Option<RetryAfter> {
        let key = address_key(ip);
        let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        let until = *blocked.get(&key)?;
        let now = Instant::now();
        if until <= now {
            blocked.remove(&key);
            return None;
        }
        Some(RetryAfter(until - now))
    }
}

/// An allowance per client per minute, per node: for calls that cost more
/// than a signature check (entering the pairing queue scans it).
pub(super) struct PerMinute {
    clients: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl PerMinute {
    pub(super) fn new(per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute.max(1)).expect("at least 1");
        Self {
            clients: DefaultKeyedRateLimiter::keyed(Quota::per_minute(n)),
            clock: DefaultClock::default(),
        }
    }

    pub(super) fn client(&self, client_id: &str) -> Result<(), RetryAfter> {
        check_client(&self.clients, &self.clock, client_id)
    }
}

/// One call of `client_id` against `limiter`, pruning the map first when
/// it grew past `PRUNE_AT`.
fn check_client(
    limiter: &DefaultKeyedRateLimiter<String>,
    clock: &DefaultClock,
    client_id: &str,
) -> Result<(), RetryAfter> {
    if limiter.len() > PRUNE_AT {
        limiter.retain_recent();
    }
    limiter
        .check_key(&client_id.to_owned())
        .map_err(|not_until| RetryAfter(not_until.wait_time_from(clock.now())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_of_twice_the_rate_then_refused_with_a_wait() {
        let limits = RateLimits::new(5, 3);
        for _ in 0..10 {
            limits.client("alice").unwrap();
        }
        let RetryAfter(wait) = limits.client("alice").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(200), "{wait:?}");
        limits.client("bob").expect("each identity has its own allowance");

        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..6 {
            limits.address(ip).unwrap();
        }
        assert!(limits.blocked(ip).is_none());
        assert!(limits.address(ip).is_err());
        assert!(
            limits.blocked(ip).is_some(),
            "an exhausted address is blocked for signed calls too"
        );
    }

    #[test]
    fn ipv6_hosts_share_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }
}
