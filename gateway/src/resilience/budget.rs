//! A group's retry budget, and the wait before a retry.
//!
//! Every request deposits `budget_percent`/100 of a retry, every retry withdraws one; the
//! balance (kept in thousandths of a retry) is capped at `budget_reserve` and starts
//! there, so in an outage retries add at most `budget_reserve` plus `budget_percent`% of
//! the requests.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use switchyard_config::schema::RetriesConfig;
use switchyard_core::Backoff;

/// A group's retry budget, in thousandths of a retry.
pub struct RetryBudget {
    balance: AtomicI64,
}

// === impl RetryBudget ===

impl RetryBudget {
    /// A full budget for `policy`.
    pub fn new(policy: &RetriesConfig) -> Self {
        Self { balance: AtomicI64::new(cap(policy)) }
    }

    /// One request passed: credit `budget_percent`% of a retry.
    pub fn deposit(&self, policy: &RetriesConfig) {
        let add = (policy.budget_percent * 10.0) as i64;
        let cap = cap(policy);
        let _ = self.balance.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| Some((b + add).min(cap)));
    }

    /// Takes one retry from the budget, if there is one.
    pub fn withdraw(&self) -> bool {
        self.balance.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| (b >= 1000).then_some(b - 1000)).is_ok()
    }
}

fn cap(policy: &RetriesConfig) -> i64 {
    i64::from(policy.budget_reserve.max(1)) * 1000
}

/// The wait before retry number `retry` (1-based): the policy's backoff, at least the
/// upstream's `Retry-After`. `None` when the upstream asks for a longer wait than
/// `max_backoff_ms` (then the retry is not worth it).
pub fn retry_wait(policy: &RetriesConfig, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
    let backoff = Backoff::from_millis(policy.backoff_ms, policy.max_backoff_ms);
    if retry_after.is_some_and(|r| r > backoff.max) {
        return None;
    }
    Some(backoff.delay(retry.saturating_sub(1)).max(retry_after.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_limits_retries_and_waits_are_capped() {
        let policy = RetriesConfig { budget_percent: 50.0, budget_reserve: 2, ..RetriesConfig::default() };
        let b = RetryBudget::new(&policy);
        assert!(b.withdraw() && b.withdraw());
        assert!(!b.withdraw(), "reserve spent");
        b.deposit(&policy);
        assert!(!b.withdraw(), "half a retry");
        b.deposit(&policy);
        assert!(b.withdraw());
        let p = RetriesConfig { backoff_ms: 100, max_backoff_ms: 300, ..RetriesConfig::default() };
        for retry in 1..6 {
            let d = retry_wait(&p, retry, None).expect("no retry-after");
            assert!(d <= Duration::from_millis(300), "{d:?}");
        }
        assert_eq!(retry_wait(&p, 1, Some(Duration::from_secs(5))), None);
        assert!(retry_wait(&p, 1, Some(Duration::from_millis(250))).expect("short") >= Duration::from_millis(250));
    }
}
