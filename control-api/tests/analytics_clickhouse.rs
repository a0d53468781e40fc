//! The analytics queries against the real ClickHouse server (`scripts/clickhouse.sh start`,
//! URL in `SWITCHYARD_TEST_CLICKHOUSE_URL`; the tests fail, never skip, without it). Each test
//! gets its own database, inserts synthetic rows — some of them twice, in separate inserts, as
//! a spool replay would — and checks every number against values computed here.
#![allow(clippy::unwrap_used, clippy::manual_is_multiple_of)]

use std::collections::{BTreeMap, HashSet};

use clickhouse::Client;
use switchyard_control_api::analytics::{
    experiment, get_inference, is_member_error, list_inferences, trace_id_filter, AnalyticsError, InferenceFilter,
    MemberView, StatusFilter,
};
use switchyard_control_api::stats::{EvalConfig, Verdict};
use switchyard_records::rows::{seconds, ExplanationRow, FeedbackRow, InferenceRow};
use switchyard_records::{group_table, schema, ClickHouseOptions};
use switchyard_testkit::clickhouse::{ch_url, unique_db};

const GROUP: &str = "support-bot";
/// The trace of a few rows (`trace_id=` filter).
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// 2023-11-14T22:13:20Z; every row lies within two hours after it.
const BASE_MS: i64 = 1_700_000_000_000;

async fn fresh_db(test: &str) -> (Client, String) {
    let db = unique_db(&format!("an_{test}"));
    let opts = ClickHouseOptions {
        url: ch_url(),
        database: db.clone(),
        user: "default".into(),
        password: None,
        cluster: None,
    };
    switchyard_records::migrate(&opts).await.unwrap();
    let client = schema::client(&opts);
    schema::ensure_group_table(&client, GROUP).await.unwrap();
    (client, db)
}

async fn drop_db(client: &Client, db: &str) {
    client.query(&format!("DROP DATABASE IF EXISTS `{db}`")).execute().await.unwrap();
}

async fn insert<R: clickhouse::RowOwned + clickhouse::RowWrite>(client: &Client, table: &str, rows: &[R]) {
    let mut ins = client.insert::<R>(table).await.unwrap();
    for r in rows {
        ins.write(r).await.unwrap();
    }
    ins.end().await.unwrap();
}

/// Deterministic pseudo-random numbers (SplitMix64) so expected values are reproducible.
struct Mix(u64);
impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn row(i: u64, member: &str, role: &str, assignment: &str, mix: &mut Mix) -> InferenceRow {
    // Several requests share a millisecond, so the cursor's tie-break on request_id matters.
    let timestamp_ms = BASE_MS + (i / 3) as i64 * 7_000;
    let (status, error_class) = match mix.next() % 20 {
        0 => (502, "upstream_connect"),
        1 => (200, "upstream_reset"),
        2 => (429, "upstream_status"),
        3 => (400, "upstream_status"),
        4 => (200, "client_aborted"),
        _ => (200, ""),
    };
    let stream = i % 2 == 0;
    InferenceRow {
        request_id: format!("req-{i:05}"),
        ts: seconds(timestamp_ms),
        timestamp_ms,
        tenant: "t".into(),
        client: "c".into(),
        group_name: GROUP.into(),
        member: member.into(),
        role: role.into(),
        provider: "p".into(),
        provider_kind: "mock".into(),
        upstream_model: "m".into(),
        assignment: assignment.into(),
        sticky_key_hash: 0,
        weight: match member {
            "gpt" => 0.8,
            "llama" => 0.2,
            _ => 0.0,
        },
        config_version: 3,
        endpoint: "chat.completions".into(),
        stream: u8::from(stream),
        status,
        error_class: error_class.into(),
        total_us: 10_000 + mix.next() % 90_000 + if member == "llama" { 60_000 } else { 0 },
        upstream_us: 9_000,
        overhead_us: 1_000,
        ttft_us: stream.then(|| 1_000 + mix.next() % 9_000),
        input_tokens: Some((mix.next() % 100) as u32),
        output_tokens: (i % 5 != 0).then(|| (mix.next() % 300) as u32),
        request_body: (i == 7).then(|| "{\"q\":1}".to_owned()),
        response_body: None,
        attribution_method: String::new(),
        attribution_base_value: None,
        attribution_names: Vec::new(),
        attribution_values: Vec::new(),
        client_request_id: if i % 50 == 0 { "client-batch-7".into() } else { String::new() },
        logprob_tokens: None,
        logprob_mean: None,
        logprob_min: None,
        perplexity: None,
        trace_id: if i % 40 == 7 { TRACE.into() } else { String::new() },
        cost: None,
        currency: String::new(),
    }
}

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
async fn browser_pages_filters_and_detail() {
    let (client, db) = fresh_db("browser").await;
    let table = group_table(GROUP);
    let mut mix = Mix(7);
    let rows: Vec<InferenceRow> = (0..203u64)
        .map(|i| {
            if i % 4 == 0 {
                row(i, "llama", "challenger", "random", &mut mix)
            } else {
                row(i, "gpt", "champion", "random", &mut mix)
            }
        })
        .collect();
    insert(&client, &table, &rows).await;
    insert(&client, &table, &rows.iter().step_by(2).cloned().collect::<Vec<_>>()).await;
    // Another group's rows show up only in the unfiltered listing (Merge table).
    schema::ensure_group_table(&client, "other").await.unwrap();
    let mut other = row(9_999, "x", "champion", "random", &mut mix);
    other.group_name = "other".into();
    insert(&client, &group_table("other"), &[other]).await;

    let page_all = |filter: InferenceFilter, limit: u32| {
        let (client, db) = (client.clone(), db.clone());
        async move {
            let mut items = Vec::new();
            let mut cursor: Option<String> = None;
            let mut pages = 0;
            loop {
                let page = list_inferences(&client, &db, &filter, cursor.as_deref(), limit).await.unwrap();
                assert!(page.items.len() <= limit as usize);
                items.extend(page.items);
                pages += 1;
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            (items, pages)
        }
    };
    let group = InferenceFilter { group: Some(GROUP.into()), ..Default::default() };
    let (items, pages) = page_all(group.clone(), 7).await;
    assert_eq!(pages, 203usize.div_ceil(7));
    let ids: Vec<&str> = items.iter().map(|i| i.request_id.as_str()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!((ids.len(), unique.len()), (203, 203), "no item twice, none missing");
    let mut expected: Vec<(i64, String)> = rows.iter().map(|r| (r.timestamp_ms, r.request_id.clone())).collect();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(items.iter().map(|i| (i.timestamp_ms, i.request_id.clone())).collect::<Vec<_>>(), expected);

    // Rows inserted while paging (newer) do not disturb the pages after the cursor.
    let first = list_inferences(&client, &db, &group, None, 50).await.unwrap();
    let mut newer = row(777_777, "gpt", "champion", "random", &mut mix);
    newer.timestamp_ms = BASE_MS + 86_400_000 / 2;
    newer.ts = seconds(newer.timestamp_ms);
    insert(&client, &table, &[newer]).await;
    let second = list_inferences(&client, &db, &group, first.next_cursor.as_deref(), 50).await.unwrap();
    assert_eq!(second.items.first().map(|i| &i.request_id), Some(&expected[50].1));

    // Filters.
    let (llama, _) = page_all(InferenceFilter { member: Some("llama".into()), ..group.clone() }, 1000).await;
    assert_eq!(llama.len(), rows.iter().filter(|r| r.member == "llama").count());
    let (errors, _) = page_all(InferenceFilter { status: Some(StatusFilter::Error), ..group.clone() }, 1000).await;
    assert_eq!(errors.len(), rows.iter().filter(|r| is_member_error(r.status, &r.error_class)).count());
    let (fours, _) =
        page_all(InferenceFilter { status: Some(StatusFilter::parse("4xx").unwrap()), ..group.clone() }, 9).await;
    assert_eq!(fours.len(), rows.iter().filter(|r| (400..500).contains(&r.status)).count());
    let window =
        InferenceFilter { since_ms: Some(BASE_MS + 70_000), until_ms: Some(BASE_MS + 140_000), ..group.clone() };
    let (windowed, _) = page_all(window, 4).await;
    assert_eq!(
        windowed.len(),
        rows.iter().filter(|r| (BASE_MS + 70_000..BASE_MS + 140_000).contains(&r.timestamp_ms)).count()
    );
    let (tagged, _) =
        page_all(InferenceFilter { client_request_id: Some("client-batch-7".into()), ..group.clone() }, 2).await;
    let want: HashSet<&str> =
        rows.iter().filter(|r| r.client_request_id == "client-batch-7").map(|r| r.request_id.as_str()).collect();
    assert!(!want.is_empty());
    assert_eq!(tagged.iter().map(|i| i.request_id.as_str()).collect::<HashSet<_>>(), want);
    assert!(tagged.iter().all(|i| i.client_request_id == "client-batch-7"));
    let (traced, _) = page_all(InferenceFilter { trace_id: Some(TRACE.into()), ..group.clone() }, 2).await;
    let want: HashSet<&str> = rows.iter().filter(|r| r.trace_id == TRACE).map(|r| r.request_id.as_str()).collect();
    assert!(want.len() > 2, "several pages of one trace");
    assert_eq!(traced.iter().map(|i| i.request_id.as_str()).collect::<HashSet<_>>(), want);
    assert!(traced.iter().all(|i| i.trace_id == TRACE));
    assert_eq!(trace_id_filter(&TRACE.to_ascii_uppercase()).unwrap(), TRACE, "upper-case hex is accepted");
    for bad in ["", "abc", "zz000000000000000000000000000000", &format!("{TRACE}0")] {
        match trace_id_filter(bad) {
            Err(e @ AnalyticsError::InvalidInput { .. }) => assert_eq!(e.http_status(), 400),
            other => panic!("{bad:?}: expected InvalidInput, got {other:?}"),
        }
    }
    let (everything, _) = page_all(InferenceFilter::default(), 100).await;
    assert_eq!(everything.len(), 203 + 1 + 1, "both groups via the Merge table, the newer row included");

    // Detail with deduplicated feedback and attributions.
    let target = &rows[7];
    let fb = |id: &str, v: f64| FeedbackRow {
        feedback_id: id.into(),
        request_id: target.request_id.clone(),
        ts: target.ts,
        timestamp_ms: target.timestamp_ms + 5,
        metric: "resolved".into(),
        value: v,
        tenant: String::new(),
        client: String::new(),
    };
    insert(&client, "feedback", &[fb("f1", 1.0), fb("f2", 0.0)]).await;
    insert(&client, "feedback", &[fb("f1", 1.0)]).await;
    let expl = |ordinal: u32, feature: &str, value: f64| ExplanationRow {
        request_id: target.request_id.clone(),
        ts: target.ts,
        timestamp_ms: target.timestamp_ms,
        group_name: GROUP.into(),
        member: target.member.clone(),
        config_version: 3,
        source: "explainer".into(),
        method: "shap".into(),
        instance: 0,
        output: 0,
        output_name: String::new(),
        ordinal,
        feature: feature.into(),
        value,
        base_value: Some(0.5),
        output_value: Some(0.625),
        confidence: None,
        coverage: None,
        explainer_latency_us: Some(900),
    };
    let explanations = [expl(0, "age", 0.25), expl(1, "income", -0.125)];
    insert(&client, "explanations", &explanations).await;
    insert(&client, "explanations", &explanations).await;
    let detail = get_inference(&client, &db, &target.request_id, None).await.unwrap().unwrap();
    assert_eq!(detail.record.request_id, target.request_id);
    assert_eq!(detail.record.status, target.status);
    assert_eq!(detail.record.ttft_us, target.ttft_us);
    assert_eq!(detail.record.trace_id, target.trace_id);
    assert_eq!(detail.request_body.as_deref(), Some("{\"q\":1}"));
    assert_eq!(
        detail.feedback.iter().map(|f| (f.feedback_id.as_str(), f.value)).collect::<Vec<_>>(),
        [("f1", 1.0), ("f2", 0.0)]
    );
    assert_eq!(detail.attributions.len(), 1, "one set: instance 0, output 0");
    let a = &detail.attributions[0];
    assert_eq!((a.names.clone(), a.values.clone()), (vec!["age".to_owned(), "income".to_owned()], vec![0.25, -0.125]));
    assert_eq!((a.base_value, a.output_value, a.explainer_latency_us), (Some(0.5), Some(0.625), Some(900)));
    assert!(get_inference(&client, &db, "no-such-request", None).await.unwrap().is_none());

    // Bad input and an unreachable server are told apart.
    match list_inferences(&client, &db, &group, Some("%%%"), 10).await {
        Err(e @ AnalyticsError::InvalidInput { .. }) => assert_eq!(e.http_status(), 400),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
    // A bad cursor is a 400 also for a group that has no table yet (it was an empty page).
    let no_table = InferenceFilter { group: Some("no-records-yet".into()), ..InferenceFilter::default() };
    match list_inferences(&client, &db, &no_table, Some("%%%"), 10).await {
        Err(e @ AnalyticsError::InvalidInput { field: "cursor", .. }) => assert_eq!(e.http_status(), 400),
        other => panic!("expected InvalidInput for the cursor, got {other:?}"),
    }
    let dead = Client::default().with_url("http://127.0.0.1:1").with_validation(false);
    match list_inferences(&dead, &db, &group, None, 10).await {
        Err(e @ AnalyticsError::Unavailable { .. }) => {
            assert_eq!(e.http_status(), 503);
            assert!(!e.to_string().contains("127.0.0.1"), "no addresses in messages: {e}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
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
