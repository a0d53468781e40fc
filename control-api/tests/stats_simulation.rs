//! Simulations through the real verdict path ([`evaluate`]), seeded so they are reproducible:
//!
//! - A/A: identical arms, peeked after every batch; the share of experiments *ever* declared
//!   `challenger_better` or `challenger_worse` must stay ≤ α (plus binomial noise). The same runs
//!   also peek at the naive fixed-n interval, whose false-positive rate must be clearly above α —
//!   proof that the simulation can catch an invalid procedure.
//! - Power: a real 2-point error-rate difference (5 % vs 7 %) must reach `challenger_worse`,
//!   and the test prints after how many samples per arm (median over seeds).
//!
//! Run with `--nocapture` to see the numbers.
#![allow(clippy::unwrap_used, clippy::manual_is_multiple_of)]

use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};
use switchyard_control_api::stats::{evaluate, fixed_interval, ArmSummary, EvalConfig, MemberStats, Verdict};

/// Resolution of the per-sample uniform draws (three 21-bit draws from one `u64`).
const BITS: u32 = 21;
const ONE: u64 = 1 << BITS;
const MASK: u64 = ONE - 1;

/// Counts of one arm.
#[derive(Debug, Default, Clone, Copy)]
struct Arm {
    n: u64,
    errors: u64,
    slow: u64,
}

/// Bernoulli thresholds on the 21-bit scale.
fn threshold(p: f64) -> u64 {
    (p * ONE as f64) as u64
}

/// Draws `batch` requests: arm (`< share_a` → champion), error and slow indicators.
fn draw(rng: &mut SmallRng, batch: u64, share_a: u64, p_err: [u64; 2], p_slow: u64, arms: &mut [Arm; 2]) {
    for _ in 0..batch {
        let u = rng.next_u64();
        let i = usize::from(u & MASK >= share_a);
        let arm = &mut arms[i];
        arm.n += 1;
        arm.errors += u64::from((u >> BITS) & MASK < p_err[i]);
        arm.slow += u64::from((u >> (2 * BITS)) & MASK < p_slow);
    }
}

fn members(arms: &[Arm; 2], share_a: f64) -> Vec<MemberStats> {
    let m = |name: &str, role: &str, share: f64, a: &Arm| MemberStats {
        member: name.into(),
        role: role.into(),
        share,
        requests: a.n,
        errors: a.errors,
        slow: a.slow,
        ..Default::default()
    };
    vec![m("champion", "champion", share_a, &arms[0]), m("challenger", "challenger", 1.0 - share_a, &arms[1])]
}

#[test]
fn aa_false_positive_rate_under_continuous_peeking() {
    const EXPERIMENTS: u64 = 1000;
    const PEEKS: u64 = 50;
    const BATCH: u64 = 200;
    let cfg = EvalConfig::default();
    let alpha = cfg.alpha;
    let (share, p) = (threshold(0.9), threshold(0.05));
    let (mut declared, mut naive_declared, mut srm_alerts) = (0u64, 0u64, 0u64);
    for seed in 0..EXPERIMENTS {
        let mut rng = SmallRng::seed_from_u64(0xA_A000 + seed);
        let mut arms = [Arm::default(); 2];
        let (mut ever, mut naive_ever, mut srm_ever) = (false, false, false);
        for _ in 0..PEEKS {
            draw(&mut rng, BATCH, share, [p, p], p, &mut arms);
            let report = evaluate("g", 0, 1, members(&arms, 0.9), None, &cfg);
            // The challenger's own verdict: an SRM alert must not hide a false positive.
            let verdict = report.challengers.first().map(|c| c.verdict);
            ever |= matches!(verdict, Some(Verdict::ChallengerBetter | Verdict::ChallengerWorse));
            srm_ever |= report.srm.alert;
            // The naive procedure: a fixed-n 95 % interval on the error rate, peeked the same way.
            let (a, b) =
                (ArmSummary::bernoulli(arms[0].errors, arms[0].n), ArmSummary::bernoulli(arms[1].errors, arms[1].n));
            naive_ever |= fixed_interval(&a, &b, alpha).is_some_and(|i| i.lower > 0.0 || i.upper < 0.0);
        }
        declared += u64::from(ever);
        naive_declared += u64::from(naive_ever);
        srm_alerts += u64::from(srm_ever);
    }
    let rate = declared as f64 / EXPERIMENTS as f64;
    let naive = naive_declared as f64 / EXPERIMENTS as f64;
    // Three binomial standard errors of noise allowance around α.
    let allowance = 3.0 * (alpha * (1.0 - alpha) / EXPERIMENTS as f64).sqrt();
    println!(
        "A/A: {EXPERIMENTS} experiments x {PEEKS} peeks of {BATCH} requests (90/10, 5% errors, 5% slow): \
         ever better|worse {declared} = {rate:.4} (alpha {alpha}); naive fixed-n peeking {naive_declared} = {naive:.4}; \
         SRM ever alerted {srm_alerts}"
    );
    assert!(rate <= alpha + allowance, "A/A false-positive rate {rate} > {alpha} + {allowance}");
    assert!(naive > 2.0 * alpha, "the naive procedure should be caught inflating errors, got {naive}");
}

/// Peeks every `batch` requests until the challenger's verdict is `challenger_worse` (or the
/// cap); returns the challenger's sample count at that point.
fn samples_until_worse(seed: u64, share_a: f64, batch: u64, cap: u64) -> Option<u64> {
    let cfg = EvalConfig::default();
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut arms = [Arm::default(); 2];
    let (p_a, p_b, p_slow) = (threshold(0.05), threshold(0.07), threshold(0.05));
    while arms[1].n < cap {
        draw(&mut rng, batch, threshold(share_a), [p_a, p_b], p_slow, &mut arms);
        let report = evaluate("g", 0, 1, members(&arms, share_a), None, &cfg);
        match report.challengers.first().map(|c| c.verdict) {
            Some(Verdict::ChallengerWorse) => return Some(arms[1].n),
            Some(Verdict::ChallengerBetter) => panic!("seed {seed}: a worse challenger was declared better"),
            _ => {}
        }
    }
    None
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

#[test]
fn power_for_a_two_point_error_rate_difference() {
    const SEEDS: u64 = 101;
    const CAP: u64 = 30_000;
    // 50/50 split, peeking every 200 requests (~100 per arm).
    let even: Vec<Option<u64>> = (0..SEEDS).map(|s| samples_until_worse(0xB0_0000 + s, 0.5, 200, CAP)).collect();
    // 90/10 split (a typical challenger ramp), peeking every 1000 requests (~100 challenger).
    let ramp: Vec<Option<u64>> = (0..SEEDS).map(|s| samples_until_worse(0xC0_0000 + s, 0.9, 1000, CAP)).collect();
    let detected = |v: &[Option<u64>]| v.iter().flatten().count();
    let even_n: Vec<u64> = even.iter().flatten().copied().collect();
    let ramp_n: Vec<u64> = ramp.iter().flatten().copied().collect();
    assert!(detected(&even) as u64 >= SEEDS * 95 / 100, "50/50: detected in {} of {SEEDS}", detected(&even));
    assert!(detected(&ramp) as u64 >= SEEDS * 95 / 100, "90/10: detected in {} of {SEEDS}", detected(&ramp));
    let (m_even, m_ramp) = (median(even_n.clone()), median(ramp_n.clone()));
    let p90 = |mut v: Vec<u64>| {
        v.sort_unstable();
        v[v.len() * 9 / 10]
    };
    println!(
        "power, error rate 5% vs 7%, alpha 0.05: 50/50 split -> challenger_worse after a median of {m_even} \
         samples per arm (90th percentile {}; detected {}/{SEEDS}); 90/10 split -> median {m_ramp} challenger \
         samples (= ~{} total requests; 90th percentile {}; detected {}/{SEEDS})",
        p90(even_n),
        detected(&even),
        m_ramp * 10,
        p90(ramp_n),
        detected(&ramp)
    );
    // The bounds quoted in the docs: within 5,000 per arm at 50/50, 3,000 challenger samples at 90/10.
    assert!((1000..=5000).contains(&m_even), "50/50 median {m_even}");
    assert!((500..=3000).contains(&m_ramp), "90/10 median {m_ramp}");
}
