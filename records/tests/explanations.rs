//! The `explanations` table (SPEC §9) on the real ClickHouse server: one row per
//! (request, instance, output, feature) from inline sets and from explainer answers
//! (their own spool entry kind), the upgrade of a first-layout table, the LLM logprob
//! columns, and retention of a group's explanation partitions.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::Duration;

use common::*;
use prometheus::Registry;
use switchyard_records::{schema, Attributions, ExplanationRecord, GroupSpec, LogprobSummary, Outcome};

fn set(instance: u32, output: u32, names: &[&str], values: &[f64]) -> Attributions {
    Attributions {
        instance,
        output,
        names: names.iter().map(|s| (*s).to_owned()).collect(),
        values: values.to_vec(),
        base_value: Some(0.5),
        output_value: Some(0.5 + values.iter().sum::<f64>()),
        method: "shap".into(),
        ..Attributions::default()
    }
}

#[derive(clickhouse::Row, serde::Deserialize, Debug, PartialEq)]
struct Row {
    request_id: String,
    source: String,
    instance: u32,
    output: u32,
    feature: String,
    value: f64,
    output_value: Option<f64>,
    explainer_latency_us: Option<u64>,
    config_version: u64,
}

#[tokio::test]
async fn inline_and_explainer_sets_become_long_rows() {
    let (url, db) = (ch_url(), unique_db("xrows"));
    let dir = tempfile::tempdir().unwrap();
    let (queue, handle) =
        switchyard_records::start(options(dir.path(), Some(ch_opts(&url, &db))), &Registry::new()).unwrap();
    queue.provision_groups(&[GroupSpec { name: "tab".into(), retention_days: Some(30) }]);
    let now = now_ms();
    // Inline: 3 instances x 2 outputs x 2 features; an LLM record with a logprob summary.
    let mut r = record("tab", 1, now);
    r.attributions =
        (0..3).flat_map(|i| (0..2).map(move |o| set(i, o, &["a", "b"], &[f64::from(i), f64::from(o)]))).collect();
    let mut llm = record("tab", 2, now);
    llm.attributions.clear();
    llm.logprobs = Some(LogprobSummary { tokens: 4, mean: -0.5, min: -1.25, perplexity: 0.5f64.exp() });
    assert!(queue.offer(r.clone()));
    assert!(queue.offer(llm.clone()));
    // An explainer's answer for the same request, later and on its own.
    let x = ExplanationRecord {
        request_id: r.request_id.clone(),
        timestamp_ms: now,
        group: "tab".into(),
        member: "gbr".into(),
        config_version: 8,
        latency_us: 1234,
        attributions: vec![set(0, 0, &["a", "b", "c"], &[0.1, 0.2, 0.3])],
    };
    assert!(queue.offer_explanation(x));
    let metrics = queue.metrics().clone();
    drop(queue);
    handle.close(Duration::from_secs(30));
    assert_eq!(metrics.get(Outcome::Shipped), 3, "two records and one explanation");
    let client = schema::client(&ch_opts(&url, &db));
    let rows: Vec<Row> = client
        .query(
            "SELECT request_id, source, instance, output, feature, value, output_value, explainer_latency_us, \
             config_version FROM explanations FINAL ORDER BY source, instance, output, ordinal",
        )
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(rows.len(), 3 + 3 * 2 * 2);
    let explainer: Vec<&Row> = rows.iter().filter(|r| r.source == "explainer").collect();
    assert_eq!(explainer.iter().map(|r| r.feature.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!((explainer[2].explainer_latency_us, explainer[2].config_version), (Some(1234), 8));
    let inline: Vec<&Row> = rows.iter().filter(|r| r.source == "inline").collect();
    let cells: Vec<(u32, u32, &str, f64)> =
        inline.iter().map(|r| (r.instance, r.output, r.feature.as_str(), r.value)).collect();
    assert_eq!(&cells[..4], [(0, 0, "a", 0.0), (0, 0, "b", 0.0), (0, 1, "a", 0.0), (0, 1, "b", 1.0)]);
    assert_eq!(cells[11], (2, 1, "b", 1.0));
    assert!(inline.iter().all(|r| r.explainer_latency_us.is_none() && r.config_version == 7));
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Lp {
        logprob_tokens: Option<u32>,
        logprob_mean: Option<f64>,
        logprob_min: Option<f64>,
        perplexity: Option<f64>,
    }
    let lp: Lp = client
        .query("SELECT logprob_tokens, logprob_mean, logprob_min, perplexity FROM inferences WHERE request_id = ?")
        .bind(&llm.request_id)
        .fetch_one()
        .await
        .unwrap();
    assert_eq!((lp.logprob_tokens, lp.logprob_mean, lp.logprob_min), (Some(4), Some(-0.5), Some(-1.25)));
    assert!((lp.perplexity.unwrap() - 0.5f64.exp()).abs() < 1e-12);
    drop_db(&client, &db).await;
}

#[tokio::test]
async fn a_first_layout_explanations_table_is_upgraded_without_loss() {
    let (url, db) = (ch_url(), unique_db("xupgrade"));
    let root = schema::client(&ch_opts(&url, &db)).with_database("default");
    root.query(&format!("CREATE DATABASE `{db}`")).execute().await.unwrap();
    // The layout before issue 14, with rows; and an older inference table.
    root.query(&format!(
        "CREATE TABLE `{db}`.explanations (request_id String, ts DateTime, timestamp_ms Int64, group_name String, \
         member String, method String, ordinal UInt32, feature String, value Float64, base_value Nullable(Float64)) \
         ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMMDD(ts) ORDER BY (request_id, ordinal)"
    ))
    .execute()
    .await
    .unwrap();
    root.query(&format!(
        "INSERT INTO `{db}`.explanations VALUES ('r1', toDateTime('2024-05-01 10:00:00'), 1, 'g', 'm', 'shap', 0, \
         'age', 0.25, 0.1), ('r1', toDateTime('2024-05-01 10:00:00'), 1, 'g', 'm', 'shap', 1, 'income', -0.5, 0.1)"
    ))
    .execute()
    .await
    .unwrap();
    let report = schema::migrate(&ch_opts(&url, &db)).await.unwrap();
    assert!(!report.applied.is_empty());
    let client = schema::client(&ch_opts(&url, &db));
    let moved: Vec<(String, u32, String, f64)> = client
        .query("SELECT source, instance, feature, value FROM explanations FINAL ORDER BY ordinal")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(moved, [("inline".into(), 0, "age".into(), 0.25), ("inline".into(), 0, "income".into(), -0.5)]);
    assert_eq!(
        scalar(
            &client,
            "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'explanations_v1'"
        )
        .await,
        0
    );
    // Idempotent.
    assert_eq!(schema::migrate(&ch_opts(&url, &db)).await.unwrap().applied, Vec::<u32>::new());
    assert_eq!(scalar(&client, "SELECT count() FROM explanations").await, 2);
    drop_db(&client, &db).await;
}

#[tokio::test]
async fn retention_drops_a_groups_old_explanations_only() {
    let (url, db) = (ch_url(), unique_db("xretain"));
    schema::migrate(&ch_opts(&url, &db)).await.unwrap();
    let client = schema::client(&ch_opts(&url, &db));
    for (group, day) in [("a", "2024-05-01"), ("a", "2024-06-01"), ("b", "2024-05-01")] {
        client
            .query(&format!(
                "INSERT INTO explanations (request_id, ts, timestamp_ms, group_name, member, feature, value) VALUES \
                 ('r-{group}-{day}', toDateTime('{day} 10:00:00'), 0, '{group}', 'm', 'x', 1)"
            ))
            .execute()
            .await
            .unwrap();
    }
    // "Now" is 2024-06-05; group a keeps 10 days: its May row goes, June stays, b untouched.
    let now_ms = 1_717_545_600_000;
    switchyard_records::drop_expired_partitions(&client, &db, "a", 10, now_ms).await.unwrap();
    let left: Vec<String> =
        client.query("SELECT request_id FROM explanations ORDER BY request_id").fetch_all().await.unwrap();
    assert_eq!(left, ["r-a-2024-06-01", "r-b-2024-05-01"]);
    drop_db(&client, &db).await;
}
