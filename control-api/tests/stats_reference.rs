//! The SRM p-value and the confidence sequences against an independent implementation,
//! `tests/reference/stats_reference.py` (Python 3 stdlib only: closed-form chi-squared tails,
//! `statistics.NormalDist`), on fixed synthetic inputs from a seeded RNG. Agreement is to
//! 1e-9 relative (interval ends relative to the larger of the value and the half-width, so an
//! end near 0 is not held to an impossible standard). Fails — never skips — without `python3`.
#![allow(clippy::unwrap_used, clippy::manual_is_multiple_of)]

use std::io::Write;
use std::process::{Command, Stdio};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use switchyard_control_api::stats::{confidence_sequence, fixed_interval, srm_test, ArmSummary, SrmArm};

const REL: f64 = 1e-9;

fn run_reference(input: &Value) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference/stats_reference.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 must be installed to run the reference comparison");
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "reference script failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn arm_json(a: &Arm) -> Value {
    match *a {
        Arm::Bernoulli { events, n } => json!({"kind": "bernoulli", "events": events, "n": n}),
        Arm::Real { n, mean, var } => json!({"kind": "real", "n": n, "mean": mean, "var": var}),
    }
}

#[derive(Debug, Clone, Copy)]
enum Arm {
    Bernoulli { events: u64, n: u64 },
    Real { n: u64, mean: f64, var: f64 },
}

impl Arm {
    fn summary(self) -> ArmSummary {
        match self {
            Arm::Bernoulli { events, n } => ArmSummary::bernoulli(events, n),
            Arm::Real { n, mean, var } => ArmSummary::real(n, mean, var),
        }
    }

    fn random(rng: &mut StdRng) -> Self {
        let n = rng.random_range(10..200_000u64);
        match rng.random_range(0..4) {
            0 => Arm::Bernoulli { events: 0, n },
            1 | 2 => Arm::Bernoulli { events: (n as f64 * rng.random_range(0.0..0.3)) as u64, n },
            _ => Arm::Real { n, mean: rng.random_range(-5.0..5.0), var: rng.random_range(0.0..4.0) },
        }
    }
}

fn assert_rel(what: &str, rust: f64, reference: f64, scale: f64) {
    let denom = reference.abs().max(scale.abs()).max(f64::MIN_POSITIVE);
    let err = (rust - reference).abs() / denom;
    assert!(err <= REL, "{what}: rust {rust:e} vs reference {reference:e} (relative {err:e})");
}

#[test]
fn srm_and_sequences_match_the_python_reference() {
    let mut rng = StdRng::seed_from_u64(0x5eed_5a3e);
    // SRM cases: the hand-checked one, then random splits with counts near and far from plan.
    let mut srm_cases: Vec<(Vec<f64>, Vec<u64>)> = vec![(vec![90.0, 10.0], vec![9100, 900])];
    for i in 0..200 {
        let k = rng.random_range(2..=6);
        let shares: Vec<f64> = (0..k).map(|_| rng.random_range(1.0..100.0)).collect();
        let total: f64 = shares.iter().sum();
        let n = rng.random_range(100..500_000) as f64;
        let skew = if i % 4 == 0 { 0.05 } else { 0.005 };
        let counts: Vec<u64> =
            shares.iter().map(|s| (n * s / total * (1.0 + rng.random_range(-skew..skew))).round() as u64).collect();
        srm_cases.push((shares, counts));
    }
    let mut cs_cases: Vec<(Arm, Arm, f64, f64)> = Vec::new();
    for _ in 0..300 {
        let alpha = [0.05, 0.01, 0.025, 0.1][rng.random_range(0..4)];
        let tau = rng.random_range(0.001..0.5);
        cs_cases.push((Arm::random(&mut rng), Arm::random(&mut rng), alpha, tau));
    }
    let input = json!({
        "srm": srm_cases.iter().map(|(s, c)| json!({"shares": s, "counts": c})).collect::<Vec<_>>(),
        "cs": cs_cases.iter().map(|(a, b, alpha, tau)| json!({"a": arm_json(a), "b": arm_json(b), "alpha": alpha, "tau": tau})).collect::<Vec<_>>(),
    });
    let out = run_reference(&input);

    let srm_out = out["srm"].as_array().unwrap();
    assert_eq!(srm_out.len(), srm_cases.len());
    let (mut small_p, mut alerts) = (0, 0);
    for ((shares, counts), reference) in srm_cases.iter().zip(srm_out) {
        let arms: Vec<SrmArm> = shares
            .iter()
            .zip(counts)
            .enumerate()
            .map(|(i, (s, c))| SrmArm { member: format!("m{i}"), share: *s, count: *c })
            .collect();
        let r = srm_test(&arms);
        let p_ref = reference["p"].as_f64().unwrap();
        assert_eq!(u64::from(r.df), reference["df"].as_u64().unwrap());
        assert_rel("chi2", r.chi_squared, reference["chi2"].as_f64().unwrap(), 0.0);
        assert_rel(&format!("srm p for {counts:?}"), r.p_value, p_ref, 0.0);
        small_p += usize::from(p_ref < 1e-6);
        alerts += usize::from(r.alert);
    }
    // The inputs exercise both the bulk and the far tail of the distribution.
    assert!(small_p >= 20 && alerts < srm_cases.len(), "small p: {small_p}, alerts: {alerts}");

    let cs_out = out["cs"].as_array().unwrap();
    assert_eq!(cs_out.len(), cs_cases.len());
    let mut compared = 0;
    for ((a, b, alpha, tau), reference) in cs_cases.iter().zip(cs_out) {
        let (sa, sb) = match (a, b) {
            (Arm::Bernoulli { events: ea, n: na }, Arm::Bernoulli { events: eb, n: nb }) => {
                ArmSummary::bernoulli_pair(*ea, *na, *eb, *nb)
            }
            (Arm::Real { .. }, Arm::Real { .. }) => ArmSummary::real_pair(a.summary(), b.summary()),
            _ => (a.summary(), b.summary()),
        };
        let cs = confidence_sequence(&sa, &sb, *alpha, *tau);
        let fixed = fixed_interval(&sa, &sb, *alpha);
        if reference.is_null() {
            assert!(cs.is_none() && fixed.is_none(), "{a:?} {b:?}: reference has no interval");
            continue;
        }
        let (cs, fixed) = (cs.unwrap(), fixed.unwrap());
        let half = cs.upper - cs.estimate;
        let f = |k: &str| reference[k].as_f64().unwrap();
        assert_rel("estimate", cs.estimate, f("estimate"), half);
        assert_rel("lower", cs.lower, f("lower"), half);
        assert_rel("upper", cs.upper, f("upper"), half);
        let fixed_half = fixed.upper - fixed.estimate;
        assert_rel("fixed lower", fixed.lower, f("fixed_lower"), fixed_half);
        assert_rel("fixed upper", fixed.upper, f("fixed_upper"), fixed_half);
        compared += 1;
    }
    assert!(compared >= 250, "only {compared} intervals compared");
}
