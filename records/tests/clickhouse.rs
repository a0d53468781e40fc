//! Against the real ClickHouse server: migrations, row parity, exactly-once counting of
//! replays, dead-lettering and retention. Each test uses its own database.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::Duration;

use common::*;
use prometheus::Registry;
use serde::Deserialize;
use switchyard_records::{drop_expired_partitions, group_table, migrate, schema, FeedbackRecord, GroupSpec, Outcome};

#[derive(Debug, clickhouse::Row, Deserialize)]
struct ParityRow {
    request_id: String,
    timestamp_ms: i64,
    group_name: String,
    member: String,
    role: String,
    status: u16,
    stream: u8,
    error_class: String,
    ttft_us: Option<u64>,
    input_tokens: Option<u32>,
    output_tokens: Option<u32>,
    request_body: Option<String>,
    sticky_key_hash: u64,
    attribution_names: Vec<String>,
    attribution_values: Vec<f64>,
    client_request_id: String,
    trace_id: String,
}

#[tokio::test]
async fn migrate_is_idempotent_and_completes_a_partial_run() {
    let url = ch_url();
    let db = unique_db("migrate");
    let opts = ch_opts(&url, &db);
    let client = schema::client(&opts).with_database("default");
    // A partly applied earlier run: the database and one table exist, nothing recorded.
    client.query(&format!("CREATE DATABASE `{db}`")).execute().await.unwrap();
    client
        .query(&format!(
            "CREATE TABLE `{db}`.feedback (feedback_id String, request_id String, ts DateTime, \
             timestamp_ms Int64, metric String, value Float64, tenant String, client String) \
             ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMMDD(ts) \
             ORDER BY (request_id, metric, feedback_id)"
        ))
        .execute()
        .await
        .unwrap();
    let first = migrate(&opts).await.unwrap();
    assert_eq!(first.applied, vec![1, 2, 3, 4]);
    assert!(!first.server_version.is_empty());
    let second = migrate(&opts).await.unwrap();
    assert!(second.applied.is_empty(), "second run must be a no-op");
    let tables: Vec<String> = client
        .query("SELECT name FROM system.tables WHERE database = ? ORDER BY name")
        .bind(db.as_str())
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(tables, ["control_audit", "explanations", "feedback", "inferences", "schema_migrations"]);
    drop_db(&client, &db).await;
}

async fn column_count(root: &clickhouse::Client, db: &str, table: &str, column: &str) -> u64 {
    root.query("SELECT count() FROM system.columns WHERE database = ? AND table = ? AND name = ?")
        .bind(db)
        .bind(table)
        .bind(column)
        .fetch_one::<u64>()
        .await
        .unwrap()
}

/// Turns `table` and the `inferences` Merge table back into the shape an older version
/// created: without `dropped` (the columns added since, newest last).
async fn downgrade(client: &clickhouse::Client, db: &str, table: &str, dropped: &[&str]) {
    for column in dropped {
        client.query(&format!("ALTER TABLE `{table}` DROP COLUMN {column}")).execute().await.unwrap();
    }
    client.query("DROP TABLE IF EXISTS inferences").execute().await.unwrap();
    client
        .query(&format!("CREATE TABLE inferences AS `{table}` ENGINE = Merge('{db}', '^inferences_')"))
        .execute()
        .await
        .unwrap();
}

/// An older schema (`dropped` columns missing from a group table and the Merge table, and
/// from a second group table downgraded after `migrate` ran, which only the shipper's
/// `ensure_group_table` can fix) is brought up to date, and the new columns are written
/// and read back through the Merge table.
async fn upgrade_from(name: &str, dropped: &[&str]) {
    let url = ch_url();
    let db = unique_db(name);
    let opts = ch_opts(&url, &db);
    let root = schema::client(&opts).with_database("default");
    migrate(&opts).await.unwrap();
    let client = schema::client(&opts);
    let table = schema::ensure_group_table(&client, "old-group").await.unwrap();
    downgrade(&client, &db, &table, dropped).await;
    for column in dropped {
        assert_eq!(column_count(&root, &db, &table, column).await, 0);
        assert_eq!(column_count(&root, &db, "inferences", column).await, 0);
    }

    let report = migrate(&opts).await.unwrap();
    assert!(report.applied.is_empty(), "no numbered migration was pending");
    for column in dropped {
        assert_eq!(column_count(&root, &db, &table, column).await, 1, "{table}.{column} added");
        assert_eq!(column_count(&root, &db, "inferences", column).await, 1, "Merge table rebuilt with {column}");
    }
    migrate(&opts).await.unwrap(); // idempotent

    // A table an older binary created after this migrate ran: the shipper upgrades it.
    let late = schema::ensure_group_table(&client, "late-group").await.unwrap();
    for column in dropped {
        client.query(&format!("ALTER TABLE `{late}` DROP COLUMN {column}")).execute().await.unwrap();
    }

    let dir = tempfile::tempdir().unwrap();
    let (queue, handle) = switchyard_records::start(options(dir.path(), Some(opts.clone())), &Registry::new()).unwrap();
    for (i, group) in ["old-group", "late-group"].into_iter().enumerate() {
        let mut r = record(group, i as u64, now_ms());
        r.client_request_id = format!("client-upgrade-{i}");
        r.trace_id = format!("{:032x}", 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736_u128 + i as u128);
        assert!(queue.offer(r));
    }
    drop(queue);
    handle.close(Duration::from_secs(30));
    #[derive(Debug, PartialEq, clickhouse::Row, Deserialize)]
    struct Ids {
        group_name: String,
        client_request_id: String,
        trace_id: String,
    }
    let got: Vec<Ids> = client
        .query("SELECT group_name, client_request_id, trace_id FROM inferences ORDER BY group_name DESC")
        .fetch_all()
        .await
        .unwrap();
    let want = |group: &str, i: u128| Ids {
        group_name: group.into(),
        client_request_id: format!("client-upgrade-{i}"),
        trace_id: format!("{:032x}", 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736_u128 + i),
    };
    assert_eq!(got, vec![want("old-group", 0), want("late-group", 1)]);
    drop_db(&root, &db).await;
}

#[tokio::test]
async fn migrate_adds_new_columns_to_tables_of_an_older_version() {
    // The first released shape: neither client_request_id nor trace_id.
    upgrade_from("upgrade", &["trace_id", "client_request_id"]).await;
}

#[tokio::test]
async fn migrate_adds_trace_id_to_tables_of_the_previous_version() {
    // The shape before tracing: client_request_id present, trace_id missing.
    upgrade_from("upgrade_trace", &["trace_id"]).await;
}

#[tokio::test]
async fn row_parity_feedback_and_explanations() {
    let url = ch_url();
    let db = unique_db("parity");
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new();
    let (queue, handle) = switchyard_records::start(options(dir.path(), Some(ch_opts(&url, &db))), &registry).unwrap();
    queue.provision_groups(&[GroupSpec { name: "support-bot".into(), retention_days: Some(30) }]);
    let now = now_ms();
    let mut sent = Vec::new();
    for i in 0..600u64 {
        let group = if i % 3 == 0 { "demo" } else { "support-bot" };
        let r = record(group, i, now + i as i64);
        assert!(queue.offer(r.clone()));
        sent.push(r);
    }
    for i in 0..50u64 {
        assert!(queue.offer_feedback(FeedbackRecord {
            request_id: format!("req-demo-{:08}", i * 3),
            timestamp_ms: now,
            metric: "thumbs_up".into(),
            value: (i % 2) as f64,
            ..FeedbackRecord::default()
        }));
    }
    let metrics = queue.metrics().clone();
    drop(queue);
    handle.close(Duration::from_secs(30));
    assert_eq!(metrics.get(Outcome::Enqueued), 650);
    assert_eq!(metrics.get(Outcome::Spooled), 650);
    assert_eq!(metrics.get(Outcome::Shipped), 650);
    assert_eq!(metrics.get(Outcome::Dropped), 0);

    let client = schema::client(&ch_opts(&url, &db));
    let mut got: Vec<ParityRow> = client
        .query(
            "SELECT request_id, timestamp_ms, group_name, member, role, status, stream, \
             error_class, ttft_us, input_tokens, output_tokens, request_body, sticky_key_hash, \
             attribution_names, attribution_values, client_request_id, trace_id FROM inferences ORDER BY request_id",
        )
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(got.len(), sent.len(), "exactly N rows");
    sent.sort_by(|a, b| a.request_id.cmp(&b.request_id));
    got.sort_by(|a, b| a.request_id.cmp(&b.request_id));
    for (r, row) in sent.iter().zip(&got) {
        assert_eq!(row.request_id, r.request_id);
        assert_eq!(row.timestamp_ms, r.timestamp_ms);
        assert_eq!(row.group_name, r.group);
        assert_eq!(row.member, r.member);
        assert_eq!(row.role, r.role.as_str());
        assert_eq!(row.status, r.status);
        assert_eq!(row.stream, u8::from(r.stream));
        assert_eq!(row.error_class, r.error_class.as_str());
        assert_eq!(row.ttft_us, r.ttft_us);
        assert_eq!(row.input_tokens, r.input_tokens);
        assert_eq!(row.output_tokens, r.output_tokens);
        assert_eq!(row.request_body, r.request_body);
        assert_eq!(row.sticky_key_hash, r.sticky_key_hash);
        let attr = r.attributions.first().cloned().unwrap_or_default();
        assert_eq!(row.attribution_names, attr.names);
        assert_eq!(row.attribution_values, attr.values);
        assert_eq!(row.client_request_id, r.client_request_id);
        assert_eq!(row.trace_id, r.trace_id);
    }
    let per_table = |g: &str| format!("SELECT count() FROM {}", group_table(g));
    assert_eq!(scalar(&client, &per_table("demo")).await, 200);
    assert_eq!(scalar(&client, &per_table("support-bot")).await, 400);
    assert_eq!(scalar(&client, "SELECT count() FROM feedback").await, 50);
    // 150 records with two attributions each.
    assert_eq!(scalar(&client, "SELECT count() FROM explanations").await, 300);
    drop_db(&client, &db).await;
}

#[tokio::test]
async fn replayed_records_count_once() {
    let url = ch_url();
    let db = unique_db("replay");
    let dir = tempfile::tempdir().unwrap();
    let now = now_ms();
    // Ship the same 300 records twice: the second time by deleting the ack ledger, as if
    // a crash had happened between the insert and the ack.
    for round in 0..2 {
        let (queue, handle) =
            switchyard_records::start(options(dir.path(), Some(ch_opts(&url, &db))), &Registry::new()).unwrap();
        if round == 0 {
            for i in 0..300u64 {
                assert!(queue.offer(record("dup", i, now + i as i64)));
            }
        }
        drop(queue);
        handle.close(Duration::from_secs(30));
        if round == 0 {
            // Keep the segments (replay them) by forgetting the ack.
            let spool = dir.path().join("spool");
            std::fs::remove_file(spool.join("acked")).unwrap();
        }
    }
    let client = schema::client(&ch_opts(&url, &db));
    let t = group_table("dup");
    let raw = scalar(&client, &format!("SELECT count() FROM {t}")).await;
    assert!(raw >= 300, "raw rows {raw}");
    // Every analytics query form counts each record once.
    assert_eq!(scalar(&client, &format!("SELECT count() FROM {t} FINAL")).await, 300);
    assert_eq!(scalar(&client, "SELECT uniqExact(request_id) FROM inferences").await, 300);
    let per_member: Vec<(String, u64)> = client
        .query("SELECT member, uniqExact(request_id) FROM inferences GROUP BY member ORDER BY member")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(per_member, [("gpt4o".to_string(), 270), ("llama-ft".to_string(), 30)]);
    drop_db(&client, &db).await;
}

#[tokio::test]
async fn malformed_batches_go_to_the_dead_letter_file() {
    let url = ch_url();
    let db = unique_db("deadletter");
    let opts = ch_opts(&url, &db);
    migrate(&opts).await.unwrap();
    let client = schema::client(&opts);
    // A table of the right name but the wrong shape: ClickHouse rejects the insert.
    client
        .query(&format!(
            "CREATE TABLE {} (request_id String, ts DateTime) \
             ENGINE = MergeTree() PARTITION BY toYYYYMMDD(ts) ORDER BY request_id",
            group_table("broken")
        ))
        .execute()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new();
    let (queue, handle) = switchyard_records::start(options(dir.path(), Some(opts.clone())), &registry).unwrap();
    let now = now_ms();
    for i in 0..20u64 {
        assert!(queue.offer(record("broken", i, now)));
        assert!(queue.offer(record("fine", i, now)));
    }
    let metrics = queue.metrics().clone();
    drop(queue);
    handle.close(Duration::from_secs(30));
    assert_eq!(metrics.get(Outcome::DeadLetter), 20);
    assert_eq!(metrics.get(Outcome::Shipped), 20);
    let dead = std::fs::read_to_string(dir.path().join("spool/dead-letter.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = dead.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 20);
    for line in &lines {
        assert_eq!(line["table"], group_table("broken"));
        assert!(line["error"].as_str().unwrap().contains("Code:"), "{line}");
        assert!(line["entry"]["i"]["request_id"].as_str().unwrap().starts_with("req-broken-"));
    }
    assert_eq!(scalar(&client, &format!("SELECT count() FROM {}", group_table("fine"))).await, 20);
    drop_db(&client, &db).await;
}

#[tokio::test]
async fn janitor_drops_only_expired_daily_partitions() {
    let url = ch_url();
    let db = unique_db("retention");
    let opts = ch_opts(&url, &db);
    let dir = tempfile::tempdir().unwrap();
    let (queue, handle) = switchyard_records::start(options(dir.path(), Some(opts.clone())), &Registry::new()).unwrap();
    let now = now_ms();
    let day = 86_400_000;
    for (i, age_days) in [0i64, 1, 29, 31, 40, 40].iter().enumerate() {
        assert!(queue.offer(record("keep", i as u64, now - age_days * day)));
    }
    drop(queue);
    handle.close(Duration::from_secs(30));
    let client = schema::client(&opts);
    let dropped = drop_expired_partitions(&client, &db, "keep", 30, now).await.unwrap();
    assert_eq!(dropped.len(), 2, "the 31- and 40-day-old partitions: {dropped:?}");
    let t = group_table("keep");
    assert_eq!(scalar(&client, &format!("SELECT count() FROM {t}")).await, 3);
    // Idempotent.
    assert!(drop_expired_partitions(&client, &db, "keep", 30, now).await.unwrap().is_empty());
    drop_db(&client, &db).await;
}

/// A group name of 128 upper-case characters escapes to 395 characters, more than
/// ClickHouse can name a table: its table name is bounded (prefix + hash), so its records
/// ship, and so do those of the group next to it.
#[tokio::test]
async fn a_group_with_the_longest_upper_case_name_ships_like_any_other() {
    let url = ch_url();
    let db = unique_db("longname");
    let dir = tempfile::tempdir().unwrap();
    let long = "G".repeat(128);
    let table = group_table(&long);
    assert!(table.len() <= schema::MAX_TABLE_NAME, "{} characters", table.len());
    let (queue, handle) =
        switchyard_records::start(options(dir.path(), Some(ch_opts(&url, &db))), &Registry::new()).unwrap();
    let now = now_ms();
    for i in 0..100u64 {
        assert!(queue.offer(record(&long, i, now + i as i64)));
        assert!(queue.offer(record("short", 1_000 + i, now + i as i64)));
    }
    drop(queue);
    handle.close(Duration::from_secs(30));
    let client = schema::client(&ch_opts(&url, &db));
    assert_eq!(scalar(&client, &format!("SELECT count() FROM `{table}`")).await, 100);
    assert_eq!(scalar(&client, &format!("SELECT count() FROM {}", group_table("short"))).await, 100);
    let names = format!("SELECT count() FROM inferences WHERE group_name = '{long}'");
    assert_eq!(scalar(&client, &names).await, 100, "the Merge table reads it under its real name");
    drop_db(&client, &db).await;
}
