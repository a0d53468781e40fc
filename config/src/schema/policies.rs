//! Per-group policies: retries, circuit breakers and automatic promotion.

use serde::{Deserialize, Serialize};

/// `retries:` of a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetriesConfig {
    /// Retries per member after the first attempt (0 disables). Default 1.
    pub max_retries: u32,
    /// Base of the capped exponential backoff, ms (full jitter). Default 25.
    pub backoff_ms: u64,
    /// Cap on one backoff, ms; a `Retry-After` longer than this is not waited for. Default 1000.
    pub max_backoff_ms: u64,
    /// Retry budget: retries may add at most this percent of the group's requests.
    /// Default 20.
    pub budget_percent: f64,
    /// Retries always allowed on top of the budget (a reserve that refills with
    /// traffic). Default 10.
    pub budget_reserve: u32,
}

/// `breaker:` of a group: one breaker per member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Whether breakers act. Default true.
    pub enabled: bool,
    /// Rolling window over which the failure ratio is computed, ms. Default 10000.
    pub window_ms: u64,
    /// Attempts needed in the window before the breaker may open. Default 5.
    pub min_requests: u32,
    /// Failure percentage in the window that opens the breaker, (0,100]. Default 50.
    pub failure_percent: f64,
    /// Time open before one half-open probe is let through, ms. Default 5000.
    pub open_ms: u64,
}

/// `groups.<g>.promotion`: act on the experiment without an operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PromotionConfig {
    /// Fewest requests each arm needs before any action. Default 1000.
    pub min_samples_per_arm: u64,
    /// Seconds the current weights must have been serving before any action. Default 3600.
    pub min_duration_secs: u64,
    /// Non-inferiority margin on the error rate, absolute (0.005 = half a point). Default 0.
    pub error_margin: f64,
    /// Non-inferiority margin on the slow rate, absolute. Default 0.
    pub slow_margin: f64,
    /// Metric to win on: `error_rate`, `slow_rate` or a feedback metric. Default `error_rate`.
    pub metric: String,
    /// Promote a challenger that wins with confidence. Default true.
    pub auto_promote: bool,
    /// Set a challenger that is worse with confidence to weight 0. Default true.
    pub auto_rollback: bool,
    /// How often the experiment is evaluated, seconds. Default 60.
    pub check_interval_secs: u64,
    /// Significance level of the anytime-valid intervals. Default 0.05.
    pub alpha: f64,
}

impl Default for RetriesConfig {
    fn default() -> Self {
        Self { max_retries: 1, backoff_ms: 25, max_backoff_ms: 1_000, budget_percent: 20.0, budget_reserve: 10 }
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self { enabled: true, window_ms: 10_000, min_requests: 5, failure_percent: 50.0, open_ms: 5_000 }
    }
}

impl Default for PromotionConfig {
    fn default() -> Self {
        Self {
            min_samples_per_arm: 1000,
            min_duration_secs: 3600,
            error_margin: 0.0,
            slow_margin: 0.0,
            metric: "error_rate".into(),
            auto_promote: true,
            auto_rollback: true,
            check_interval_secs: 60,
            alpha: 0.05,
        }
    }
}
