//! Per-member resilience state that outlives routing-table swaps: circuit breakers,
//! retry budgets and mirror (shadow) slots, plus the backoff rule.
//!
//! State is keyed by names — (group, member) for breakers, group for budgets and mirror
//! slots — so a reload that keeps a member keeps its breaker; the *policy* (window,
//! thresholds) is read from the current table on every call. A member removed from the
//! config leaves a small idle entry behind (bounded by the names ever configured).
//!
//! Breaker: failures and successes are counted in a rolling window of
//! [`BUCKETS`] buckets. When at least `min_requests` attempts in the window failed at
//! `failure_percent` or more, it opens for `open_ms`; then one probe is let through
//! (half-open, re-armed after another `open_ms` if the probe never reports); the probe's
//! success closes it, its failure re-opens it. `switchyard_circuit_open{group,member}` is
//! 1 while open or half-open. Locks are held for a few arithmetic steps, never across
//! an `.await`.
//!
//! Retry budget: every request deposits `budget_percent`/100 of a token, every retry
//! withdraws one; the balance is capped at `budget_reserve` (and starts there), so in an
//! outage retries add at most `budget_reserve` plus `budget_percent`% of the requests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use prometheus::{IntGauge, IntGaugeVec};
use switchyard_config::schema::{BreakerConfig, RetriesConfig};
use tokio::sync::Semaphore;

/// Buckets in a breaker's rolling window.
pub const BUCKETS: u64 = 10;

/// Breakers, budgets and mirror slots of one gateway.
pub struct Resilience {
    breakers: RwLock<HashMap<String, HashMap<String, Arc<Breaker>>>>,
    budgets: RwLock<HashMap<String, Arc<RetryBudget>>>,
    mirrors: RwLock<HashMap<String, (usize, Arc<Semaphore>)>>,
    circuit_open: IntGaugeVec,
}

/// One member's circuit breaker.
pub struct Breaker {
    state: Mutex<BreakerState>,
    gauge: IntGauge,
    epoch: Instant,
}

struct BreakerState {
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

/// A group's retry budget, in thousandths of a retry.
pub struct RetryBudget {
    balance: AtomicI64,
}

// === impl Resilience ===

impl Resilience {
    /// Empty state; breakers report through `circuit_open`.
    pub fn new(circuit_open: IntGaugeVec) -> Self {
        Self { breakers: RwLock::default(), budgets: RwLock::default(), mirrors: RwLock::default(), circuit_open }
    }

    /// The breaker of `member` in `group`.
    pub fn breaker(&self, group: &str, member: &str) -> Arc<Breaker> {
        if let Some(b) = self.breakers.read().unwrap_or_else(|p| p.into_inner()).get(group).and_then(|g| g.get(member))
        {
            return b.clone();
        }
        let mut all = self.breakers.write().unwrap_or_else(|p| p.into_inner());
        all.entry(group.to_owned())
            .or_default()
            .entry(member.to_owned())
            .or_insert_with(|| {
                let gauge = self.circuit_open.with_label_values(&[group, member]);
                gauge.set(0);
                Arc::new(Breaker::new(gauge))
            })
            .clone()
    }

    /// The retry budget of `group` (created full).
    pub fn budget(&self, group: &str, policy: &RetriesConfig) -> Arc<RetryBudget> {
        if let Some(b) = self.budgets.read().unwrap_or_else(|p| p.into_inner()).get(group) {
            return b.clone();
        }
        let mut all = self.budgets.write().unwrap_or_else(|p| p.into_inner());
        all.entry(group.to_owned()).or_insert_with(|| Arc::new(RetryBudget::new(policy))).clone()
    }

    /// The mirror slots of `group`; replaced (fresh) when the configured capacity changes.
    pub fn mirror_slots(&self, group: &str, capacity: usize) -> Arc<Semaphore> {
        if let Some((cap, s)) = self.mirrors.read().unwrap_or_else(|p| p.into_inner()).get(group) {
            if *cap == capacity {
                return s.clone();
            }
        }
        let mut all = self.mirrors.write().unwrap_or_else(|p| p.into_inner());
        let entry = all.entry(group.to_owned()).or_insert_with(|| (capacity, Arc::new(Semaphore::new(capacity))));
        if entry.0 != capacity {
            *entry = (capacity, Arc::new(Semaphore::new(capacity)));
        }
        entry.1.clone()
    }
}

// === impl Breaker ===

impl Breaker {
    fn new(gauge: IntGauge) -> Self {
        Self {
            state: Mutex::new(BreakerState { buckets: [(0, 0, 0); BUCKETS as usize], mode: Mode::Closed }),
            gauge,
            epoch: Instant::now(),
        }
    }

    /// Whether a request may go to the member now. While open, `false`; once `open_ms`
    /// has passed, `true` for exactly one probe.
    pub fn admit(&self, policy: &BreakerConfig) -> bool {
        let now = Instant::now();
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
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
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match st.mode {
            Mode::HalfOpen { .. } => {
                st.buckets = [(0, 0, 0); BUCKETS as usize];
                st.mode = if ok { Mode::Closed } else { Mode::Open { until: now + ms(policy.open_ms) } };
            }
            Mode::Open { .. } => {}
            Mode::Closed => {
                let width = (policy.window_ms / BUCKETS).max(1);
                let tick = u64::try_from(now.duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX) / width;
                let slot = &mut st.buckets[(tick % BUCKETS) as usize];
                if slot.0 != tick {
                    *slot = (tick, 0, 0);
                }
                if ok {
                    slot.1 += 1;
                } else {
                    slot.2 += 1;
                }
                if !ok {
                    let (mut oks, mut fails) = (0u64, 0u64);
                    for &(t, s, f) in &st.buckets {
                        if t + BUCKETS > tick {
                            oks += u64::from(s);
                            fails += u64::from(f);
                        }
                    }
                    let total = oks + fails;
                    if total >= u64::from(policy.min_requests)
                        && (fails as f64) * 100.0 >= policy.failure_percent * total as f64
                    {
                        st.mode = Mode::Open { until: now + ms(policy.open_ms) };
                        tracing::warn!(fails, total, open_ms = policy.open_ms, "circuit breaker opened");
                    }
                }
            }
        }
        self.gauge.set(i64::from(st.mode != Mode::Closed));
    }

    /// Whether the breaker is closed (for tests and status).
    pub fn is_closed(&self) -> bool {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).mode == Mode::Closed
    }
}

// === impl RetryBudget ===

impl RetryBudget {
    fn new(policy: &RetriesConfig) -> Self {
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

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// The wait before retry number `retry` (1-based): capped exponential backoff with equal
/// jitter, at least `retry_after` when the upstream sent one. `None` when the upstream
/// asks for a longer wait than `max_backoff_ms`.
pub fn backoff(policy: &RetriesConfig, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
    let max = ms(policy.max_backoff_ms);
    if retry_after.is_some_and(|r| r > max) {
        return None;
    }
    let exp = ms(policy.backoff_ms).saturating_mul(1u32 << retry.saturating_sub(1).min(16)).min(max);
    let jittered = exp / 2 + exp.mul_f64(rand::random::<f64>() / 2.0);
    Some(jittered.max(retry_after.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(IntGauge::new("g", "h").expect("gauge"))
    }

    #[test]
    fn opens_on_failure_ratio_then_probes_and_closes() {
        let policy =
            BreakerConfig { enabled: true, window_ms: 10_000, min_requests: 4, failure_percent: 50.0, open_ms: 30 };
        let b = breaker();
        b.record(true, &policy);
        b.record(true, &policy);
        b.record(false, &policy);
        assert!(b.is_closed(), "3 attempts are below min_requests");
        b.record(false, &policy);
        assert!(!b.is_closed() && !b.admit(&policy), "2 of 4 failed: open");
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.admit(&policy), "one probe after open_ms");
        assert!(!b.admit(&policy), "only one");
        b.record(true, &policy);
        assert!(b.is_closed() && b.admit(&policy));
    }

    #[test]
    fn budget_limits_retries_and_backoff_is_capped() {
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
            let d = backoff(&p, retry, None).expect("no retry-after");
            assert!(d <= Duration::from_millis(300), "{d:?}");
        }
        assert_eq!(backoff(&p, 1, Some(Duration::from_secs(5))), None);
        assert!(backoff(&p, 1, Some(Duration::from_millis(250))).expect("short") >= Duration::from_millis(250));
    }
}
