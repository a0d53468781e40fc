//! Sample-ratio-mismatch (SRM) check: Pearson's chi-squared goodness-of-fit test of the
//! observed assignment counts against the configured shares.
//!
//! Invariants:
//! - shares are normalised over the members that take part; a member with share 0 and no
//!   requests takes no part (it cannot mismatch), a member with share 0 but requests makes
//!   the statistic infinite and the p-value 0 (traffic went where none was configured);
//! - `df = k − 1` over the `k` participating members; with `k < 2` or no requests there is
//!   nothing to test and the result is `p = 1`, no alert;
//! - the p-value is the exact chi-squared tail `Q(df/2, χ²/2)` ([`super::gamma`]).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::gamma::chi_squared_sf;

/// Alert threshold on the SRM p-value (a standard choice: with daily checks, a false alarm
/// about once in three years, while real assignment bugs give p-values far below it).
pub const SRM_ALERT_P: f64 = 0.001;

/// One member's observed count and configured share (any non-negative scale).
#[derive(Debug, Clone, PartialEq)]
pub struct SrmArm {
    /// Member name.
    pub member: String,
    /// Configured weight or share; normalised over the participating members.
    pub share: f64,
    /// Requests assigned to the member.
    pub count: u64,
}

/// One participating member in an [`SrmResult`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SrmMember {
    /// Member name.
    pub member: String,
    /// Normalised configured share in `[0, 1]`.
    pub expected_share: f64,
    /// Observed requests.
    pub observed: u64,
    /// Expected requests: total × expected share.
    pub expected: f64,
}

/// The SRM test's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SrmResult {
    /// Pearson's χ² statistic (`null` in JSON when infinite: traffic to a zero-share member).
    pub chi_squared: f64,
    /// Degrees of freedom, `k − 1`.
    pub df: u32,
    /// `P(χ²(df) ≥ statistic)`.
    pub p_value: f64,
    /// The alert threshold used ([`SRM_ALERT_P`]).
    pub threshold: f64,
    /// `p_value < threshold`.
    pub alert: bool,
    /// The members that took part.
    pub members: Vec<SrmMember>,
}

/// Runs the SRM test over `arms`. Negative or non-finite shares are treated as 0.
pub fn srm_test(arms: &[SrmArm]) -> SrmResult {
    let share = |a: &SrmArm| if a.share.is_finite() && a.share > 0.0 { a.share } else { 0.0 };
    let taking_part: Vec<&SrmArm> = arms.iter().filter(|a| share(a) > 0.0 || a.count > 0).collect();
    let total_share: f64 = taking_part.iter().map(|a| share(a)).sum();
    let total: u64 = taking_part.iter().map(|a| a.count).sum();
    let members: Vec<SrmMember> = taking_part
        .iter()
        .map(|a| {
            let expected_share = if total_share > 0.0 { share(a) / total_share } else { 0.0 };
            SrmMember {
                member: a.member.clone(),
                expected_share,
                observed: a.count,
                expected: total as f64 * expected_share,
            }
        })
        .collect();
    let df = u32::try_from(members.len().saturating_sub(1)).unwrap_or(u32::MAX);
    if df == 0 || total == 0 || total_share <= 0.0 {
        return SrmResult { chi_squared: 0.0, df, p_value: 1.0, threshold: SRM_ALERT_P, alert: false, members };
    }
    let mut chi_squared = 0.0;
    for m in &members {
        let observed = m.observed as f64;
        chi_squared += if m.expected > 0.0 {
            (observed - m.expected).powi(2) / m.expected
        } else if observed > 0.0 {
            f64::INFINITY
        } else {
            0.0
        };
    }
    let p_value = chi_squared_sf(chi_squared, f64::from(df));
    SrmResult { chi_squared, df, p_value, threshold: SRM_ALERT_P, alert: p_value < SRM_ALERT_P, members }
}
