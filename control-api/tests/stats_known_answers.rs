//! Known answers for the statistics: special functions against closed forms and published
//! values, the SRM test on hand-checked counts, the confidence sequence's shape and degenerate
//! cases, the verdict rules and the promotion decision.
#![allow(clippy::unwrap_used, clippy::manual_is_multiple_of)]

use std::time::Duration;

use switchyard_control_api::promotion::{decide, AutoAction, PromotionRules};
use switchyard_control_api::stats::gamma::{chi_squared_sf, gamma_p, gamma_q, ln_gamma, normal_cdf, normal_quantile};
use switchyard_control_api::stats::{
    confidence_sequence, evaluate, fixed_interval, srm_test, ArmSummary, EvalConfig, FeedbackStats, MemberStats,
    SrmArm, Verdict,
};

fn close(actual: f64, expected: f64, rel: f64) {
    let err = ((actual - expected) / expected).abs();
    assert!(err <= rel, "actual {actual:e}, expected {expected:e}, relative error {err:e} > {rel:e}");
}

#[test]
fn ln_gamma_matches_known_values() {
    close(ln_gamma(0.5), 0.5 * std::f64::consts::PI.ln(), 1e-14);
    close(ln_gamma(10.0), (362_880f64).ln(), 1e-14);
    close(ln_gamma(3.0), 2f64.ln(), 1e-13);
    close(ln_gamma(100.5), 361.435_540_467_777_6, 1e-14);
    close(ln_gamma(0.1), 2.252_712_651_734_205_5, 1e-14);
    assert!(ln_gamma(1.0).abs() < 1e-14 && ln_gamma(2.0).abs() < 1e-14);
    assert!(ln_gamma(0.0).is_nan() && ln_gamma(-1.0).is_nan());
}

#[test]
fn incomplete_gamma_matches_closed_forms() {
    for &x in &[1e-3, 0.1, 0.5, 1.0, 2.5, 7.0, 30.0, 200.0] {
        // Q(1, x) = e^{-x}
        close(gamma_q(1.0, x), (-x).exp(), 1e-13);
        // Q(3, x) = e^{-x} (1 + x + x²/2)
        close(gamma_q(3.0, x), (-x).exp() * (1.0 + x + x * x / 2.0), 1e-12);
        // P + Q = 1
        assert!((gamma_p(2.5, x) + gamma_q(2.5, x) - 1.0).abs() < 1e-14);
    }
    // Q(½, x) = erfc(√x); erfc(2) = 0.004677734981047266 (Abramowitz & Stegun 7.1).
    close(gamma_q(0.5, 4.0), 0.004_677_734_981_047_266, 1e-13);
    // A far tail, where 1 − P would have no digits left: Q(1, 700) = e^{-700}.
    close(gamma_q(1.0, 700.0), (-700f64).exp(), 1e-12);
    assert!(gamma_q(0.0, 1.0).is_nan() && gamma_p(1.0, -1.0).is_nan());
}

#[test]
fn chi_squared_and_normal_match_tables() {
    close(chi_squared_sf(3.841_458_820_694_124, 1.0), 0.05, 1e-12);
    close(chi_squared_sf(5.991_464_547_107_979, 2.0), 0.05, 1e-12);
    close(chi_squared_sf(10.827_566_170_662_733, 1.0), 0.001, 1e-11);
    close(chi_squared_sf(18.307_038_053_275_146, 10.0), 0.05, 1e-12);
    close(normal_quantile(0.975), 1.959_963_984_540_054, 1e-14);
    close(normal_quantile(0.995), 2.575_829_303_548_901, 1e-14);
    close(normal_quantile(1e-10), -6.361_340_902_404_056, 1e-12);
    close(normal_cdf(1.96), 0.975_002_104_851_779_5, 1e-14);
    close(normal_cdf(-5.0), 2.866_515_718_791_939e-7, 1e-12);
}

fn arms(pairs: &[(&str, f64, u64)]) -> Vec<SrmArm> {
    pairs.iter().map(|(m, s, c)| SrmArm { member: (*m).into(), share: *s, count: *c }).collect()
}

#[test]
fn srm_hand_checked_p_values() {
    // 9100/900 against 90/10: χ² = 100²/9000 + 100²/1000 = 11.111…, df 1,
    // p = erfc(√(χ²/2)) = 0.000858120666…  → alert (< 0.001).
    let r = srm_test(&arms(&[("a", 90.0, 9100), ("b", 10.0, 900)]));
    close(r.chi_squared, 11.111_111_111_111_11, 1e-14);
    assert_eq!(r.df, 1);
    close(r.p_value, 0.000_858_120_666_393_674_7, 1e-10);
    assert!(r.alert);
    // 9050/950: χ² = 2.777…, p = 0.09558… → no alert.
    let r = srm_test(&arms(&[("a", 0.9, 9050), ("b", 0.1, 950)]));
    close(r.p_value, 0.095_580_704_545_629_4, 1e-10);
    assert!(!r.alert);
    // Three arms 50/30/20 observed 5100/2950/1950: χ² = 4.0833, df 2, p = e^{-χ²/2}.
    let r = srm_test(&arms(&[("a", 50.0, 5100), ("b", 30.0, 2950), ("c", 20.0, 1950)]));
    close(r.p_value, (-4.083_333_333_333_334f64 / 2.0).exp(), 1e-12);
    // A clear mismatch: 50/50 traffic on a 90/10 config.
    let r = srm_test(&arms(&[("a", 90.0, 5000), ("b", 10.0, 5000)]));
    assert!(r.alert && r.p_value < 1e-300, "{r:?}");
}

#[test]
fn srm_degenerate_inputs() {
    // A zero-share member without traffic takes no part.
    let r = srm_test(&arms(&[("a", 90.0, 900), ("b", 10.0, 100), ("old", 0.0, 0)]));
    assert_eq!((r.df, r.members.len()), (1, 2));
    assert!(r.p_value > 0.99);
    // Traffic to a zero-share member is a mismatch.
    let r = srm_test(&arms(&[("a", 1.0, 900), ("b", 0.0, 3)]));
    assert!(r.alert && r.p_value == 0.0 && r.chi_squared.is_infinite());
    // Nothing to test.
    assert!(!srm_test(&arms(&[("a", 1.0, 10)])).alert);
    assert!(!srm_test(&arms(&[("a", 0.5, 0), ("b", 0.5, 0)])).alert);
}

#[test]
fn confidence_sequence_shape_and_degenerate_cases() {
    let a = ArmSummary::bernoulli(500, 10_000);
    let b = ArmSummary::bernoulli(70, 1_000);
    let cs = confidence_sequence(&a, &b, 0.05, 0.02).unwrap();
    let fixed = fixed_interval(&a, &b, 0.05).unwrap();
    close(cs.estimate, 0.02, 1e-12);
    // The anytime-valid interval is wider than the one-look interval, and both are centred.
    assert!(cs.lower < fixed.lower && cs.upper > fixed.upper);
    assert!(((cs.lower + cs.upper) / 2.0 - 0.02).abs() < 1e-12);
    // Hand computation of the boundary.
    let v = 0.05 * 0.95 / 10_000.0 + 0.07 * 0.93 / 1_000.0;
    let t2 = 0.02f64 * 0.02;
    let half = (v * (v + t2) / t2 * (2.0 * 20f64.ln() + ((v + t2) / v).ln())).sqrt();
    close(cs.upper - cs.estimate, half, 1e-12);
    // Too little data: no interval.
    assert!(confidence_sequence(&ArmSummary::bernoulli(1, 29), &b, 0.05, 0.02).is_none());
    // Zero events in both arms: finite, positive width (continuity floor), shrinking with n.
    let w = |n| {
        let z = ArmSummary::bernoulli(0, n);
        let i = confidence_sequence(&z, &z, 0.05, 0.02).unwrap();
        assert!(i.upper > 0.0 && i.lower < 0.0 && i.upper.is_finite());
        i.upper - i.lower
    };
    assert!(w(100) > w(1000) && w(1000) > w(10_000));
    // Zero-variance real metric is floored too.
    let r = ArmSummary::real(50, 1.0, 0.0);
    assert!(r.variance > 0.0);
    assert!(confidence_sequence(&a, &b, 0.0, 0.02).is_none() && confidence_sequence(&a, &b, 0.05, 0.0).is_none());
}

fn member(name: &str, role: &str, share: f64, requests: u64, errors: u64, slow: u64) -> MemberStats {
    MemberStats { member: name.into(), role: role.into(), share, requests, errors, slow, ..Default::default() }
}

#[test]
fn verdicts() {
    let cfg = EvalConfig::default();
    let run = |members| evaluate("g", 0, 1, members, Some(1000.0), &cfg);
    // Clearly worse error rate.
    let r = run(vec![member("a", "champion", 0.5, 5000, 250, 250), member("b", "challenger", 0.5, 5000, 500, 250)]);
    assert_eq!(r.verdict, Verdict::ChallengerWorse);
    assert_eq!(r.challengers[0].comparisons[0].alpha, 0.025, "alpha split over 2 verdict metrics");
    // Clearly better error rate, slow rate equal.
    let r = run(vec![member("a", "champion", 0.5, 5000, 500, 250), member("b", "challenger", 0.5, 5000, 250, 250)]);
    assert_eq!(r.verdict, Verdict::ChallengerBetter);
    // Better on errors but worse on the slow guardrail: worse wins.
    let r = run(vec![member("a", "champion", 0.5, 5000, 500, 250), member("b", "challenger", 0.5, 5000, 250, 600)]);
    assert_eq!(r.verdict, Verdict::ChallengerWorse);
    // Same numbers: no difference.
    let r = run(vec![member("a", "champion", 0.5, 5000, 250, 250), member("b", "challenger", 0.5, 5000, 250, 250)]);
    assert_eq!(r.verdict, Verdict::NoDifferenceYet);
    // Worse, but split 50/50 traffic on a 90/10 config: SRM alert overrides.
    let r = run(vec![member("a", "champion", 0.9, 5000, 250, 250), member("b", "challenger", 0.1, 5000, 500, 250)]);
    assert_eq!(r.verdict, Verdict::SrmAlert);
    // A margin absorbs a small excess: 5.0 % vs 5.6 % at n = 50k is worse at margin 0, not at 1 point.
    let small =
        vec![member("a", "champion", 0.5, 50_000, 2500, 2500), member("b", "challenger", 0.5, 50_000, 2800, 2500)];
    assert_eq!(run(small.clone()).verdict, Verdict::ChallengerWorse);
    let lenient = EvalConfig { error_margin: 0.01, ..EvalConfig::default() };
    assert_eq!(evaluate("g", 0, 1, small, None, &lenient).verdict, Verdict::NoDifferenceYet);
    // Feedback primary (higher is better): thumbs-up 60 % vs 70 %.
    let fb = |mean: f64| {
        vec![FeedbackStats { metric: "thumbs_up".into(), samples: 2000, mean, variance: mean * (1.0 - mean) }]
    };
    let mut a = member("a", "champion", 0.5, 5000, 250, 250);
    let mut b = member("b", "challenger", 0.5, 5000, 250, 250);
    a.feedback = fb(0.6);
    b.feedback = fb(0.7);
    let cfg = EvalConfig { primary_metric: "thumbs_up".into(), ..EvalConfig::default() };
    let r = evaluate("g", 0, 1, vec![a, b], None, &cfg);
    assert_eq!(r.verdict, Verdict::ChallengerBetter);
    let c = r.challengers[0].comparisons.iter().find(|c| c.metric == "thumbs_up").unwrap();
    close(c.alpha, 0.05 / 3.0, 1e-12);
    assert!(c.lower.unwrap() > 0.0);
}

#[test]
fn promotion_decisions() {
    let cfg = EvalConfig::default();
    let rules = PromotionRules { min_samples_per_arm: 1000, min_duration_secs: 600, ..PromotionRules::default() };
    let hour = Duration::from_secs(3600);
    let worse = evaluate(
        "g",
        0,
        1,
        vec![member("a", "champion", 0.5, 5000, 250, 250), member("b", "challenger", 0.5, 5000, 500, 250)],
        None,
        &cfg,
    );
    match decide(&worse, &rules, hour) {
        Some(AutoAction::Rollback { member, reason }) => {
            assert_eq!(member, "b");
            assert!(reason.starts_with("error_rate worse"), "{reason}");
        }
        other => panic!("expected rollback, got {other:?}"),
    }
    // Too early, too few samples, or rollback disabled: nothing.
    assert_eq!(decide(&worse, &rules, Duration::from_secs(60)), None);
    let strict = PromotionRules { min_samples_per_arm: 10_000, ..rules.clone() };
    assert_eq!(decide(&worse, &strict, hour), None);
    assert_eq!(decide(&worse, &PromotionRules { auto_rollback: false, ..rules.clone() }, hour), None);
    let better = evaluate(
        "g",
        0,
        1,
        vec![member("a", "champion", 0.5, 5000, 500, 250), member("b", "challenger", 0.5, 5000, 250, 250)],
        None,
        &cfg,
    );
    assert_eq!(decide(&better, &rules, hour), Some(AutoAction::Promote { member: "b".into() }));
    assert_eq!(decide(&better, &PromotionRules { auto_promote: false, ..rules.clone() }, hour), None);
    // A positive slow margin demands shown non-inferiority, which equal slow rates give at 5 points.
    let margin = PromotionRules { slow_margin: 0.05, ..rules.clone() };
    assert_eq!(decide(&better, &margin, hour), Some(AutoAction::Promote { member: "b".into() }));
    let tight = PromotionRules { slow_margin: 0.001, ..rules.clone() };
    assert_eq!(decide(&better, &tight, hour), None);
    // Never on an SRM alert.
    let srm = evaluate(
        "g",
        0,
        1,
        vec![member("a", "champion", 0.9, 5000, 250, 250), member("b", "challenger", 0.1, 5000, 500, 250)],
        None,
        &cfg,
    );
    assert_eq!(srm.verdict, Verdict::SrmAlert);
    assert_eq!(decide(&srm, &rules, hour), None);
    // Rules parse with defaults and reject unknown fields.
    let parsed: PromotionRules = serde_json::from_str(r#"{"min_samples_per_arm": 50}"#).unwrap();
    assert_eq!(parsed.min_duration_secs, PromotionRules::default().min_duration_secs);
    assert!(serde_json::from_str::<PromotionRules>(r#"{"min_sample": 5}"#).is_err());
}
