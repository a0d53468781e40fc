//! The dataset builder's SQL ([`dataset_sql`], exactly what the builder runs) on ClickHouse
//! 18.16 (the test server) and on a current ClickHouse (chdb-core 26.x embedded in Python,
//! `tests/reference/chdb_plan.py`), over the records crate's DDL and the same rows (with
//! replayed duplicates, two tenants, records without bodies, repeated request bodies and
//! feedback changed after the fact): both engines must accept it and give the same answers,
//! and the answers must be the ones the filters call for.
//!
//! Needs `SWITCHYARD_TEST_CLICKHOUSE_URL` and python3 with chdb-core
//! (`bash scripts/python-test-deps.sh`); fails, never skips, without them.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use switchyard_control_api::jobs::dataset::dataset_sql;
use switchyard_control_api::jobs::model::{DatasetSpec, FeedbackFilter, Job, JobSpec, JobState};
use switchyard_records::{group_table, schema, ClickHouseOptions};

const GROUP: &str = "support-bot";
const BASE_MS: i64 = 1_714_557_600_000;

/// Request `i`: tenant `acme` except every 10th (`other`); bodies except when i % 7 == 3;
/// requests 40..45 repeat the bodies of 0..5.
fn inference_values(range: std::ops::Range<u32>) -> String {
    range
        .map(|i| {
            let tenant = if i % 10 == 9 { "other" } else { "acme" };
            let q = if i >= 40 { i - 40 } else { i };
            let (req, resp) = if i % 7 == 3 {
                ("NULL".to_owned(), "NULL".to_owned())
            } else {
                (
                    format!("'{{\"model\":\"g\",\"messages\":[{{\"role\":\"user\",\"content\":\"q{q}\"}}]}}'"),
                    format!("'{{\"choices\":[{{\"message\":{{\"role\":\"assistant\",\"content\":\"a{q}\"}}}}]}}'"),
                )
            };
            let ms = BASE_MS + i64::from(i) * 1_000;
            format!(
                "('r-{i:04}', toDateTime({s}), {ms}, '{tenant}', 'c', '{GROUP}', 'gpt', 'champion', 'p', 'mock', 'm', \
                 'random', 0, 1, 3, 'chat.completions', 0, 200, '', 1000, 900, 100, NULL, 10, 20, {req}, {resp}, '', \
                 NULL, [], [], '', NULL, NULL, NULL, NULL, '', NULL, '')",
                s = ms / 1000,
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// thumbs_up: first 1 for even i, 0 for odd; later (a minute on) 0 for i % 4 == 0, 1 for
/// i % 4 == 1 — so the last value is 1 for i % 4 in {1, 2}.
fn feedback_values() -> String {
    let mut rows = Vec::new();
    for i in 0..45u32 {
        let ms = BASE_MS + i64::from(i) * 1_000 + 5_000;
        rows.push(format!(
            "('f1-{i}', 'r-{i:04}', toDateTime({}), {ms}, 'thumbs_up', {}, '', '')",
            ms / 1000,
            (i + 1) % 2
        ));
        if i % 4 <= 1 {
            let later = ms + 60_000;
            let v = i % 4;
            rows.push(format!(
                "('f2-{i}', 'r-{i:04}', toDateTime({}), {later}, 'thumbs_up', {v}, '', '')",
                later / 1000
            ));
        }
    }
    rows.join(", ")
}

fn job(dedup: bool) -> Job {
    let spec: JobSpec = serde_json::from_value(json!({"group": GROUP, "provider": "p", "base_model": "b"})).unwrap();
    let dataset = DatasetSpec {
        feedback: Some(FeedbackFilter { metric: "thumbs_up".into(), min: 1.0 }),
        since: Some(BASE_MS),
        until: Some(BASE_MS + 60_000),
        dedup,
        ..DatasetSpec::default()
    };
    let job = json!({"id": "j", "state": JobState::Draft, "spec": JobSpec { dataset, tenant: Some("acme".into()), ..spec },
        "created_by": "t", "provider_status": null, "provider_job_id": null, "creating_at_ms": null,
        "cancel_requested": false, "dataset": null, "fine_tuned_model": null, "metrics": {}, "catalog_id": null,
        "member": null, "error": null, "created_at_ms": 0, "validated_at_ms": null, "started_at_ms": null,
        "finished_at_ms": null});
    serde_json::from_value(job).unwrap()
}

fn inline_binds(sql: &str, values: &[&str]) -> String {
    let mut out = String::new();
    let mut values = values.iter();
    for (k, part) in sql.split('?').enumerate() {
        if k > 0 {
            out.push_str(values.next().expect("a value per placeholder"));
        }
        out.push_str(part);
    }
    out
}

#[tokio::test]
async fn dataset_sql_runs_on_clickhouse_18_and_current() {
    let url = switchyard_testkit::clickhouse::ch_url();
    let db = switchyard_testkit::clickhouse::unique_db("jobs_compat");
    let table = format!("`{db}`.`{}`", group_table(GROUP));
    let mut steps: Vec<(String, String, bool)> = Vec::new();
    for (k, sql) in schema::ddl_statements(&db, &[GROUP]).into_iter().enumerate() {
        steps.push((format!("ddl {k}"), sql, false));
    }
    steps.push(("insert".into(), format!("INSERT INTO {table} VALUES {}", inference_values(0..45)), false));
    steps.push(("replay".into(), format!("INSERT INTO {table} VALUES {}", inference_values(30..45)), false));
    steps.push(("feedback".into(), format!("INSERT INTO `{db}`.feedback VALUES {}", feedback_values()), false));
    for dedup in [false, true] {
        for (name, sql) in dataset_sql(&db, &job(dedup)) {
            steps.push((format!("{name} dedup={dedup}"), inline_binds(&sql, &["'acme'", "'thumbs_up'"]), true));
        }
    }

    let opts =
        ClickHouseOptions { url, database: "default".into(), user: "default".into(), password: None, cluster: None };
    let client = schema::client(&opts);
    let mut old = serde_json::Map::new();
    for (name, sql, query) in &steps {
        if *query {
            let mut cursor = client.query(sql).fetch_bytes("TabSeparated").unwrap();
            let bytes = cursor.collect().await.unwrap_or_else(|e| panic!("18.16 rejected {name}: {e}\n{sql}"));
            old.insert(name.clone(), Value::String(String::from_utf8(bytes.to_vec()).unwrap()));
        } else {
            client.query(sql).execute().await.unwrap_or_else(|e| panic!("18.16 rejected {name}: {e}\n{sql}"));
        }
    }
    client.query(&format!("DROP DATABASE IF EXISTS `{db}`")).execute().await.unwrap();

    let plan =
        json!({"steps": steps.iter().map(|(n, s, q)| json!({"name": n, "sql": s, "query": q})).collect::<Vec<_>>()});
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference/chdb_plan.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is required");
    child.stdin.take().unwrap().write_all(plan.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "chdb failed: {}", String::from_utf8_lossy(&out.stderr));
    let new: Value = serde_json::from_slice(&out.stdout).unwrap();

    // In the window (i < 60 s: all 45), tenant acme (not i % 10 == 9), last thumbs_up 1
    // (i % 4 in {1, 2}): the matching requests; those with bodies (not i % 7 == 3) are rows.
    let matching: Vec<u32> = (0..45).filter(|i| i % 10 != 9 && matches!(i % 4, 1 | 2)).collect();
    let with_bodies: Vec<u32> = matching.iter().copied().filter(|i| i % 7 != 3).collect();
    let count = format!("{}\t{}\n", matching.len(), with_bodies.len());
    assert_eq!(old["count dedup=false"], count.as_str());
    let rows = old["rows dedup=false"].as_str().unwrap();
    let ids: Vec<&str> = rows.lines().map(|l| l.split('\t').next().unwrap()).collect();
    let mut want: Vec<String> = with_bodies.iter().rev().map(|i| format!("r-{i:04}")).collect();
    assert_eq!(ids, want, "newest first, one row per request");
    // Dedup: 40..45 repeat the bodies of 0..5; only the newest of each pair is kept.
    let deduped = old["rows dedup=true"].as_str().unwrap().lines().count();
    let repeats = with_bodies.iter().filter(|i| **i >= 40 && with_bodies.contains(&(**i - 40))).count();
    assert_eq!(deduped, with_bodies.len() - repeats);
    let kept: Vec<&str> =
        old["rows dedup=true"].as_str().unwrap().lines().map(|l| l.split('\t').next().unwrap()).collect();
    want.retain(|id| {
        let i: u32 = id[2..].parse().unwrap();
        !(i < 5 && with_bodies.contains(&(i + 40)))
    });
    assert_eq!(kept, want, "of identical requests the newest is kept");
    for name in ["count dedup=false", "rows dedup=false", "count dedup=true", "rows dedup=true"] {
        assert_eq!(old[name], new[name], "{name}: 18.16 and current ClickHouse differ");
    }
}
