//! The same SQL on ClickHouse 18.16 (the test server) and on a current ClickHouse
//! (chdb-core 26.x, embedded in Python: `records/tests/sql_compat.py`): our DDL
//! ([`schema::ddl_statements`]), rows with replayed duplicates, representative analytics
//! queries (count FINAL, uniqExact, per-member and per-day breakdowns, feedback joined by
//! request id, explanations) and the janitor's partition listing and drop. Both engines
//! must accept every statement and give the same answers, which are also checked against
//! the values the rows were built with.
//!
//! Needs `SWITCHYARD_TEST_CLICKHOUSE_URL` and python3 with chdb-core
//! (`bash scripts/python-test-deps.sh`); fails, never skips, without them.
#![allow(clippy::unwrap_used, clippy::manual_is_multiple_of)]

use crate::common;

use std::collections::BTreeMap;
use std::process::Command;

use common::*;
use serde::Serialize;
use switchyard_records::{group_table, schema};

#[derive(Serialize)]
struct Step {
    name: String,
    sql: String,
    query: bool,
}

#[derive(Serialize)]
struct Plan {
    steps: Vec<Step>,
}

const GROUPS: [&str; 2] = ["support-bot", "demo"];
const DAY1: &str = "2024-05-01";
const DAY2: &str = "2024-05-02";

/// `n` inference rows of `group` as a VALUES list; `i` makes every field vary.
fn inference_values(group: &str, range: std::ops::Range<u32>) -> String {
    range
        .map(|i| {
            let (member, role) = if i % 4 == 0 { ("llama-ft", "challenger") } else { ("gpt4o", "champion") };
            let day = if i % 3 == 0 { DAY1 } else { DAY2 };
            let status = if i % 7 == 0 { 502 } else { 200 };
            let output = if status == 200 { (20 + i).to_string() } else { "NULL".into() };
            let (names, values) = if i % 5 == 0 { ("['age','income']", "[0.25,-0.5]") } else { ("[]", "[]") };
            format!(
                "('{group}-{i:04}', toDateTime('{day} 10:{:02}:00'), {ms}, 'acme', 'web', '{group}', '{member}', \
                 '{role}', 'demo', 'mock', 'm', 'random', 0, 0.9, 3, 'chat.completions', {}, {status}, '{}', \
                 {}, {}, {}, NULL, {}, {output}, NULL, NULL, '', NULL, {names}, {values}, 'client-{i}', {lp}, '{trace}', \
                 {cost})",
                i % 60,
                i % 2,
                if status == 200 { "" } else { "upstream_status" },
                1000 + 10 * i,
                900 + 10 * i,
                100,
                10 + i,
                ms = 1_714_557_600_000_i64 + i64::from(i),
                lp = if i % 6 == 0 { "4, -0.5, -1.25, 1.6487212707001282" } else { "NULL, NULL, NULL, NULL" },
                trace = if i % 2 == 0 { format!("{:032x}", u128::from(i) + 1) } else { String::new() },
                // Exact costs at scale 12 (what the gateway records); none for failures.
                cost = if status == 200 { format!("0.{:012}, 'USD'", 125 * u64::from(i + 1)) } else { "NULL, ''".into() },
            )
        })
        .collect::<Vec<_>>()
        .join(",\n")
}

fn plan(db: &str) -> Plan {
    let mut steps = Vec::new();
    let mut exec = |name: &str, sql: String| steps.push(Step { name: name.into(), sql, query: false });
    for (k, sql) in schema::ddl_statements(db, &GROUPS).into_iter().enumerate() {
        exec(&format!("ddl {k}"), sql);
    }
    exec(
        "schema_migrations",
        format!("INSERT INTO `{db}`.schema_migrations (version, name, applied_at) VALUES (1, 'feedback', now())"),
    );
    let sb = group_table("support-bot");
    let demo = group_table("demo");
    // 40 + 10 inferences; then a replay of 8 (a spool replay after a crash) as its own part.
    exec("insert support-bot", format!("INSERT INTO `{db}`.`{sb}` VALUES {}", inference_values("support-bot", 0..40)));
    exec("insert demo", format!("INSERT INTO `{db}`.`{demo}` VALUES {}", inference_values("demo", 0..10)));
    exec("replay support-bot", format!("INSERT INTO `{db}`.`{sb}` VALUES {}", inference_values("support-bot", 32..40)));
    let feedback = |range: std::ops::Range<u32>| {
        range
            .map(|i| {
                format!(
                    "('fb-{i}', 'support-bot-{:04}', toDateTime('{DAY2} 11:00:00'), 0, '{}', {}, 'acme', 'web')",
                    i * 2,
                    if i % 2 == 0 { "thumbs_up" } else { "csat" },
                    if i % 2 == 0 { "1".to_string() } else { format!("{}", f64::from(i) / 4.0) },
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    exec("insert feedback", format!("INSERT INTO `{db}`.feedback VALUES {}", feedback(0..12)));
    exec("replay feedback", format!("INSERT INTO `{db}`.feedback VALUES {}", feedback(8..12)));
    // The long layout (SPEC §9): one row per (request, source, method, instance, output,
    // feature); the upgrade of a first-layout table is in records/tests/explanations.rs.
    exec(
        "insert explanations",
        format!(
            "INSERT INTO `{db}`.explanations VALUES ('support-bot-0000', toDateTime('{DAY1} 10:00:00'), 0, \
             'support-bot', 'llama-ft', 3, 'explainer', 'shap', 0, 0, '', 0, 'age', 0.25, 0.1, 0.35, NULL, NULL, 900), \
             ('support-bot-0000', toDateTime('{DAY1} 10:00:00'), 0, 'support-bot', 'llama-ft', 3, 'explainer', 'shap', \
             0, 0, '', 1, 'income', -0.5, 0.1, 0.35, NULL, NULL, 900), ('support-bot-0020', \
             toDateTime('{DAY2} 10:20:00'), 0, 'support-bot', 'llama-ft', 3, 'inline', 'lime', 0, 1, 'outputs-1', 0, \
             'age', 0.75, NULL, NULL, 0.5, NULL, NULL)"
        ),
    );
    // A table of the first released shape (without the columns added since), upgraded by
    // the very statements `migrate` and the shipper run.
    exec("legacy shape", format!("CREATE TABLE `{db}`.legacy_shape AS `{db}`.`{demo}`"));
    for column in [
        "currency",
        "cost",
        "trace_id",
        "perplexity",
        "logprob_min",
        "logprob_mean",
        "logprob_tokens",
        "client_request_id",
    ] {
        exec("legacy drop", format!("ALTER TABLE `{db}`.legacy_shape DROP COLUMN {column}"));
    }
    for (k, sql) in schema::upgrade_statements(&format!("`{db}`.legacy_shape")).into_iter().enumerate() {
        exec(&format!("upgrade {k}"), sql);
    }
    let mut query = |name: &str, sql: String| steps.push(Step { name: name.into(), sql, query: true });
    query(
        "legacy upgraded",
        format!(
            "SELECT name, type FROM system.columns WHERE database = '{db}' AND table = 'legacy_shape' \
             AND name IN ('client_request_id', 'logprob_tokens', 'logprob_mean', 'logprob_min', 'perplexity', \
             'trace_id', 'cost', 'currency') ORDER BY name"
        ),
    );
    query(
        "by trace id",
        format!(
            "SELECT request_id, any(trace_id) FROM `{db}`.inferences WHERE trace_id = '{:032x}' \
             GROUP BY request_id ORDER BY request_id",
            33
        ),
    );
    query("tables", format!("SELECT name, engine FROM system.tables WHERE database = '{db}' ORDER BY name"));
    query(
        "columns",
        format!("SELECT name, type FROM system.columns WHERE database = '{db}' AND table = 'inferences' ORDER BY name"),
    );
    query("count final group", format!("SELECT count() FROM `{db}`.`{sb}` FINAL"));
    query("count final merge", format!("SELECT count() FROM `{db}`.inferences FINAL"));
    query("uniqExact merge", format!("SELECT uniqExact(request_id) FROM `{db}`.inferences"));
    query(
        "per member",
        format!(
            "SELECT group_name, member, role, uniqExact(request_id) AS n, countIf(status >= 500) AS errors, \
             sum(input_tokens), sum(output_tokens), round(avg(total_us), 1), quantileExact(0.5)(total_us), \
             countIf(stream = 1) FROM `{db}`.inferences FINAL GROUP BY group_name, member, role \
             ORDER BY group_name, member"
        ),
    );
    query(
        "per day",
        format!(
            "SELECT toYYYYMMDD(ts) AS day, group_name, uniqExact(request_id) FROM `{db}`.inferences \
             GROUP BY day, group_name ORDER BY day, group_name"
        ),
    );
    query(
        "feedback by member",
        format!(
            "SELECT member, metric, count(), round(avg(value), 3) FROM `{db}`.feedback FINAL ANY INNER JOIN \
             (SELECT request_id, member FROM `{db}`.inferences FINAL) AS i USING request_id \
             GROUP BY member, metric ORDER BY member, metric"
        ),
    );
    query(
        "explanations",
        format!(
            "SELECT feature, count(), round(avg(value), 3), countIf(isNull(base_value)) FROM `{db}`.explanations \
             FINAL GROUP BY feature ORDER BY feature"
        ),
    );
    query(
        "attributions",
        format!(
            "SELECT request_id, attribution_names, attribution_values FROM `{db}`.inferences FINAL \
             WHERE length(attribution_names) > 0 AND group_name = 'demo' ORDER BY request_id"
        ),
    );
    query(
        "partitions",
        format!(
            "SELECT DISTINCT partition FROM system.parts WHERE database = '{db}' AND table = '{demo}' AND active \
             ORDER BY partition"
        ),
    );
    steps.push(Step {
        name: "janitor drop".into(),
        sql: format!("ALTER TABLE `{db}`.`{demo}` DROP PARTITION 20240501"),
        query: false,
    });
    steps.push(Step {
        name: "after janitor".into(),
        sql: format!("SELECT toYYYYMMDD(ts) AS day, count() FROM `{db}`.inferences FINAL GROUP BY day ORDER BY day"),
        query: true,
    });
    Plan { steps }
}

/// Runs `plan` on the 18.16 test server; answers of the query steps by name.
async fn on_server(client: &clickhouse::Client, plan: &Plan) -> BTreeMap<String, String> {
    let mut answers = BTreeMap::new();
    for step in &plan.steps {
        if step.query {
            let bytes = client
                .query(&step.sql)
                .fetch_bytes("TabSeparated")
                .unwrap_or_else(|e| panic!("{}: {e}", step.name))
                .collect()
                .await
                .unwrap_or_else(|e| panic!("step {:?} on 18.16: {e}\n{}", step.name, step.sql));
            answers.insert(step.name.clone(), String::from_utf8(bytes.to_vec()).unwrap());
        } else {
            client
                .query(&step.sql)
                .execute()
                .await
                .unwrap_or_else(|e| panic!("step {:?} on 18.16: {e}\n{}", step.name, step.sql));
        }
    }
    answers
}

/// Runs `plan` in chdb (current ClickHouse) through `sql_compat.py`.
fn on_chdb(plan: &Plan, dir: &std::path::Path) -> BTreeMap<String, String> {
    let path = dir.join("plan.json");
    std::fs::write(&path, serde_json::to_vec(plan).unwrap()).unwrap();
    let python = std::env::var("SWITCHYARD_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sql_compat.py");
    let out = Command::new(&python).arg(script).arg(&path).output().unwrap_or_else(|e| {
        panic!("cannot run {python}: {e}; install it and chdb-core with `bash scripts/python-test-deps.sh`")
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {}
        Some(3) => panic!("chdb-core missing: run `bash scripts/python-test-deps.sh`\n{stderr}"),
        _ => panic!("current ClickHouse (chdb) rejected our SQL ({}):\n{stderr}", out.status),
    }
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("sql_compat.py output: {e}\n{stderr}"))
}

/// Engine-neutral form of an answer: partition ids are quoted in 18.16 only.
fn normalise(name: &str, text: &str) -> String {
    if name == "partitions" {
        text.replace('\'', "")
    } else {
        text.to_owned()
    }
}

#[tokio::test]
async fn ddl_and_analytics_queries_answer_the_same_on_18_16_and_current_clickhouse() {
    let url = ch_url();
    let db = unique_db("compat");
    let plan = plan(&db);
    let client = schema::client(&ch_opts(&url, "default"));
    let old = on_server(&client, &plan).await;
    drop_db(&client, &db).await;
    let dir = tempfile::tempdir().unwrap();
    let mut new = on_chdb(&plan, dir.path());
    let engine = new.remove("__engine__").unwrap_or_default();
    let server = client.query("SELECT version()").fetch_one::<String>().await.unwrap();
    eprintln!(
        "sql_compat: ClickHouse {server} vs {engine}: {} statements, {} answers compared",
        plan.steps.len(),
        old.len()
    );

    eprintln!("per member (both engines):\n{}", old["per member"]);
    let mut differences = Vec::new();
    for (name, answer) in &old {
        let theirs = new.get(name).map(|t| normalise(name, t));
        if theirs.as_deref() != Some(normalise(name, answer).as_str()) {
            differences.push(format!("{name}:\n  18.16:   {answer:?}\n  current: {theirs:?}"));
        }
    }
    assert!(differences.is_empty(), "ClickHouse {server} and {engine} disagree:\n{}", differences.join("\n"));

    // And the shared answers are right.
    let line = |name: &str| normalise(name, &old[name]).trim_end().to_owned();
    assert_eq!(line("count final group"), "40", "the replayed 8 rows count once");
    assert_eq!(line("count final merge"), "50");
    assert_eq!(line("uniqExact merge"), "50");
    assert_eq!(
        line("per day"),
        "20240501\tdemo\t4\n20240501\tsupport-bot\t14\n20240502\tdemo\t6\n20240502\tsupport-bot\t26"
    );
    assert_eq!(line("partitions"), "20240501\n20240502");
    assert_eq!(line("after janitor"), "20240501\t14\n20240502\t32", "the janitor dropped demo's first day");
    assert_eq!(
        line("tables"),
        [
            "control_audit\tReplacingMergeTree",
            "explanations\tReplacingMergeTree",
            "feedback\tReplacingMergeTree",
            "inferences\tMerge",
            "inferences_demo\tReplacingMergeTree",
            "inferences_support_2dbot\tReplacingMergeTree",
            "legacy_shape\tReplacingMergeTree",
            "schema_migrations\tReplacingMergeTree",
        ]
        .join("\n")
    );
    assert_eq!(
        line("legacy upgraded"),
        "client_request_id\tString\ncost\tNullable(Decimal(38, 12))\ncurrency\tString\nlogprob_mean\tNullable(Float64)\n\
         logprob_min\tNullable(Float64)\nlogprob_tokens\tNullable(UInt32)\nperplexity\tNullable(Float64)\ntrace_id\tString"
    );
    assert_eq!(line("by trace id"), format!("support-bot-0032\t{:032x}", 33), "the replayed row is one request");
    let fb = line("feedback by member");
    assert_eq!(fb.lines().map(|l| l.split('\t').nth(2).unwrap().parse::<u32>().unwrap()).sum::<u32>(), 12, "{fb}");
}

/// The cluster layout's DDL (`records.clickhouse.cluster`) and the janitor's partition
/// drop parse on current ClickHouse. chdb has neither ZooKeeper nor clusters, so this
/// checks the syntax (`EXPLAIN AST`); `switchyard/tests/records_cluster.rs` runs the same
/// statements on real 18.16 clusters.
#[test]
fn cluster_ddl_parses_on_current_clickhouse() {
    let cluster = schema::Cluster { name: "sy_1x2", database: "sy_compat" };
    let mut statements = schema::cluster_ddl_statements(cluster, &GROUPS);
    statements.push(cluster.drop_partition(&group_table("demo"), "20240501"));
    statements.push(cluster.drop_partition("explanations", "(20240501, 'demo')"));
    let steps: Vec<Step> = statements
        .iter()
        .enumerate()
        .map(|(k, sql)| Step { name: format!("ast {k}"), sql: format!("EXPLAIN AST {sql}"), query: true })
        .collect();
    let n = steps.len();
    let dir = tempfile::tempdir().unwrap();
    let answers = on_chdb(&Plan { steps }, dir.path());
    for (k, sql) in statements.iter().enumerate() {
        let ast = &answers[&format!("ast {k}")];
        assert!(ast.contains("Query"), "{sql}\n-> {ast}");
    }
    assert!(statements
        .iter()
        .any(|s| s.contains("ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/sy_compat/")));
    eprintln!("sql_compat: {n} cluster statements parse on {}", answers["__engine__"]);
}
