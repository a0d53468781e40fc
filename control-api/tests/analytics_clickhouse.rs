//! The experiment queries against the real ClickHouse server (`scripts/clickhouse.sh start`,
//! URL in `SWITCHYARD_TEST_CLICKHOUSE_URL`; the tests fail, never skip, without it). Each test
//! gets its own database, inserts synthetic rows — some of them twice, in separate inserts, as
//! a spool replay would — and checks every number against values computed here. The
//! inference browser: `analytics_browser.rs`.
#![allow(clippy::unwrap_used, clippy::manual_is_multiple_of)]

use std::collections::{BTreeMap, HashSet};

use switchyard_control_api::analytics::{experiment, is_member_error, MemberView};
use switchyard_control_api::stats::{EvalConfig, Verdict};
use switchyard_records::group_table;
use switchyard_records::rows::{seconds, FeedbackRow, InferenceRow};

use crate::analytics_rows::{drop_db, fresh_db, insert, row, Mix, BASE_MS, GROUP};

/// ClickHouse's `quantileExact`: the element at index `floor(level · n)` of the sorted values.
fn quantile_exact(values: &[u64], level: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_unstable();
    v[((level * v.len() as f64) as usize).min(v.len() - 1)] as f64
}

#[tokio::test]
async fn experiment_numbers_match_the_rows() {
    let (client, db) = fresh_db("experiment").await;
    let table = group_table(GROUP);
    let mut mix = Mix(42);
    let mut rows = Vec::new();
    for i in 0..900u64 {
        let (member, role, assignment) = match mix.next() % 100 {
            0..=77 => ("gpt", "champion", "random"),
            78..=97 => ("llama", "challenger", "random"),
            _ => ("llama", "challenger", "pinned"), // excluded from the experiment
        };
        rows.push(row(i, member, role, assignment, &mut mix));
        if i % 10 == 0 {
            let mut shadow = row(100_000 + i, "claude", "shadow", "shadow", &mut mix);
            shadow.timestamp_ms = BASE_MS + i as i64 * 1_000;
            shadow.ts = seconds(shadow.timestamp_ms);
            rows.push(shadow);
        }
    }
    // A request outside the window.
    let mut late = row(5_000, "gpt", "champion", "random", &mut mix);
    late.timestamp_ms = BASE_MS + 10 * 3_600_000;
    late.ts = seconds(late.timestamp_ms);
    rows.push(late);
    insert(&client, &table, &rows).await;
    // A replay of every fourth row in a separate insert (a separate part, not yet merged).
    let replay: Vec<InferenceRow> = rows.iter().step_by(4).cloned().collect();
    insert(&client, &table, &replay).await;

    // Feedback: thumbs_up on two thirds of the requests; some events replayed; a request with
    // two distinct events (the later one wins), the later inserted first; feedback on pinned
    // and out-of-window requests.
    let mut feedback = Vec::new();
    let mut per_request: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (k, r) in rows.iter().enumerate().filter(|(k, _)| k % 3 != 0) {
        let value = (mix.next() % 2) as f64;
        let f = FeedbackRow {
            feedback_id: format!("fb-{k}"),
            request_id: r.request_id.clone(),
            ts: seconds(r.timestamp_ms + 60_000),
            timestamp_ms: r.timestamp_ms + 60_000,
            metric: "thumbs_up".into(),
            value,
            tenant: "t".into(),
            client: "c".into(),
        };
        per_request.entry(r.request_id.clone()).or_default().push(value);
        if k % 5 == 0 {
            let mut second = f.clone();
            // An earlier feedback id but a later time: time decides, not the id.
            second.feedback_id = format!("fb-{k}-a");
            second.timestamp_ms += 1_000;
            second.ts = seconds(second.timestamp_ms);
            second.value = 1.0 - value;
            per_request.entry(r.request_id.clone()).or_default().push(second.value);
            feedback.push(second);
        }
        feedback.push(f);
    }
    insert(&client, "feedback", &feedback).await;
    insert(&client, "feedback", &feedback.iter().step_by(3).cloned().collect::<Vec<_>>()).await;

    let (since, until) = (BASE_MS, BASE_MS + 3 * 3_600_000);
    let members = [
        MemberView { name: "gpt".into(), role: "champion".into(), share: 0.8 },
        MemberView { name: "llama".into(), role: "challenger".into(), share: 0.2 },
        MemberView { name: "claude".into(), role: "shadow".into(), share: 0.0 },
    ];
    let report = experiment(&client, &db, GROUP, &members, (since, until), None, &EvalConfig::default()).await.unwrap();

    // Expected values from the rows themselves: unique, in the window, not pinned.
    let mut seen = HashSet::new();
    let counted: Vec<&InferenceRow> = rows
        .iter()
        .filter(|r| r.timestamp_ms >= since && r.timestamp_ms < until && r.assignment != "pinned")
        .filter(|r| seen.insert(r.request_id.clone()))
        .collect();
    let champion_p95 =
        quantile_exact(&counted.iter().filter(|r| r.member == "gpt").map(|r| r.total_us).collect::<Vec<_>>(), 0.95);
    assert_eq!(report.slow_threshold_us, Some(champion_p95));
    let mut checked = 0;
    for m in &members {
        let mine: Vec<&&InferenceRow> = counted.iter().filter(|r| r.member == m.name).collect();
        let got = report.members.iter().find(|s| s.member == m.name).unwrap();
        let lat: Vec<u64> = mine.iter().map(|r| r.total_us).collect();
        let ttft: Vec<u64> = mine.iter().filter_map(|r| r.ttft_us).collect();
        assert_eq!(got.requests, mine.len() as u64, "{}", m.name);
        let errors = mine.iter().filter(|r| is_member_error(r.status, &r.error_class)).count() as u64;
        assert_eq!(got.errors, errors, "{}", m.name);
        assert!(errors > 0 && errors < got.requests, "{}: {errors} of {}", m.name, got.requests);
        assert!((got.error_rate - errors as f64 / mine.len() as f64).abs() < 1e-12);
        assert_eq!(got.slow, mine.iter().filter(|r| r.total_us as f64 > champion_p95).count() as u64);
        assert_eq!(got.latency_us.p50, quantile_exact(&lat, 0.5), "{}", m.name);
        assert_eq!(got.latency_us.p95, quantile_exact(&lat, 0.95));
        assert_eq!(got.latency_us.p99, quantile_exact(&lat, 0.99));
        assert_eq!(got.ttft_us.samples, ttft.len() as u64);
        assert_eq!(got.ttft_us.p50, Some(quantile_exact(&ttft, 0.5)));
        assert_eq!(got.ttft_us.p95, Some(quantile_exact(&ttft, 0.95)));
        assert_eq!(got.input_tokens, mine.iter().map(|r| u64::from(r.input_tokens.unwrap_or(0))).sum::<u64>());
        assert_eq!(got.output_tokens, mine.iter().map(|r| u64::from(r.output_tokens.unwrap_or(0))).sum::<u64>());
        // Feedback: one value per request (its last event's), then the member mean.
        let values: Vec<f64> =
            mine.iter().filter_map(|r| per_request.get(&r.request_id)).filter_map(|v| v.last().copied()).collect();
        let fb = got.feedback.iter().find(|f| f.metric == "thumbs_up").unwrap();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64;
        assert_eq!(fb.samples, values.len() as u64, "{}", m.name);
        assert!((fb.mean - mean).abs() < 1e-9 && (fb.variance - var).abs() < 1e-9, "{fb:?} vs {mean} {var}");
        checked += 1;
    }
    assert_eq!(checked, 3);
    // SRM over champion and challenger only; the 78/20 draw against 80/20 configured.
    assert_eq!(report.srm.members.len(), 2);
    assert_eq!(report.srm.df, 1);
    assert_eq!(report.challengers.len(), 1);
    assert_eq!(
        report.challengers[0].comparisons.iter().map(|c| c.metric.as_str()).collect::<Vec<_>>(),
        ["error_rate", "slow_rate", "thumbs_up"]
    );
    // The challenger is 60 ms slower on every request: its slow rate is worse with confidence.
    assert_eq!(report.verdict, Verdict::ChallengerWorse, "{:#?}", report.challengers);
    // Serialises for the API (snake_case verdict).
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["verdict"], "challenger_worse");
    drop_db(&client, &db).await;
}

#[tokio::test]
async fn a_group_without_records_reports_zeros() {
    let (client, db) = fresh_db("empty").await;
    let members = [
        MemberView { name: "a".into(), role: "champion".into(), share: 0.9 },
        MemberView { name: "b".into(), role: "challenger".into(), share: 0.1 },
    ];
    let report =
        experiment(&client, &db, "brand-new", &members, (0, BASE_MS), None, &EvalConfig::default()).await.unwrap();
    assert_eq!(report.verdict, Verdict::NoDifferenceYet);
    assert!(report.members.iter().all(|m| m.requests == 0));
    // An existing but empty table answers the same way.
    let report = experiment(&client, &db, GROUP, &members, (0, BASE_MS), None, &EvalConfig::default()).await.unwrap();
    assert_eq!(report.verdict, Verdict::NoDifferenceYet);
    assert!(report.members.iter().all(|m| m.requests == 0) && report.challengers.is_empty());
    drop_db(&client, &db).await;
}
