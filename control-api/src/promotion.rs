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

/// `groups.<g>.promotion`: the rules come straight from the config (validated there, with
/// key paths); see `switchyard_config::schema::PromotionConfig` for the fields and defaults.
pub use switchyard_config::schema::PromotionConfig as PromotionRules;

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
