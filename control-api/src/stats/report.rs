//! The experiment report: per-member aggregates in, SRM check, challenger − champion
//! comparisons and the verdict out. Pure: [`evaluate`] is what `GET …/experiment` serves
//! after [`crate::analytics`] fetched the aggregates, and what the simulations exercise.
//!
//! Error control. `alpha` bounds the probability that a challenger's verdict is *ever*
//! wrongly anything but `no_difference_yet` under "no difference", however often the
//! report is requested. The verdict reads `m` metrics — the guardrails `error_rate` and
//! `slow_rate`, plus the primary metric when it is neither — for each of `c` evaluated
//! challengers, so each of those sequences is computed at `alpha / (m·c)` (Bonferroni;
//! each sequence is anytime-valid, so the union bound holds over all peeks). Feedback
//! metrics the verdict does not read are reported at the nominal `alpha`.
//!
//! Verdict (per challenger, then overall): `srm_alert` if the SRM check alerts (the
//! comparisons are then not trustworthy); else `challenger_worse` if a guardrail's sequence
//! lies entirely above its non-inferiority margin; else `challenger_better` if the primary
//! metric's sequence lies entirely on its better side; else `no_difference_yet`. Overall:
//! `srm_alert`, else the first of worse > better > no difference among the challengers.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::compare::{compare, Direction, MetricComparison};
use super::sequence::{feedback_tau, ArmSummary, DEFAULT_RATE_TAU};
use super::srm::{srm_test, SrmArm, SrmResult};

/// Metric name of the error-rate guardrail.
pub const ERROR_RATE: &str = "error_rate";
/// Metric name of the slow-rate guardrail (share of requests slower than the champion's p95).
pub const SLOW_RATE: &str = "slow_rate";
/// Default overall level.
pub const DEFAULT_ALPHA: f64 = 0.05;

/// The experiment's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The primary metric is better with confidence and no guardrail is worse.
    ChallengerBetter,
    /// A guardrail (error or slow rate) is worse with confidence, beyond its margin.
    ChallengerWorse,
    /// Not enough evidence either way (yet).
    NoDifferenceYet,
    /// Assignment counts do not match the configured weights: fix that first.
    SrmAlert,
}

/// Latency quantiles in microseconds (0 when the member has no requests).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LatencyQuantiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// Time-to-first-token quantiles in microseconds over the requests that had one (streams).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TtftQuantiles {
    /// Requests with a first-token time.
    pub samples: u64,
    /// Median (null without samples).
    pub p50: Option<f64>,
    /// 95th percentile (null without samples).
    pub p95: Option<f64>,
}

/// One feedback metric of one member, one value per request (feedback events deduplicated
/// by `feedback_id`, the last value per (request, metric) wins).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FeedbackStats {
    /// Metric name.
    pub metric: String,
    /// Requests with feedback on this metric.
    pub samples: u64,
    /// Mean value.
    pub mean: f64,
    /// Sample variance (`n − 1` denominator; 0 below two samples).
    pub variance: f64,
}

/// One member's aggregates over the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MemberStats {
    /// Member name.
    pub member: String,
    /// `champion`, `challenger` or `shadow`.
    pub role: String,
    /// Configured share of traffic in `[0, 1]`.
    pub share: f64,
    /// Requests (each request id once).
    pub requests: u64,
    /// Requests that failed through the member's fault (see `analytics` for the definition).
    pub errors: u64,
    /// `errors / requests` (0 without requests).
    pub error_rate: f64,
    /// Requests slower than the champion's p95 total latency.
    pub slow: u64,
    /// `slow / requests`.
    pub slow_rate: f64,
    /// Total latency quantiles.
    pub latency_us: LatencyQuantiles,
    /// First-token latency quantiles.
    pub ttft_us: TtftQuantiles,
    /// Sum of prompt tokens.
    pub input_tokens: u64,
    /// Sum of completion tokens.
    pub output_tokens: u64,
    /// Feedback metrics, sorted by name.
    pub feedback: Vec<FeedbackStats>,
    /// Cost per request, one entry per currency the member's records carry (SPEC §8);
    /// empty when none of its requests had a price.
    #[serde(default)]
    pub cost: Vec<CostStats>,
}

/// What a member's requests cost in one currency, from the records' exact costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CostStats {
    /// ISO 4217 code.
    pub currency: String,
    /// Requests with a cost in this currency (each request id once).
    pub requests: u64,
    /// Their total cost, an exact decimal string.
    pub total: String,
    /// Mean cost per request (`total / requests`), a decimal string exact to 28
    /// significant digits.
    pub per_request: String,
    /// 95% confidence interval of the mean cost per request, `[low, high]` (normal
    /// approximation with the sample variance); null below two requests.
    pub interval: Option<[f64; 2]>,
}

/// How to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalConfig {
    /// Overall level (see the module docs). Default 0.05.
    pub alpha: f64,
    /// `error_rate` (default), `slow_rate` (both lower is better) or a feedback metric name
    /// (higher is better).
    pub primary_metric: String,
    /// Non-inferiority margin on the error rate (absolute, e.g. 0.005 = half a point). Default 0.
    pub error_margin: f64,
    /// Non-inferiority margin on the slow rate. Default 0.
    pub slow_margin: f64,
    /// Mixing `τ` for the two rates. Default [`DEFAULT_RATE_TAU`].
    pub rate_tau: f64,
}

/// One challenger's comparisons and verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChallengerResult {
    /// Challenger member name.
    pub member: String,
    /// This challenger's verdict.
    pub verdict: Verdict,
    /// `error_rate`, `slow_rate`, then each feedback metric both arms have.
    pub comparisons: Vec<MetricComparison>,
}

/// What `GET /api/v1/groups/{g}/experiment` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExperimentReport {
    /// Group name.
    pub group: String,
    /// Window start, Unix ms (inclusive).
    pub since_ms: i64,
    /// Window end, Unix ms (exclusive).
    pub until_ms: i64,
    /// Overall level.
    pub alpha: f64,
    /// The metric a challenger wins on.
    pub primary_metric: String,
    /// The champion's p95 total latency, the slow-rate threshold (null without champion data).
    pub slow_threshold_us: Option<f64>,
    /// Per-member aggregates.
    pub members: Vec<MemberStats>,
    /// Sample-ratio-mismatch check over champion and challengers.
    pub srm: SrmResult,
    /// One entry per challenger with requests.
    pub challengers: Vec<ChallengerResult>,
    /// The overall verdict.
    pub verdict: Verdict,
    /// Caveats an operator should read (e.g. weights changed inside the window).
    pub notes: Vec<String>,
}

// === impl EvalConfig ===

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            alpha: DEFAULT_ALPHA,
            primary_metric: ERROR_RATE.to_owned(),
            error_margin: 0.0,
            slow_margin: 0.0,
            rate_tau: DEFAULT_RATE_TAU,
        }
    }
}

impl EvalConfig {
    /// Whether the primary metric is a feedback metric (so it adds a comparison to the verdict).
    fn primary_is_feedback(&self) -> bool {
        self.primary_metric != ERROR_RATE && self.primary_metric != SLOW_RATE
    }
}

// === impl MemberStats ===

impl CostStats {
    /// From one currency's request count, exact total and the sample variance of the
    /// per-request cost.
    pub fn new(currency: String, requests: u64, total: Decimal, var_samp: f64) -> Self {
        // 97.5th percentile of the standard normal: a two-sided 95% interval.
        const Z: f64 = 1.959_963_984_540_054;
        let mean = if requests == 0 { Decimal::ZERO } else { total / Decimal::from(requests) };
        let interval = (requests >= 2 && var_samp.is_finite()).then(|| {
            let m = mean.to_f64().unwrap_or(f64::NAN);
            #[allow(clippy::cast_precision_loss)] // request counts are far below 2^52
            let half = Z * (var_samp.max(0.0) / requests as f64).sqrt();
            [m - half, m + half]
        });
        Self {
            currency,
            requests,
            total: total.normalize().to_string(),
            per_request: mean.normalize().to_string(),
            interval,
        }
    }
}

impl MemberStats {
    /// Recomputes `error_rate` and `slow_rate` from the counts.
    pub fn with_rates(mut self) -> Self {
        let n = self.requests as f64;
        self.error_rate = if self.requests == 0 { 0.0 } else { self.errors as f64 / n };
        self.slow_rate = if self.requests == 0 { 0.0 } else { self.slow as f64 / n };
        self
    }

    fn feedback(&self, metric: &str) -> Option<ArmSummary> {
        self.feedback.iter().find(|f| f.metric == metric).map(|f| ArmSummary::real(f.samples, f.mean, f.variance))
    }
}

/// Evaluates the experiment over the members' aggregates (`members` in any order; the
/// champion is the member with role `champion`; only `champion` and `challenger` members take
/// part in SRM and verdict — shadows and members no longer configured do not).
pub fn evaluate(
    group: &str,
    since_ms: i64,
    until_ms: i64,
    members: Vec<MemberStats>,
    slow_threshold_us: Option<f64>,
    cfg: &EvalConfig,
) -> ExperimentReport {
    let members: Vec<MemberStats> = members.into_iter().map(MemberStats::with_rates).collect();
    let arms: Vec<SrmArm> = members
        .iter()
        .filter(|m| m.role == "champion" || m.role == "challenger")
        .map(|m| SrmArm { member: m.member.clone(), share: m.share, count: m.requests })
        .collect();
    let srm = srm_test(&arms);
    let champion = members.iter().find(|m| m.role == "champion");
    let evaluated: Vec<&MemberStats> = members.iter().filter(|m| m.role == "challenger" && m.requests > 0).collect();
    let verdict_metrics = if cfg.primary_is_feedback() { 3.0 } else { 2.0 };
    let family_alpha = cfg.alpha / (verdict_metrics * evaluated.len().max(1) as f64);
    let challengers: Vec<ChallengerResult> = match champion {
        Some(champion) => evaluated.iter().map(|c| challenger_result(champion, c, cfg, family_alpha)).collect(),
        None => Vec::new(),
    };
    let verdict = if srm.alert {
        Verdict::SrmAlert
    } else if challengers.iter().any(|c| c.verdict == Verdict::ChallengerWorse) {
        Verdict::ChallengerWorse
    } else if challengers.iter().any(|c| c.verdict == Verdict::ChallengerBetter) {
        Verdict::ChallengerBetter
    } else {
        Verdict::NoDifferenceYet
    };
    let mut notes = Vec::new();
    if champion.is_none() {
        notes.push("no champion in the group: nothing to compare against".to_owned());
    }
    ExperimentReport {
        group: group.to_owned(),
        since_ms,
        until_ms,
        alpha: cfg.alpha,
        primary_metric: cfg.primary_metric.clone(),
        slow_threshold_us,
        members,
        srm,
        challengers,
        verdict,
        notes,
    }
}

fn challenger_result(a: &MemberStats, b: &MemberStats, cfg: &EvalConfig, family_alpha: f64) -> ChallengerResult {
    let rate = |metric: &str, ea: u64, eb: u64| {
        let (sa, sb) = ArmSummary::bernoulli_pair(ea, a.requests, eb, b.requests);
        compare(metric, Direction::LowerIsBetter, &sa, &sb, family_alpha, cfg.rate_tau)
    };
    let mut comparisons = vec![rate(ERROR_RATE, a.errors, b.errors), rate(SLOW_RATE, a.slow, b.slow)];
    for fa in &a.feedback {
        let (Some(sa), Some(sb)) = (a.feedback(&fa.metric), b.feedback(&fa.metric)) else { continue };
        let (sa, sb) = ArmSummary::real_pair(sa, sb);
        let Some(tau) = feedback_tau(&sa, &sb) else { continue };
        let alpha = if fa.metric == cfg.primary_metric { family_alpha } else { cfg.alpha };
        comparisons.push(compare(&fa.metric, Direction::HigherIsBetter, &sa, &sb, alpha, tau));
    }
    let find = |metric: &str| comparisons.iter().find(|c| c.metric == metric);
    let worse = find(ERROR_RATE).is_some_and(|c| c.is_worse(cfg.error_margin))
        || find(SLOW_RATE).is_some_and(|c| c.is_worse(cfg.slow_margin));
    let better = find(&cfg.primary_metric).is_some_and(MetricComparison::is_better);
    let verdict = if worse {
        Verdict::ChallengerWorse
    } else if better {
        Verdict::ChallengerBetter
    } else {
        Verdict::NoDifferenceYet
    };
    ChallengerResult { member: b.member.clone(), verdict, comparisons }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cost_per_request_is_exact_with_a_normal_interval() {
        let total = Decimal::from_str_exact("0.000375000000").unwrap();
        let c = CostStats::new("USD".into(), 2, total, 7.8125e-9);
        assert_eq!((c.total.as_str(), c.per_request.as_str()), ("0.000375", "0.0001875"));
        let [low, high] = c.interval.unwrap();
        let half = 1.959_963_984_540_054 * (7.8125e-9_f64 / 2.0).sqrt();
        assert!((low - (0.0001875 - half)).abs() < 1e-15 && (high - (0.0001875 + half)).abs() < 1e-15);
        // One request: no interval; thirds stay exact to 28 digits.
        let one = CostStats::new("EUR".into(), 1, Decimal::ONE, f64::NAN);
        assert_eq!((one.per_request.as_str(), one.interval), ("1", None));
        let third = CostStats::new("USD".into(), 3, Decimal::ONE, 0.0);
        assert_eq!(third.per_request, "0.3333333333333333333333333333");
    }
}
