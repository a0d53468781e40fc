//! The limiter's metrics, registered once on the registry passed in (no global statics).
//!
//! - `switchyard_rate_limited_total{rule}`: requests (or attempts) refused, by the rule that
//!   blocked them; exported at 0 for every configured rule, removed with the rule.
//! - `switchyard_rate_limit_backend_errors_total{outcome}`: backend calls that got no answer,
//!   by what followed — `allowed` or `denied` (the `on_error` policy applied to a check) or
//!   `settle_lost` (a token settlement or refund that could not be written). All three are
//!   exported at 0.
//! - `switchyard_rate_limit_backend_up`: 1 while the backend answers (always 1 for `local`).

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// Handles to the limiter's metrics.
#[derive(Clone)]
pub(crate) struct Metrics {
    pub limited: IntCounterVec,
    pub allowed_on_error: IntCounter,
    pub denied_on_error: IntCounter,
    pub settle_lost: IntCounter,
    pub backend_up: IntGauge,
}

// === impl Metrics ===

impl Metrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let limited = IntCounterVec::new(
            Opts::new("switchyard_rate_limited_total", "Requests or attempts refused by a rate-limit rule, by rule."),
            &["rule"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "switchyard_rate_limit_backend_errors_total",
                "Rate-limit backend calls that got no answer, by what followed (allowed, denied, settle_lost).",
            ),
            &["outcome"],
        )?;
        let backend_up =
            IntGauge::new("switchyard_rate_limit_backend_up", "1 while the rate-limit backend answers, else 0.")?;
        registry.register(Box::new(limited.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(backend_up.clone()))?;
        backend_up.set(1);
        Ok(Self {
            limited,
            allowed_on_error: errors.with_label_values(&["allowed"]),
            denied_on_error: errors.with_label_values(&["denied"]),
            settle_lost: errors.with_label_values(&["settle_lost"]),
            backend_up,
        })
    }

    /// The counter of `rule`, created at 0.
    pub fn limited_for(&self, rule: &str) -> IntCounter {
        self.limited.with_label_values(&[rule])
    }

    /// Drops the series of a rule no longer configured.
    pub fn forget(&self, rule: &str) {
        let _ = self.limited.remove_label_values(&[rule]);
    }
}
