//! Experiment statistics: pure functions, no I/O.
//!
//! - [`gamma`]: `ln Γ`, regularized incomplete gamma, chi-squared tail, normal CDF/quantile;
//! - [`srm`]: the sample-ratio-mismatch chi-squared test (alert at `p < 0.001`);
//! - [`sequence`]: the anytime-valid normal-mixture confidence sequence for a difference of
//!   means (Johari, Pekelis & Walsh 2017; Howard et al. 2021) and the fixed-n interval;
//! - [`compare`]: one metric, challenger − champion, with direction-aware predicates;
//! - [`report`]: per-member aggregates → SRM + comparisons + [`Verdict`].
//!
//! Invariant: everything here is deterministic and total — degenerate input (no data, zero
//! variance, a missing champion) yields "no interval" / `no_difference_yet`, never a panic.

pub mod compare;
pub mod gamma;
pub mod importance;
pub mod report;
pub mod sequence;
pub mod srm;

pub use compare::{compare, Direction, MetricComparison, Samples};
pub use report::{
    evaluate, ChallengerResult, CostStats, EvalConfig, ExperimentReport, FeedbackStats, LatencyQuantiles, MemberStats,
    TtftQuantiles, Verdict, DEFAULT_ALPHA, ERROR_RATE, SLOW_RATE,
};
pub use sequence::{
    confidence_sequence, feedback_tau, fixed_interval, ArmSummary, Interval, DEFAULT_RATE_TAU,
    FEEDBACK_TAU_SD_FRACTION, MIN_SAMPLES,
};
pub use srm::{srm_test, SrmArm, SrmMember, SrmResult, SRM_ALERT_P};
