//! Capped exponential backoff with equal jitter (AWS architecture blog, "Exponential
//! Backoff And Jitter"): wait `d/2 + random(0..=d/2)` where `d = min(max, base * 2^n)`.
//! Half the wait is certain, so retries never bunch at zero; half is random, so many
//! clients that failed together spread out.

use std::time::Duration;

/// A backoff policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait's upper bound.
    pub base: Duration,
    /// No wait is longer than this.
    pub max: Duration,
}

// === impl Backoff ===

impl Backoff {
    /// A policy from milliseconds.
    pub fn from_millis(base_ms: u64, max_ms: u64) -> Self {
        Self { base: Duration::from_millis(base_ms), max: Duration::from_millis(max_ms.max(base_ms)) }
    }

    /// The upper bound of wait number `attempt` (0-based), before jitter.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        self.base.saturating_mul(1u32 << attempt.min(20)).min(self.max)
    }

    /// Wait number `attempt` (0-based), jittered into `[ceiling/2, ceiling]`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let d = self.ceiling(attempt);
        d / 2 + d.mul_f64(rand::random::<f64>() / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_jitters_within_half() {
        let b = Backoff::from_millis(100, 1_000);
        let ceilings: Vec<u128> = (0..6).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
        for n in 0..40 {
            let d = b.delay(n);
            assert!(d >= b.ceiling(n) / 2 && d <= b.ceiling(n), "{n}: {d:?}");
        }
        assert_eq!(Backoff::from_millis(500, 10).max, Duration::from_millis(500), "max is at least base");
    }
}
