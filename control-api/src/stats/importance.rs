//! Per-arm feature importance: the interval on a mean of |attribution| and the rank
//! correlation between two arms (SPEC §9).
//!
//! - Interval: a normal-approximation 95 % confidence interval on the mean of |value|
//!   per feature, `mean ± 1.96 · s / √n` with `s` the sample standard deviation (Bessel's
//!   correction), clamped at 0 below; with `n < 2` the interval is the mean itself. Each
//!   stored attribution (one request, instance and output) is one observation.
//! - Rank correlation: Spearman's ρ — Pearson's correlation of the ranks (ties share
//!   their average rank) — over the features both arms have; `None` with fewer than two
//!   common features or when a side's ranks do not vary.

/// `z` of a two-sided 95 % normal interval.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// `(low, high)` of the interval on a mean of non-negative values from `n` observations
/// with sum `sum` and sum of squares `sum_sq`.
pub fn mean_interval(n: u64, sum: f64, sum_sq: f64) -> (f64, f64, f64) {
    if n == 0 {
        return (0.0, 0.0, 0.0);
    }
    let nf = n as f64;
    let mean = sum / nf;
    if n < 2 {
        return (mean, mean, mean);
    }
    let var = ((sum_sq - nf * mean * mean) / (nf - 1.0)).max(0.0);
    let half = Z_95 * (var / nf).sqrt();
    (mean, (mean - half).max(0.0), mean + half)
}

/// Average ranks (1-based) of `xs`, ties sharing their mean rank.
pub fn ranks(xs: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..xs.len()).collect();
    order.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
    let mut out = vec![0.0; xs.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && xs[order[j + 1]] == xs[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            out[k] = rank;
        }
        i = j + 1;
    }
    out
}

/// Spearman's ρ of two paired samples.
pub fn spearman(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    (va > 0.0 && vb > 0.0).then(|| cov / (va * vb).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        assert_eq!(ranks(&[10.0, 30.0, 20.0, 20.0]), [1.0, 4.0, 2.5, 2.5]);
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]), Some(1.0));
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), Some(-1.0));
        // scipy.stats.spearmanr([1,2,3,4,5],[5,6,7,8,7]) = 0.8207826816681233
        let rho = spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5.0, 6.0, 7.0, 8.0, 7.0]).expect("rho");
        assert!((rho - 0.820_782_681_668_123_3).abs() < 1e-12, "{rho}");
        assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]), None);
        // values 1, 2, 3: mean 2, s = 1, half = 1.96 / sqrt(3)
        let (m, lo, hi) = mean_interval(3, 6.0, 14.0);
        assert_eq!(m, 2.0);
        assert!((hi - (2.0 + Z_95 / 3f64.sqrt())).abs() < 1e-12 && (lo - (2.0 - Z_95 / 3f64.sqrt())).abs() < 1e-12);
        assert_eq!(mean_interval(1, 0.5, 0.25), (0.5, 0.5, 0.5));
    }
}
