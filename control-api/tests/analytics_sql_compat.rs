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
use switchyard_control_api::analytics::browser::attributions_sql;
use switchyard_control_api::analytics::{experiment_sql, importance_sql};
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
                 {ttft}, {input}, NULL, NULL, NULL, '', NULL, [], [], '', NULL, NULL, NULL, NULL, '', NULL, '')",
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

/// `explanations` rows (long layout): two members, two days, multi-output, an anchor (left
/// out of importance) and an explainer answer; `i` varies the values.
fn explanation_values(range: std::ops::Range<u32>) -> String {
    const FEATURES: [&str; 3] = ["age", "bmi", "bp"];
    range
        .flat_map(|i| {
            let member = if i % 4 == 0 { "llama" } else { "gpt" };
            let ms = BASE_MS + i64::from(i) * 1_500 + if i % 2 == 0 { 86_400_000 } else { 0 };
            let source = if i % 3 == 0 { "inline" } else { "explainer" };
            let latency = if source == "explainer" { (1_000 + i).to_string() } else { "NULL".into() };
            (0..2u32).flat_map(move |output| {
                let latency = latency.clone();
                FEATURES.iter().enumerate().map(move |(j, f)| {
                    let value = (f64::from(i % 7) - 3.0) * 0.125 * (j as f64 + 1.0) + f64::from(output) * 0.5;
                    format!(
                        "('r-{i:04}', toDateTime({s}), {ms}, '{GROUP}', '{member}', 3, '{source}', 'shap', 0, {output}, \
                         '', {j}, '{f}', {value}, 0.5, 1.25, NULL, NULL, {latency})",
                        s = ms / 1000,
                    )
                })
            })
        })
        .chain(std::iter::once(format!(
            "('r-0001', toDateTime({s}), {BASE_MS}, '{GROUP}', 'gpt', 3, 'explainer', 'anchor', 0, 0, '', 0, \
             'bmi > 0.1', 0.97, NULL, 1, NULL, 0.12, 900)",
            s = BASE_MS / 1000
        )))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `sql` with its `?` placeholders replaced, in order, by `values` (the crate binds them
/// client-side the same way).
fn inline_binds(sql: &str, values: &[String]) -> String {
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
    let explanations = format!("INSERT INTO `{db}`.explanations VALUES {}", explanation_values(0..40));
    steps.push(("explanations".into(), explanations, false));
    let replay = format!("INSERT INTO `{db}`.explanations VALUES {}", explanation_values(30..40));
    steps.push(("explanations replay".into(), replay, false));
    let window = [
        format!("'{GROUP}'"),
        (BASE_MS / 1000).to_string(),
        ((BASE_MS + 2 * 86_400_000) / 1000).to_string(),
        BASE_MS.to_string(),
        (BASE_MS + 2 * 86_400_000).to_string(),
    ];
    let (cells, samples) = importance_sql(&db);
    steps.push(("importance".into(), inline_binds(&cells, &window), true));
    steps.push(("explained requests".into(), inline_binds(&samples, &window), true));
    steps.push(("attributions".into(), inline_binds(&attributions_sql(&db), &["'r-0001'".to_owned()]), true));

    // ClickHouse 18.16.
    let opts =
        ClickHouseOptions { url, database: "default".into(), user: "default".into(), password: None, cluster: None };
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

    // Importance: 3 (day, member) pairs (llama's requests are all on the second day) × 3
    // features, each replayed row once, the anchor left out; the request's detail: 2
    // outputs of 3 features plus the anchor.
    assert_eq!(old["importance"].as_str().unwrap().lines().count(), 9, "{}", old["importance"]);
    let counted: u64 = old["importance"]
        .as_str()
        .unwrap()
        .lines()
        .map(|l| l.split('\t').nth(3).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(counted, 40 * 2 * 3);
    assert_eq!(old["attributions"].as_str().unwrap().lines().count(), 7);
    for name in ["aggregates", "slow", "feedback", "importance", "explained requests", "attributions"] {
        let (a, b) = (old[name].as_str().unwrap(), new[name].as_str().unwrap());
        let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
        if matches!(name, "aggregates" | "slow" | "feedback") {
            assert_eq!(la.len(), 2, "{name}: one line per member on 18.16:\n{a}");
        }
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
