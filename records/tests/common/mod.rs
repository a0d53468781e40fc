//! Shared helpers for tests against the real ClickHouse server started by
//! `scripts/clickhouse.sh start` (URL in `SWITCHYARD_TEST_CLICKHOUSE_URL`).
#![allow(dead_code, clippy::unwrap_used, clippy::manual_is_multiple_of)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use switchyard_records::{
    AssignmentReason, Attributions, BatchOptions, ClickHouseOptions, ErrorClass, InferenceRecord, RecordsOptions,
    RetryOptions, Role, SpoolOptions,
};

// Not every test binary reads the single server's URL (cluster_schema.rs does not).
#[allow(unused_imports)]
pub use switchyard_testkit::clickhouse::{ch_url, unique_db};

pub fn ch_opts(url: &str, db: &str) -> ClickHouseOptions {
    ClickHouseOptions { url: url.into(), database: db.into(), user: "default".into(), password: None, cluster: None }
}

pub fn options(dir: &std::path::Path, ch: Option<ClickHouseOptions>) -> RecordsOptions {
    RecordsOptions {
        spool: SpoolOptions {
            dir: dir.join("spool"),
            fsync_interval_ms: 20,
            segment_bytes: 256 * 1024,
            ..SpoolOptions::default()
        },
        clickhouse: ch,
        batch: BatchOptions { max_rows: 500, max_bytes: 4 << 20, max_delay_ms: 50 },
        retry: RetryOptions { initial_backoff_ms: 50, max_backoff_ms: 1000, ..RetryOptions::default() },
        ..RecordsOptions::default()
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A record with every field set and varied by `i`.
pub fn record(group: &str, i: u64, ts_ms: i64) -> InferenceRecord {
    InferenceRecord {
        request_id: format!("req-{group}-{i:08}"),
        client_request_id: if i % 2 == 0 { format!("client-{i}") } else { String::new() },
        trace_id: if i % 3 == 0 { format!("{:032x}", u128::from(i) << 64 | 0xabc) } else { String::new() },
        timestamp_ms: ts_ms,
        tenant: "acme".into(),
        client: "web-app".into(),
        group: group.into(),
        member: if i % 10 == 0 { "llama-ft".into() } else { "gpt4o".into() },
        role: if i % 10 == 0 { Role::Challenger } else { Role::Champion },
        provider: "demo".into(),
        provider_kind: "mock".into(),
        upstream_model: "gpt-4o".into(),
        assignment: AssignmentReason::Sticky,
        sticky_key_hash: i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        weight: 0.9,
        config_version: 7,
        endpoint: "chat.completions".into(),
        stream: i % 2 == 0,
        status: if i % 17 == 0 { 502 } else { 200 },
        error_class: if i % 17 == 0 { ErrorClass::UpstreamStatus } else { ErrorClass::None },
        total_us: 1000 + i,
        upstream_us: 900 + i,
        overhead_us: 100,
        ttft_us: (i % 2 == 0).then_some(500 + i),
        input_tokens: Some(10 + i as u32),
        output_tokens: (i % 3 != 0).then_some(20 + i as u32),
        request_body: (i % 5 == 0).then(|| format!("{{\"n\":{i},\"q\":\"it's \\\"quoted\\\"\"}}")),
        response_body: None,
        attributions: (i % 4 == 0)
            .then(|| Attributions {
                names: vec!["age".into(), "income".into()],
                values: vec![0.25, -0.5],
                base_value: Some(0.1),
                method: "shap".into(),
                ..Attributions::default()
            })
            .into_iter()
            .collect(),
        ..InferenceRecord::default()
    }
}

/// Polls `f` until it returns true or `timeout` passes.
pub async fn wait_for<F, Fut>(timeout: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

pub async fn scalar(client: &clickhouse::Client, sql: &str) -> u64 {
    client.query(sql).fetch_one::<u64>().await.unwrap()
}

pub async fn drop_db(client: &clickhouse::Client, db: &str) {
    let _ = client.query(&format!("DROP DATABASE IF EXISTS `{db}`")).execute().await;
}
