//! The experiment's SQL ([`experiment_sql`], exactly what the executor runs) on ClickHouse 18.16
//! (the test server) and on a current ClickHouse (chdb-core 26.x embedded in Python,
//! `tests/reference/chdb_plan.py`), over the records crate's DDL and the same rows (with
//! replayed duplicates): both engines must accept every statement and give the same answers.
//!
//! Needs `SWITCHYARD_TEST_CLICKHOUSE_URL` and python3 with chdb-core
//! (`bash scripts/python-test-deps.sh`); fails, never skips, without them.
#![allow(clippy::unwrap_used, clippy::manual_is_multiple_of)]

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use switchyard_control_api::analytics::experiment_sql;
use switchyard_records::{group_table, schema, ClickHouseOptions};

const GROUP: &str = "support-bot";
const BASE_MS: i64 = 1_714_557_600_000;

fn inference_values(range: std::ops::Range<u32>) -> String {
    range
        .map(|i| {
            let (member, role, weight) =
                if i % 4 == 0 { ("llama", "challenger", 0.25) } else { ("gpt", "champion", 0.75) };
            let assignment = if i % 17 == 0 { "pinned" } else { "random" };
            let (status, class) = match i % 9 {
                0 => (502, "upstream_connect"),
                1 => (200, "upstream_reset"),
                2 => (400, "upstream_status"),
                _ => (200, ""),
            };
            let ms = BASE_MS + i64::from(i) * 1_500;
            let ttft = if i % 2 == 0 { (500 + i * 7 % 300).to_string() } else { "NULL".into() };
            format!(
                "('r-{i:04}', toDateTime({s}), {ms}, 't', 'c', '{GROUP}', '{member}', '{role}', 'p', 'mock', 'm', \
                 '{assignment}', 0, {weight}, 3, 'chat.completions', {stream}, {status}, '{class}', {total}, 900, 100, \
                 {ttft}, {input}, NULL, NULL, NULL, '', NULL, [], [], '', '')",
                s = ms / 1000,
                stream = i % 2,
                total = 1_000 + (i * 7919) % 5_000,
                input = 10 + i % 13,
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn feedback_values(range: std::ops::Range<u32>) -> String {
    range
        .filter(|i| i % 3 != 0)
        .map(|i| {
            let ms = BASE_MS + i64::from(i) * 1_500 + 10_000;
            format!("('f-{i}', 'r-{i:04}', toDateTime({s}), {ms}, 'thumbs_up', {v}, '', '')", s = ms / 1000, v = i % 2)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn numbers_equal(a: &str, b: &str) -> bool {
    let parse =
        |s: &str| -> Vec<String> { s.trim_matches(|c| c == '[' || c == ']').split(',').map(str::to_owned).collect() };
    let (xs, ys) = (parse(a), parse(b));
    xs.len() == ys.len()
        && xs.iter().zip(&ys).all(|(x, y)| match (x.parse::<f64>(), y.parse::<f64>()) {
            (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
            _ => x == y,
        })
}

#[tokio::test]
async fn experiment_sql_runs_on_clickhouse_18_and_current() {
    let url = switchyard_testkit::clickhouse::ch_url();
    let db = switchyard_testkit::clickhouse::unique_db("an_compat");
    let table = format!("`{db}`.`{}`", group_table(GROUP));
    let mut steps: Vec<(String, String, bool)> = Vec::new();
    for (k, sql) in schema::ddl_statements(&db, &[GROUP]).into_iter().enumerate() {
        steps.push((format!("ddl {k}"), sql, false));
    }
    steps.push(("insert".into(), format!("INSERT INTO {table} VALUES {}", inference_values(0..120)), false));
    steps.push(("replay".into(), format!("INSERT INTO {table} VALUES {}", inference_values(90..120)), false));
    steps.push(("feedback".into(), format!("INSERT INTO `{db}`.feedback VALUES {}", feedback_values(0..120)), false));
    steps.push((
        "feedback replay".into(),
        format!("INSERT INTO `{db}`.feedback VALUES {}", feedback_values(0..30)),
        false,
    ));
    let (since, until) = (BASE_MS, BASE_MS + 150_000);
    for (name, sql) in experiment_sql(&db, GROUP, since, until, 4_000).unwrap() {
        steps.push((name.to_owned(), sql, true));
    }

    // ClickHouse 18.16.
    let opts = ClickHouseOptions { url, database: "default".into(), user: "default".into(), password: None };
    let client = schema::client(&opts);
    let mut old = serde_json::Map::new();
    for (name, sql, query) in &steps {
        if *query {
            let mut cursor = client.query(sql).fetch_bytes("TabSeparated").unwrap();
            let bytes = cursor.collect().await.unwrap();
            old.insert(name.clone(), Value::String(String::from_utf8(bytes.to_vec()).unwrap()));
        } else {
            client.query(sql).execute().await.unwrap_or_else(|e| panic!("18.16 rejected {name}: {e}\n{sql}"));
        }
    }
    client.query(&format!("DROP DATABASE IF EXISTS `{db}`")).execute().await.unwrap();

    // Current ClickHouse.
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
    println!("current engine: ClickHouse {}", new["__version__"]);

    for name in ["aggregates", "slow", "feedback"] {
        let (a, b) = (old[name].as_str().unwrap(), new[name].as_str().unwrap());
        let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
        assert_eq!(la.len(), 2, "{name}: one line per member on 18.16:\n{a}");
        assert_eq!(la.len(), lb.len(), "{name}:\n18.16:\n{a}\ncurrent:\n{b}");
        for (x, y) in la.iter().zip(&lb) {
            let (fx, fy): (Vec<&str>, Vec<&str>) = (x.split('\t').collect(), y.split('\t').collect());
            assert_eq!(fx.len(), fy.len(), "{name}: {x} vs {y}");
            for (p, q) in fx.iter().zip(&fy) {
                assert!(numbers_equal(p, q), "{name}: field {p} vs {q}\n18.16:\n{a}\ncurrent:\n{b}");
            }
        }
    }
}
