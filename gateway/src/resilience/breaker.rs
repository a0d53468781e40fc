//! One member's circuit breaker.
//!
//! Failures and successes are counted in a rolling window of [`BUCKETS`] buckets. When at
//! least `min_requests` attempts in the window failed at `failure_percent` or more, it opens
//! for `open_ms`; then one probe is let through (half-open, re-armed after another
//! `open_ms` if the probe never reports); the probe's success closes it, its failure
//! re-opens it. The gauge (`switchyard_circuit_open{group,member}`) is 1 while open or
//! half-open. The lock is held for a few arithmetic steps, never across an `.await`.

use std::time::{Duration, Instant};

use parking_lot::Mutex;
use prometheus::IntGauge;
use switchyard_config::schema::BreakerConfig;

/// Buckets in a breaker's rolling window.
pub const BUCKETS: u64 = 10;

/// One member's circuit breaker.
pub struct Breaker {
    state: Mutex<State>,
    gauge: IntGauge,
    epoch: Instant,
    /// `group/member`, for the log line when it opens.
    name: String,
}

struct State {
    /// (tick, successes, failures) per bucket.
    buckets: [(u64, u32, u32); BUCKETS as usize],
    mode: Mode,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Closed,
    Open { until: Instant },
    HalfOpen { probe_since: Instant },
}

// === impl Breaker ===

impl Breaker {
    /// A closed breaker for `group`'s `member` reporting through `gauge`.
    pub fn new(gauge: IntGauge, group: &str, member: &str) -> Self {
        Self {
            state: Mutex::new(State { buckets: [(0, 0, 0); BUCKETS as usize], mode: Mode::Closed }),
            gauge,
            epoch: Instant::now(),
            name: format!("{group}/{member}"),
        }
    }

    /// Whether a request may go to the member now. While open, `false`; once `open_ms`
    /// has passed, `true` for exactly one probe.
    pub fn admit(&self, policy: &BreakerConfig) -> bool {
        let now = Instant::now();
        let mut st = self.state.lock();
        match st.mode {
            Mode::Closed => true,
            Mode::Open { until } if now >= until => {
                st.mode = Mode::HalfOpen { probe_since: now };
                true
            }
            Mode::Open { .. } => false,
            Mode::HalfOpen { probe_since } if now.duration_since(probe_since) >= ms(policy.open_ms) => {
                st.mode = Mode::HalfOpen { probe_since: now };
                true
            }
            Mode::HalfOpen { .. } => false,
        }
    }

    /// Reports one attempt's outcome.
    pub fn record(&self, ok: bool, policy: &BreakerConfig) {
        let now = Instant::now();
        let mut st = self.state.lock();
        match st.mode {
            Mode::HalfOpen { .. } => {
                st.buckets = [(0, 0, 0); BUCKETS as usize];
                st.mode = if ok { Mode::Closed } else { Mode::Open { until: now + ms(policy.open_ms) } };
            }
            Mode::Open { .. } => {}
            Mode::Closed => {
                let tick = self.tick(now, policy);
                count(&mut st, tick, ok);
                if !ok {
                    let (oks, fails) = window(&st, tick);
                    let total = oks + fails;
                    if total >= u64::from(policy.min_requests)
                        && (fails as f64) * 100.0 >= policy.failure_percent * total as f64
                    {
                        st.mode = Mode::Open { until: now + ms(policy.open_ms) };
                        tracing::warn!(breaker = %self.name, fails, total, open_ms = policy.open_ms, "circuit breaker opened");
                    }
                }
            }
        }
        self.gauge.set(i64::from(st.mode != Mode::Closed));
    }

    /// Whether the breaker is closed (for tests and status).
    pub fn is_closed(&self) -> bool {
        self.state.lock().mode == Mode::Closed
    }

    fn tick(&self, now: Instant, policy: &BreakerConfig) -> u64 {
        let width = (policy.window_ms / BUCKETS).max(1);
        u64::try_from(now.duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX) / width
    }
}

/// Counts one outcome in the bucket of `tick`.
fn count(st: &mut State, tick: u64, ok: bool) {
    let slot = &mut st.buckets[(tick % BUCKETS) as usize];
    if slot.0 != tick {
        *slot = (tick, 0, 0);
    }
    if ok {
        slot.1 += 1;
    } else {
        slot.2 += 1;
    }
}

/// Successes and failures in the window ending at `tick`.
fn window(st: &State, tick: u64) -> (u64, u64) {
    st.buckets
        .iter()
        .filter(|(t, _, _)| t + BUCKETS > tick)
        .fold((0, 0), |(oks, fails), &(_, s, f)| (oks + u64::from(s), fails + u64::from(f)))
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_on_failure_ratio_then_probes_and_closes() {
        let policy =
            BreakerConfig { enabled: true, window_ms: 10_000, min_requests: 4, failure_percent: 50.0, open_ms: 30 };
        let b = Breaker::new(IntGauge::new("g", "h").expect("gauge"), "g", "m");
        b.record(true, &policy);
        b.record(true, &policy);
        b.record(false, &policy);
        assert!(b.is_closed(), "3 attempts are below min_requests");
        b.record(false, &policy);
        assert!(!b.is_closed() && !b.admit(&policy), "2 of 4 failed: open");
        assert_eq!(b.gauge.get(), 1);
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.admit(&policy), "one probe after open_ms");
        assert!(!b.admit(&policy), "only one");
        b.record(true, &policy);
        assert!(b.is_closed() && b.admit(&policy));
        assert_eq!(b.gauge.get(), 0);
    }
}
