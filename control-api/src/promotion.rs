//! Automatic promotion and rollback rules (a group's optional `promotion:` block) and the
//! pure decision taken on an [`ExperimentReport`].
//!
//! Invariants of [`decide`]:
//! - never acts on a report whose verdict is `srm_alert` (the comparisons are not trustworthy);
//! - never acts before `min_duration_secs` have passed since the experiment started, nor on a
//!   challenger while it or the champion has fewer than `min_samples_per_arm` requests;
//! - rollback wins over promotion: any challenger worse with confidence on the error or slow
//!   rate (beyond its margin) is rolled back first;
//! - promotes only a challenger that is better on `metric` with confidence *and* non-inferior
//!   on both guardrails: with a margin `> 0` the guardrail's sequence must lie below the margin
//!   (non-inferiority shown); with margin 0 it must merely not be worse;
//! - the decision reads the intervals in the report, so the report must have been computed
//!   with `primary_metric == rules.metric` for the primary's α to include the verdict's
//!   correction (see [`crate::stats::report`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::stats::{ExperimentReport, MetricComparison, Verdict, ERROR_RATE, SLOW_RATE};

/// `groups.<g>.promotion` — when present, the gateway acts on the experiment by itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PromotionRules {
    /// Fewest requests each arm (champion and the challenger) must have. Default 1000.
    pub min_samples_per_arm: u64,
    /// Seconds since the experiment started before any action. Default 3600 (one hour, so
    /// at least one daily-cycle slice of traffic is seen).
    pub min_duration_secs: u64,
    /// Non-inferiority margin on the error rate, absolute (0.005 = half a point). Default 0.
    pub error_margin: f64,
    /// Non-inferiority margin on the slow rate, absolute. Default 0.
    pub slow_margin: f64,
    /// Metric to win on: `error_rate` (default), `slow_rate` or a feedback metric name
    /// (higher is better).
    pub metric: String,
    /// Promote a winning challenger. Default true.
    pub auto_promote: bool,
    /// Roll back (weight 0) a challenger that is worse on a guardrail. Default true.
    pub auto_rollback: bool,
}

/// What the gateway should do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum AutoAction {
    /// Make `member` the champion (the old champion becomes a challenger at weight 0).
    Promote {
        /// The winning challenger.
        member: String,
    },
    /// Set `member`'s weight to 0.
    Rollback {
        /// The losing challenger.
        member: String,
        /// Human-readable reason for the audit log, e.g. the interval that crossed the margin.
        reason: String,
    },
}

// === impl PromotionRules ===

impl Default for PromotionRules {
    fn default() -> Self {
        Self {
            min_samples_per_arm: 1000,
            min_duration_secs: 3600,
            error_margin: 0.0,
            slow_margin: 0.0,
            metric: ERROR_RATE.to_owned(),
            auto_promote: true,
            auto_rollback: true,
        }
    }
}

impl PromotionRules {
    /// Checks the values (margins finite and `>= 0`, metric non-empty); errors carry the
    /// field's name relative to the `promotion` block.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        if !(self.error_margin.is_finite() && self.error_margin >= 0.0) {
            return Err(("error_margin", "must be a finite number >= 0"));
        }
        if !(self.slow_margin.is_finite() && self.slow_margin >= 0.0) {
            return Err(("slow_margin", "must be a finite number >= 0"));
        }
        if self.metric.trim().is_empty() {
            return Err(("metric", "must not be empty"));
        }
        Ok(())
    }
}

/// The action `rules` call for on `report`, `experiment_age` after the experiment started.
pub fn decide(report: &ExperimentReport, rules: &PromotionRules, experiment_age: Duration) -> Option<AutoAction> {
    if report.verdict == Verdict::SrmAlert || experiment_age < Duration::from_secs(rules.min_duration_secs) {
        return None;
    }
    let ready = |c: &MetricComparison| {
        c.samples.champion >= rules.min_samples_per_arm && c.samples.challenger >= rules.min_samples_per_arm
    };
    if rules.auto_rollback {
        for challenger in &report.challengers {
            for (metric, margin) in [(ERROR_RATE, rules.error_margin), (SLOW_RATE, rules.slow_margin)] {
                let Some(c) = challenger.comparisons.iter().find(|c| c.metric == metric) else { continue };
                if ready(c) && c.is_worse(margin) {
                    return Some(AutoAction::Rollback { member: challenger.member.clone(), reason: reason(c, margin) });
                }
            }
        }
    }
    if !rules.auto_promote {
        return None;
    }
    let guardrail_ok = |cs: &[MetricComparison], metric: &str, margin: f64| {
        cs.iter()
            .find(|c| c.metric == metric)
            .is_some_and(|c| ready(c) && if margin > 0.0 { c.is_non_inferior(margin) } else { !c.is_worse(0.0) })
    };
    report
        .challengers
        .iter()
        .filter_map(|ch| {
            let primary = ch.comparisons.iter().find(|c| c.metric == rules.metric)?;
            let wins = ready(primary)
                && primary.is_better()
                && guardrail_ok(&ch.comparisons, ERROR_RATE, rules.error_margin)
                && guardrail_ok(&ch.comparisons, SLOW_RATE, rules.slow_margin);
            // Rank winners by how much better they are in the metric's own direction.
            let gain = match primary.direction {
                crate::stats::Direction::LowerIsBetter => -primary.difference,
                crate::stats::Direction::HigherIsBetter => primary.difference,
            };
            wins.then_some((gain, &ch.member))
        })
        .max_by(|x, y| x.0.total_cmp(&y.0))
        .map(|(_, member)| AutoAction::Promote { member: member.clone() })
}

fn reason(c: &MetricComparison, margin: f64) -> String {
    format!(
        "{} worse: challenger {:.4} vs champion {:.4}, difference in [{:.4}, {:.4}] (anytime-valid, alpha {:.4}) \
         lies above the margin {margin} after {} / {} requests",
        c.metric,
        c.challenger,
        c.champion,
        c.lower.unwrap_or(f64::NAN),
        c.upper.unwrap_or(f64::NAN),
        c.alpha,
        c.samples.champion,
        c.samples.challenger,
    )
}
