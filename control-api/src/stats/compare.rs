//! One metric compared between champion (A) and a challenger (B): point estimates, the
//! anytime-valid confidence sequence for `B − A`, the fixed-n interval for reference, and
//! the direction-aware predicates the verdict and the promotion rules use.
//!
//! Invariants: `difference = challenger − champion` always (never sign-flipped by the
//! direction); `lower`/`upper` are `None` exactly when there is too little data
//! ([`super::sequence::MIN_SAMPLES`]), and then no predicate holds.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::sequence::{confidence_sequence, fixed_interval, ArmSummary};

/// Which way is better for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Error rate, slow rate, latency.
    LowerIsBetter,
    /// Feedback such as `thumbs_up`, `resolved`.
    HigherIsBetter,
}

/// Observations per arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Samples {
    /// Champion observations (`n_A`).
    pub champion: u64,
    /// Challenger observations (`n_B`).
    pub challenger: u64,
}

/// `challenger − champion` for one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MetricComparison {
    /// `error_rate`, `slow_rate` or a feedback metric name.
    pub metric: String,
    /// Which way is better.
    pub direction: Direction,
    /// Champion mean.
    pub champion: f64,
    /// Challenger mean.
    pub challenger: f64,
    /// `challenger − champion`.
    pub difference: f64,
    /// Lower end of the anytime-valid `(1 − alpha)` confidence sequence (null: too little data).
    pub lower: Option<f64>,
    /// Upper end of the anytime-valid confidence sequence (null: too little data).
    pub upper: Option<f64>,
    /// Lower end of the fixed-n `(1 − alpha)` interval; valid for a single pre-planned look only.
    pub fixed_lower: Option<f64>,
    /// Upper end of the fixed-n interval.
    pub fixed_upper: Option<f64>,
    /// Level of this interval (already corrected for the number of comparisons in the verdict).
    pub alpha: f64,
    /// Mixing standard deviation `τ` of the normal-mixture boundary.
    pub tau: f64,
    /// Observations per arm.
    pub samples: Samples,
    /// The confidence sequence excludes 0.
    pub significant: bool,
}

/// Compares arm `b` (challenger) against arm `a` (champion).
pub fn compare(
    metric: &str,
    direction: Direction,
    a: &ArmSummary,
    b: &ArmSummary,
    alpha: f64,
    tau: f64,
) -> MetricComparison {
    let cs = confidence_sequence(a, b, alpha, tau);
    let fixed = fixed_interval(a, b, alpha);
    MetricComparison {
        metric: metric.to_owned(),
        direction,
        champion: a.mean,
        challenger: b.mean,
        difference: b.mean - a.mean,
        lower: cs.map(|i| i.lower),
        upper: cs.map(|i| i.upper),
        fixed_lower: fixed.map(|i| i.lower),
        fixed_upper: fixed.map(|i| i.upper),
        alpha,
        tau,
        samples: Samples { champion: a.n, challenger: b.n },
        significant: cs.is_some_and(|i| i.lower > 0.0 || i.upper < 0.0),
    }
}

// === impl MetricComparison ===

impl MetricComparison {
    /// The whole sequence lies on the worse side of `margin` (a non-negative tolerance in the
    /// metric's unit): for lower-is-better `lower > margin`, else `upper < −margin`.
    pub fn is_worse(&self, margin: f64) -> bool {
        match (self.direction, self.lower, self.upper) {
            (Direction::LowerIsBetter, Some(lower), Some(_)) => lower > margin,
            (Direction::HigherIsBetter, Some(_), Some(upper)) => upper < -margin,
            _ => false,
        }
    }

    /// The whole sequence lies on the better side of 0.
    pub fn is_better(&self) -> bool {
        match (self.direction, self.lower, self.upper) {
            (Direction::LowerIsBetter, Some(_), Some(upper)) => upper < 0.0,
            (Direction::HigherIsBetter, Some(lower), Some(_)) => lower > 0.0,
            _ => false,
        }
    }

    /// Non-inferiority is shown: the sequence lies entirely on the better side of `margin`
    /// (lower-is-better: `upper < margin`). With `margin == 0` this is [`Self::is_better`].
    pub fn is_non_inferior(&self, margin: f64) -> bool {
        match (self.direction, self.lower, self.upper) {
            (Direction::LowerIsBetter, Some(_), Some(upper)) => upper < margin,
            (Direction::HigherIsBetter, Some(lower), Some(_)) => lower > -margin,
            _ => false,
        }
    }
}
