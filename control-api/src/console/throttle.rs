//! Failed sign-ins, throttled per client address with bounded memory.
//!
//! Each address may fail [`MAX_FAILURES`] times per [`WINDOW`]; after that its sign-ins
//! are refused (429, with the seconds left) until the window ends, whether the token is
//! right or not. At most [`MAX_ADDRESSES`] addresses are tracked: when full, finished
//! windows are dropped first; addresses that still do not fit share one overflow bucket,
//! so an attacker with many addresses is throttled together rather than growing memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Failures allowed per address and window.
pub const MAX_FAILURES: u32 = 5;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most.
pub const MAX_ADDRESSES: usize = 4096;

/// Where a sign-in came from: an address, or none known (one shared bucket).
pub type Source = Option<IpAddr>;

/// The throttle.
#[derive(Debug, Default)]
pub struct Throttle {
    inner: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    by_addr: HashMap<Source, Bucket>,
    overflow: Bucket,
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    failures: u32,
    since: Option<Instant>,
}

// === impl Throttle ===

impl Throttle {
    /// `Err(seconds to wait)` when `source` may not try now.
    pub fn check(&self, source: Source, now: Instant) -> Result<(), u64> {
        let mut state = self.inner.lock();
        let bucket = state.bucket(source, now);
        match bucket.since {
            Some(since) if bucket.failures >= MAX_FAILURES => {
                let left = WINDOW.saturating_sub(now.duration_since(since));
                Err(left.as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed sign-in from `source`.
    pub fn failed(&self, source: Source, now: Instant) {
        let mut state = self.inner.lock();
        let bucket = state.bucket(source, now);
        bucket.since.get_or_insert(now);
        bucket.failures += 1;
    }

    /// Forgets `source`'s failures (a successful sign-in).
    pub fn succeeded(&self, source: Source) {
        self.inner.lock().by_addr.remove(&source);
    }
}

// === impl State ===

impl State {
    /// The live bucket of `source` (a finished window starts over).
    fn bucket(&mut self, source: Source, now: Instant) -> &mut Bucket {
        if !self.by_addr.contains_key(&source) && self.by_addr.len() >= MAX_ADDRESSES {
            self.by_addr.retain(|_, b| b.live(now));
        }
        let fits = self.by_addr.contains_key(&source) || self.by_addr.len() < MAX_ADDRESSES;
        let bucket = if fits { self.by_addr.entry(source).or_default() } else { &mut self.overflow };
        if !bucket.live(now) {
            *bucket = Bucket::default();
        }
        bucket
    }
}

impl Bucket {
    fn live(&self, now: Instant) -> bool {
        self.since.is_some_and(|s| now.duration_since(s) < WINDOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_an_address_for_the_rest_of_the_window_only() {
        let t = Throttle::default();
        let (a, b) = (Some(IpAddr::from([10, 0, 0, 1])), Some(IpAddr::from([10, 0, 0, 2])));
        let now = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(t.check(a, now).is_ok());
            t.failed(a, now);
        }
        assert_eq!(t.check(a, now + Duration::from_secs(20)), Err(40));
        assert!(t.check(b, now).is_ok(), "another address is not affected");
        assert!(t.check(a, now + WINDOW).is_ok(), "the window ends");
    }

    #[test]
    fn memory_is_bounded_and_overflowing_addresses_share_a_bucket() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..(MAX_ADDRESSES as u32 + 10) {
            t.failed(Some(IpAddr::from(i.to_be_bytes())), now);
        }
        assert_eq!(t.inner.lock().by_addr.len(), MAX_ADDRESSES);
        assert_eq!(t.inner.lock().overflow.failures, 10);
        // Once their windows are over, old addresses make room again.
        t.failed(Some(IpAddr::from([192, 168, 0, 1])), now + WINDOW);
        assert_eq!(t.inner.lock().by_addr.len(), 1);
    }
}
