//! Anytime-valid confidence sequences for a difference of two means (challenger − champion),
//! and the classical fixed-n interval for reference.
//!
//! The sequence is the two-sample normal-mixture (mixture SPRT) boundary of Johari, Pekelis &
//! Walsh (2017, "Always valid inference: continuous monitoring of A/B tests", §4) — also
//! Howard, Ramdas, McAuliffe & Sekhon (2021, "Time-uniform, nonparametric, nonasymptotic
//! confidence sequences", eq. (14)). With `θ̂ = x̄_B − x̄_A` and `V = σ̂²_A/n_A + σ̂²_B/n_B`,
//! mixing the likelihood ratio over `θ ~ N(0, τ²)` gives
//!
//! ```text
//!   Λ(θ) = sqrt(V / (V + τ²)) · exp( τ² (θ̂ − θ)² / (2 V (V + τ²)) )
//!   CS_α = θ̂ ± sqrt( V (V + τ²) / τ² · ( 2 ln(1/α) + ln((V + τ²) / V) ) )
//! ```
//!
//! `Λ` is a nonnegative martingale under `θ`, so by Ville's inequality the probability that
//! the true difference ever leaves the interval — however often it is looked at — is at most
//! `α` (asymptotically, with plug-in variances, as in the paper).
//!
//! Invariants:
//! - no interval below [`MIN_SAMPLES`] observations per arm (the plug-in variance and the
//!   normal approximation need some data): the functions return `None`;
//! - a variance is never 0: a Bernoulli rate's variance uses `p̂` clamped to
//!   `[0.5/n, 1 − 0.5/n]` (a continuity correction: "half an event"), and a real-valued
//!   metric's variance is floored at the same `(0.5/n)(1 − 0.5/n)` — as if half an observation
//!   differed by one unit of the metric — so an arm with no events still has a finite,
//!   shrinking interval;
//! - compared arms use **conservative variances** ([`ArmSummary::bernoulli_pair`],
//!   [`ArmSummary::real_pair`]): each arm's variance is the larger of its own and the pooled
//!   one. The plug-in variance of a small arm that by chance saw few events is far too small
//!   (0 errors in 70 requests "proves" nothing about a 5 % rate), which made the boundary
//!   fire falsely in A/A simulations with a 90/10 split; the pooled variance is what the arm's
//!   variance is under "no difference", and taking the maximum keeps the interval valid (only
//!   wider) when the arms do differ.

use super::gamma::normal_quantile;

/// Fewest observations per arm before an interval is given.
pub const MIN_SAMPLES: u64 = 30;

/// Default mixing standard deviation `τ` for rates (error rate, slow rate): the sequence is
/// tightest for differences around `τ`, and two percentage points is the size of change an
/// operator acts on (power is good from ~1 to ~5 points; smaller true differences still get
/// detected, only later).
pub const DEFAULT_RATE_TAU: f64 = 0.02;

/// For real-valued feedback metrics `τ` is this fraction of the pooled standard deviation:
/// 0.1 σ is half of Cohen's "small" effect, and equals ~0.02 for a 5 % Bernoulli rate, in
/// line with [`DEFAULT_RATE_TAU`].
pub const FEEDBACK_TAU_SD_FRACTION: f64 = 0.1;

/// Sufficient statistics of one arm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmSummary {
    /// Observations.
    pub n: u64,
    /// Sample mean.
    pub mean: f64,
    /// Variance used for the interval (already floored; see the module invariants).
    pub variance: f64,
}

/// A two-sided interval for `θ = mean_B − mean_A`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// The point estimate `θ̂`.
    pub estimate: f64,
    /// Lower end.
    pub lower: f64,
    /// Upper end.
    pub upper: f64,
}

// === impl ArmSummary ===

impl ArmSummary {
    /// A Bernoulli arm with `events` of `n` (e.g. errors of requests). The mean is the raw
    /// rate; the variance uses the clamped rate.
    pub fn bernoulli(events: u64, n: u64) -> Self {
        if n == 0 {
            return Self { n, mean: 0.0, variance: 0.0 };
        }
        let nf = n as f64;
        let mean = events.min(n) as f64 / nf;
        let clamped = mean.clamp(0.5 / nf, 1.0 - 0.5 / nf);
        Self { n, mean, variance: clamped * (1.0 - clamped) }
    }

    /// A real-valued arm from its mean and sample variance (`n − 1` denominator).
    pub fn real(n: u64, mean: f64, sample_variance: f64) -> Self {
        if n == 0 {
            return Self { n, mean: 0.0, variance: 0.0 };
        }
        let nf = n as f64;
        let floor = (0.5 / nf) * (1.0 - 0.5 / nf);
        let variance = if sample_variance.is_finite() { sample_variance.max(floor) } else { floor };
        Self { n, mean, variance }
    }

    /// Champion (`a`) and challenger (`b`) Bernoulli arms with conservative variances: each
    /// is `max(own, pooled)` where pooled uses the rate of both arms together, clamped the
    /// same way (see the module invariants).
    pub fn bernoulli_pair(events_a: u64, n_a: u64, events_b: u64, n_b: u64) -> (Self, Self) {
        let (a, b) = (Self::bernoulli(events_a, n_a), Self::bernoulli(events_b, n_b));
        let pooled = Self::bernoulli(events_a.min(n_a) + events_b.min(n_b), n_a + n_b).variance;
        (a.at_least(pooled), b.at_least(pooled))
    }

    /// Real-valued arms with conservative variances: each is `max(own, pooled within-arm
    /// variance)`, the pooled one weighted by `n − 1`.
    pub fn real_pair(a: Self, b: Self) -> (Self, Self) {
        let dof = (a.n.saturating_sub(1) + b.n.saturating_sub(1)) as f64;
        if dof <= 0.0 {
            return (a, b);
        }
        let pooled = (a.variance * a.n.saturating_sub(1) as f64 + b.variance * b.n.saturating_sub(1) as f64) / dof;
        (a.at_least(pooled), b.at_least(pooled))
    }

    fn at_least(self, variance: f64) -> Self {
        if self.n == 0 || !variance.is_finite() {
            return self;
        }
        Self { variance: self.variance.max(variance), ..self }
    }

    fn variance_of_mean(&self) -> f64 {
        self.variance / self.n as f64
    }
}

/// `V = σ²_A/n_A + σ²_B/n_B`, or `None` below [`MIN_SAMPLES`] or when it is not positive.
fn variance_of_difference(a: &ArmSummary, b: &ArmSummary) -> Option<f64> {
    if a.n < MIN_SAMPLES || b.n < MIN_SAMPLES {
        return None;
    }
    let v = a.variance_of_mean() + b.variance_of_mean();
    (v.is_finite() && v > 0.0).then_some(v)
}

/// The `(1 − α)` normal-mixture confidence sequence for `mean_B − mean_A` with mixing
/// standard deviation `tau` (see the module docs). `None` below [`MIN_SAMPLES`] per arm, or
/// for `α ∉ (0, 1)` or `τ ≤ 0`.
pub fn confidence_sequence(a: &ArmSummary, b: &ArmSummary, alpha: f64, tau: f64) -> Option<Interval> {
    if !(alpha > 0.0 && alpha < 1.0 && tau > 0.0 && tau.is_finite()) {
        return None;
    }
    let v = variance_of_difference(a, b)?;
    let t2 = tau * tau;
    let half = (v * (v + t2) / t2 * (2.0 * (1.0 / alpha).ln() + ((v + t2) / v).ln())).sqrt();
    let estimate = b.mean - a.mean;
    Some(Interval { estimate, lower: estimate - half, upper: estimate + half })
}

/// The classical fixed-n Wald interval `θ̂ ± z_{1−α/2} √V` — valid only for one look at a
/// sample size fixed in advance; reported for reference, never used for a verdict.
pub fn fixed_interval(a: &ArmSummary, b: &ArmSummary, alpha: f64) -> Option<Interval> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return None;
    }
    let v = variance_of_difference(a, b)?;
    let half = normal_quantile(1.0 - alpha / 2.0) * v.sqrt();
    let estimate = b.mean - a.mean;
    Some(Interval { estimate, lower: estimate - half, upper: estimate + half })
}

/// `τ` for a real-valued metric: [`FEEDBACK_TAU_SD_FRACTION`] × the pooled standard
/// deviation of the two arms (`None` if either arm is empty).
pub fn feedback_tau(a: &ArmSummary, b: &ArmSummary) -> Option<f64> {
    let n = a.n + b.n;
    if a.n == 0 || b.n == 0 {
        return None;
    }
    let pooled = (a.variance * a.n as f64 + b.variance * b.n as f64) / n as f64;
    let tau = FEEDBACK_TAU_SD_FRACTION * pooled.sqrt();
    (tau > 0.0 && tau.is_finite()).then_some(tau)
}
