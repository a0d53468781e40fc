//! Helpers shared by the analytics tests against the real ClickHouse server
//! (`analytics_clickhouse.rs`, `analytics_browser.rs`): a fresh migrated database per test,
//! inserts, and deterministic synthetic inference rows of one group.
#![allow(clippy::unwrap_used, clippy::manual_is_multiple_of)]

use clickhouse::Client;
use switchyard_records::rows::{seconds, InferenceRow};
use switchyard_records::{schema, ClickHouseOptions};
use switchyard_testkit::clickhouse::{ch_url, unique_db};

pub const GROUP: &str = "support-bot";

/// The trace of a few rows (`trace_id=` filter).
pub const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// 2023-11-14T22:13:20Z; every row lies within two hours after it.
pub const BASE_MS: i64 = 1_700_000_000_000;

pub async fn fresh_db(test: &str) -> (Client, String) {
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

pub async fn drop_db(client: &Client, db: &str) {
    client.query(&format!("DROP DATABASE IF EXISTS `{db}`")).execute().await.unwrap();
}

pub async fn insert<R: clickhouse::RowOwned + clickhouse::RowWrite>(client: &Client, table: &str, rows: &[R]) {
    let mut ins = client.insert::<R>(table).await.unwrap();
    for r in rows {
        ins.write(r).await.unwrap();
    }
    ins.end().await.unwrap();
}

/// Deterministic pseudo-random numbers (SplitMix64) so expected values are reproducible.
pub struct Mix(pub u64);
impl Mix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

pub fn row(i: u64, member: &str, role: &str, assignment: &str, mix: &mut Mix) -> InferenceRow {
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
