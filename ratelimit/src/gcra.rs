//! The arithmetic of one bucket: GCRA kept as a level that drains continuously.
//!
//! A bucket's state is `(level, at)`: `level` units were outstanding at time `at` (µs).
//! It drains at `rate` units per µs, never below 0. A charge of `cost` units at `now` is
//! admitted when `drained(level) + cost <= burst`, and then `level = drained + cost`.
//! This is GCRA (the virtual-scheduling form's theoretical arrival time is
//! `now + level / rate`): at most `burst` units at once, then exactly one unit per
//! `1 / rate` µs — no window boundaries, so no 2× bursts at them. Storing the level in
//! *units* rather than a theoretical arrival *time* keeps usage meaningful when a rule's
//! limit is edited: 100 requests used stay 100 requests used under the new limit.
//!
//! Settling (tokens) adds a signed amount with no admission check: a refund lowers the
//! level (never below 0), an excess raises it, possibly above `burst`, which then denies
//! every charge until it drains — the debt is paid, never forgiven.
//!
//! The Redis backend runs the same arithmetic in Lua (`redis/limit.lua`); both compare
//! with the same small tolerance [`Gcra::admits`] so an exact arrival on schedule is
//! admitted despite floating-point rounding.

use std::time::Duration;

/// A rule's rate and burst in the backends' units (levels in units, time in µs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gcra {
    /// Units drained per µs (`amount / period`).
    pub rate: f64,
    /// Most units outstanding at once.
    pub burst: f64,
}

// === impl Gcra ===

impl Gcra {
    /// `amount` units per `per`, at most `burst` at once. Both are at least 1 in a valid rule.
    pub fn new(amount: u64, per: Duration, burst: u64) -> Self {
        let period_us = per.as_micros().max(1) as f64;
        Self { rate: amount.max(1) as f64 / period_us, burst: burst.max(1) as f64 }
    }

    /// Rounding allowance for comparisons: far below one unit, far above `f64` noise.
    fn epsilon(&self) -> f64 {
        1e-9 * self.burst.max(1.0)
    }

    /// The level `elapsed_us` after it was `level` (a negative elapsed counts as 0).
    pub fn drained(&self, level: f64, elapsed_us: f64) -> f64 {
        (level - elapsed_us.max(0.0) * self.rate).max(0.0)
    }

    /// Whether a bucket at `level` (already drained to now) admits `cost` more units.
    pub fn admits(&self, level: f64, cost: f64) -> bool {
        level + cost <= self.burst + self.epsilon()
    }

    /// Whole units that could still be admitted at `level`.
    pub fn remaining(&self, level: f64) -> u64 {
        let left = self.burst - level + self.epsilon();
        if left <= 0.0 {
            0
        } else {
            left.floor() as u64
        }
    }

    /// Time until a bucket at `level` is empty (fully replenished).
    pub fn reset(&self, level: f64) -> Duration {
        micros(level / self.rate)
    }

    /// Time until `cost` units would be admitted at `level`; `None` when `cost` exceeds
    /// `burst` and so can never be admitted.
    pub fn retry_after(&self, level: f64, cost: f64) -> Option<Duration> {
        if cost > self.burst + self.epsilon() {
            return None;
        }
        Some(micros((level + cost - self.burst - self.epsilon()) / self.rate))
    }
}

/// A non-negative µs count (rounded up) as a duration; NaN and negatives are zero.
fn micros(us: f64) -> Duration {
    if us.is_nan() || us <= 0.0 {
        Duration::ZERO
    } else {
        Duration::from_micros(us.ceil().min(u64::MAX as f64) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per_minute(n: u64) -> Gcra {
        Gcra::new(n, Duration::from_secs(60), n)
    }

    #[test]
    fn admits_burst_at_once_then_one_per_interval() {
        let g = Gcra::new(10, Duration::from_secs(1), 3);
        let mut level = 0.0;
        for _ in 0..3 {
            assert!(g.admits(level, 1.0));
            level += 1.0;
        }
        assert!(!g.admits(level, 1.0));
        assert_eq!(g.retry_after(level, 1.0), Some(Duration::from_millis(100)));
        // Exactly one emission interval (100 ms) later, one more and no more.
        level = g.drained(level, 100_000.0);
        assert!(g.admits(level, 1.0));
        level += 1.0;
        assert!(!g.admits(level, 1.0));
    }

    #[test]
    fn remaining_and_reset_follow_the_level() {
        let g = per_minute(600);
        assert_eq!(g.remaining(0.0), 600);
        assert_eq!(g.remaining(599.5), 0);
        assert_eq!(g.remaining(598.0), 2);
        assert_eq!(g.remaining(700.0), 0);
        assert_eq!(g.reset(600.0), Duration::from_secs(60));
        assert_eq!(g.reset(0.0), Duration::ZERO);
    }

    #[test]
    fn a_cost_above_burst_can_never_be_admitted() {
        let g = per_minute(100);
        assert_eq!(g.retry_after(0.0, 101.0), None);
        assert_eq!(g.retry_after(0.0, 100.0), Some(Duration::ZERO));
    }

    #[test]
    fn draining_never_goes_below_zero_nor_backwards_in_time() {
        let g = per_minute(60);
        assert_eq!(g.drained(5.0, 60e6), 0.0);
        assert_eq!(g.drained(5.0, -1e6), 5.0);
        assert!((g.drained(5.0, 1e6) - 4.0).abs() < 1e-9);
    }
}
