//! `deploy/`'s alert rules and Grafana dashboard, checked with real tools and real gateways:
//!
//! - the alert rules pass `promtool check rules` and their unit tests (`promtool test
//!   rules`), and every alert has a firing and a silent case there;
//! - every dashboard query and every alert expression returns data from a real Prometheus
//!   (Debian's, on loopback, scraping every 1 s) that scraped two real `switchyard`
//!   processes under mixed traffic: replica A ships to the test ClickHouse (one group's table
//!   is broken, so it dead-letters) and runs the auto-promotion; replica B's ClickHouse is
//!   unreachable and its spool is tiny (backlog, full spool, dropped records); a third
//!   target is down; the `jobs` lease is held in both replicas' state stores by a holder
//!   that is not a replica (so no replica holds it).
//!
//! Tools: promtool and prometheus (Debian `prometheus`), the test ClickHouse
//! (`scripts/clickhouse.sh`). The compose file, Kubernetes manifests and Dockerfile:
//! `deploy_manifests.rs`.

use crate::deploy;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deploy::prometheus::Prometheus;
use deploy::{alert_names, closed_port, deploy, read, rule_list, run_ok, yaml, Served};
use serde_json::Value;
use switchyard_state::{LeaseName, StateStore, StoreOptions};
use switchyard_testkit::clickhouse::{ch_url, metric, unique_db, Ch};
use switchyard_testkit::{chat, chat_stream, client, eventually};

/// What the dashboard's Grafana variables become when evaluated here.
const RATE_INTERVAL: &str = "10s";
const RANGE: &str = "5m";
/// Replica B's spool bound (and the alert rules' spool capacity in this test).
const SMALL_SPOOL: u64 = 256 * 1024;

// --- alert rules ------------------------------------------------------------------------

#[test]
fn alert_rules_pass_promtool_and_every_alert_is_unit_tested_firing_and_silent() {
    run_ok(Command::new("promtool").args(["check", "rules"]).arg(deploy("prometheus/alerts.yml")));
    let out = run_ok(Command::new("promtool").args(["test", "rules"]).arg(deploy("prometheus/alerts_test.yml")));
    assert!(out.contains("SUCCESS"), "{out}");

    let alerts = alert_names(&yaml(&deploy("prometheus/alerts.yml")));
    let tests = yaml(&deploy("prometheus/alerts_test.yml"));
    let (mut firing, mut silent) = (BTreeSet::new(), BTreeSet::new());
    for case in
        tests["tests"].as_array().expect("tests").iter().flat_map(|t| t["alert_rule_test"].as_array().expect("cases"))
    {
        let name = case["alertname"].as_str().expect("alertname").to_owned();
        let fires = case["exp_alerts"].as_array().is_some_and(|a| !a.is_empty());
        if fires {
            firing.insert(name)
        } else {
            silent.insert(name)
        };
    }
    for alert in &alerts {
        assert!(firing.contains(alert), "alerts_test.yml has no case where {alert} fires");
        assert!(silent.contains(alert), "alerts_test.yml has no case where {alert} stays silent");
    }
}

// --- a real Prometheus scraping real replicas -------------------------------------------

/// Whether any series of an instant-query result has a finite value.
fn has_data(result: &[Value]) -> bool {
    result.iter().any(|s| s["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()).is_some_and(f64::is_finite))
}

/// Grafana's variables as this test evaluates them: `All` for every template variable.
fn grafana_to_promql(expr: &str) -> String {
    let q = expr
        .replace("$__rate_interval", RATE_INTERVAL)
        .replace("$__range", RANGE)
        .replace("$instance", ".*")
        .replace("$group", ".*")
        .replace("$member", ".*");
    assert!(!q.contains('$'), "unknown Grafana variable in {expr}");
    q
}

/// (panel title, PromQL) of every dashboard query and template variable.
fn dashboard_queries() -> Vec<(String, String)> {
    let dash: Value = serde_json::from_str(&read(&deploy("grafana/switchyard.json"))).expect("dashboard json");
    let mut out = Vec::new();
    let mut ids = BTreeSet::new();
    let mut panels: Vec<&Value> = dash["panels"].as_array().expect("panels").iter().collect();
    while let Some(p) = panels.pop() {
        assert!(ids.insert(p["id"].as_u64().expect("panel id")), "duplicate panel id {}", p["id"]);
        panels.extend(p["panels"].as_array().into_iter().flatten());
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "panel {} uses the datasource variable", p["title"]);
        let targets = p["targets"].as_array().unwrap_or_else(|| panic!("panel {} has targets", p["title"]));
        assert!(!targets.is_empty());
        for t in targets {
            let expr = t["expr"].as_str().expect("expr");
            out.push((format!("{} [{}]", p["title"].as_str().expect("title"), t["refId"]), grafana_to_promql(expr)));
        }
    }
    for v in dash["templating"]["list"].as_array().expect("templating") {
        let Some(q) = v["query"]["query"].as_str() else { continue };
        let inner =
            q.strip_prefix("label_values(").and_then(|s| s.strip_suffix(')')).expect("label_values(metric, label)");
        let (metric, label) = inner.rsplit_once(", ").expect("metric, label");
        out.push((
            format!("variable ${}", v["name"].as_str().expect("name")),
            grafana_to_promql(&format!("count by ({label}) ({metric})")),
        ));
    }
    out
}

/// The config of one test replica.
fn replica_yaml(spool: &Path, clickhouse: &str, extra_spool: &str, promotion: bool) -> String {
    let nowhere = format!("http://127.0.0.1:{}/v1", closed_port());
    let promotion = if promotion {
        "\n    promotion: { min_samples_per_arm: 30, min_duration_secs: 0, check_interval_secs: 1 }"
    } else {
        ""
    };
    format!(
        r#"listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
providers:
  good: {{ kind: mock, latency_ms: 2, stream_chunks: 4, chunk_delay_ms: 1 }}
  flaky: {{ kind: mock, latency_ms: 2, error_rate: 0.7 }}
  so-so: {{ kind: mock, latency_ms: 1, error_rate: 0.9 }}
  nowhere: {{ kind: openai, base_url: "{nowhere}" }}
groups:
  chat:
    members:
      - {{ name: champ, role: champion, provider: good, weight: 70 }}
      - {{ name: flaky, role: challenger, provider: flaky, weight: 30 }}
      - {{ name: shadow, role: shadow, provider: good, mirror_percent: 50 }}
  auto:
    members:
      - {{ name: champ, role: champion, provider: good, weight: 50 }}
      - {{ name: worse, role: challenger, provider: so-so, weight: 50 }}
    breaker: {{ enabled: false }}{promotion}
  broken:
    members:
      - {{ name: champ, role: champion, provider: good, weight: 1 }}
  down:
    members:
      - {{ name: gone, role: champion, provider: nowhere, weight: 1 }}
records:
  clickhouse: {clickhouse}
  spool: {{ dir: "{}", fsync_interval_ms: 10{extra_spool} }}
  batch: {{ max_delay_ms: 100 }}
"#,
        spool.display()
    )
}

/// Mixed traffic until `stop`: non-streamed and streamed chats, a group whose records
/// ClickHouse rejects, a group whose upstream refuses connections (retried, then 502), and a
/// pinned unknown member (400); counts statuses.
fn traffic(
    bases: Vec<String>,
    stop: Arc<AtomicBool>,
    statuses: Arc<Mutex<BTreeMap<u16, u64>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let c = client();
        let mut i = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let url = format!("{}/v1/chat/completions", bases[i % bases.len()]);
            let req = match (i / bases.len()) % 7 {
                0 => c.post(&url).body(chat("chat")),
                1 => c.post(&url).body(chat_stream("chat")),
                2 | 6 => c.post(&url).body(chat("auto")),
                3 => c.post(&url).body(chat_stream("broken")),
                4 => c.post(&url).body(chat("down")),
                _ => c.post(&url).header("x-switchyard-member", "nobody").body(chat("chat")),
            };
            if let Ok(resp) = req.send().await {
                let status = resp.status().as_u16();
                let _ = resp.bytes().await;
                *statuses.lock().expect("lock").entry(status).or_default() += 1;
            }
            i += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
}

async fn metrics_text(admin: &str) -> String {
    client().get(format!("http://{admin}/metrics")).send().await.expect("metrics").text().await.expect("text")
}

/// Replica A (ships to the test ClickHouse, runs the auto-promotion) and replica B (ClickHouse
/// unreachable, 256 KiB spool), each a real `switchyard serve` process with its own SQLite
/// state store, in which neither holds the `jobs` lease.
struct Replicas {
    a: Served,
    b: Served,
    config_a: PathBuf,
    good_a: String,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

async fn start_replicas(ch: &Ch, db: &str) -> Replicas {
    let (dir_a, dir_b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let config_a = dir_a.path().join("switchyard.yaml");
    let good_a =
        replica_yaml(&dir_a.path().join("spool"), &format!("{{ url: \"{}\", database: {db} }}", ch.url), "", true);
    std::fs::write(&config_a, &good_a).expect("write");
    let unreachable = format!("{{ url: \"http://127.0.0.1:{}\", database: {db} }}", closed_port());
    let small = format!(", max_bytes: {SMALL_SPOOL}");
    let config_b = dir_b.path().join("switchyard.yaml");
    std::fs::write(&config_b, replica_yaml(&dir_b.path().join("spool"), &unreachable, &small, false)).expect("write");
    hold_jobs_elsewhere(dir_a.path()).await;
    hold_jobs_elsewhere(dir_b.path()).await;
    let (a, b) = (Served::start(&config_a).await, Served::start(&config_b).await);
    Replicas { a, b, config_a, good_a, _dirs: (dir_a, dir_b) }
}

/// Takes the `jobs` lease for an hour, for a holder that is no replica, in the state store
/// `serve` opens for a config in `config_dir` (the default SQLite file beside it): neither
/// replica then holds `jobs` (`SwitchyardLeaseUnheld`), while each takes the other leases.
async fn hold_jobs_elsewhere(config_dir: &Path) {
    let options = StoreOptions::new(switchyard_state::DEFAULT_URL).resolve_relative_to(config_dir).expect("url");
    let store = StateStore::open(&options).await.expect("open the state store");
    store.migrate().await.expect("migrate the state store");
    let lease = store.leases().try_acquire_or_renew(LeaseName::Jobs, "elsewhere", Duration::from_secs(3600)).await;
    assert!(lease.expect("take the jobs lease").held, "the jobs lease is free in a new store");
    store.close().await;
}

/// Polls Prometheus once a second until every query has returned a finite value and every
/// alert has been pending or firing (each is removed from its set then), or `within` passes.
/// Returns the rules as last seen.
async fn poll_for_data(
    prom: &Prometheus,
    queries: &mut BTreeMap<String, String>,
    alerts: &mut BTreeSet<String>,
    within: Duration,
) -> Vec<Value> {
    let started = Instant::now();
    let mut rules = Vec::new();
    while (!queries.is_empty() || !alerts.is_empty()) && started.elapsed() < within {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut done = Vec::new();
        for (title, q) in queries.iter() {
            if has_data(&prom.query(q).await) {
                done.push(title.clone());
            }
        }
        queries.retain(|t, _| !done.contains(t));
        rules = prom.rules().await;
        for r in &rules {
            assert_ne!(r["health"], "err", "rule {} fails: {}", r["name"], r["lastError"]);
            if r["type"] == "alerting" && r["state"] != "inactive" {
                alerts.remove(r["name"].as_str().expect("name"));
            }
        }
        let waiting: Vec<&String> = queries.keys().take(5).collect();
        eprintln!("[{:?}] waiting for {} queries {waiting:?} and alerts {alerts:?}", started.elapsed(), queries.len());
    }
    rules
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_dashboard_query_and_alert_returns_data_from_a_real_prometheus() {
    let ch = Ch::new(&ch_url());
    let db = unique_db("deploy");
    ch.query("default", &format!("CREATE DATABASE `{db}`")).await;
    // A table of the right name but the wrong shape: ClickHouse rejects group `broken`'s rows.
    let broken = switchyard_records::group_table("broken");
    ch.query(&db, &format!("CREATE TABLE {broken} (request_id String, ts DateTime) ENGINE = MergeTree() PARTITION BY toYYYYMMDD(ts) ORDER BY request_id")).await;
    let Replicas { a, b, config_a, good_a, _dirs } = start_replicas(&ch, &db).await;

    let rules = read(&deploy("prometheus/alerts.yml"));
    assert_eq!(rules.matches("vector(1073741824)").count(), 1, "one spool capacity constant in alerts.yml");
    let rules = rules.replace("vector(1073741824)", &format!("vector({SMALL_SPOOL})"));
    let dead = format!("127.0.0.1:{}", closed_port());
    let prom = Prometheus::start(&[&a.admin, &b.admin, &dead], &rules).await;

    // Prometheus sees every counter at its start value before anything happens.
    let scraped = async || prom.query("switchyard_records_total{outcome=\"dropped\"}").await.len() == 2;
    assert!(eventually(Duration::from_secs(20), scraped).await, "both replicas scraped");

    // A rejected reload on A (the file is watched), then the good file back.
    std::fs::write(&config_a, format!("{good_a}bogus_key: 1\n")).expect("write");
    let series = "switchyard_config_reloads_total{result=\"rejected\"}";
    let rejected = async || metric(&metrics_text(&a.admin).await, series).is_some_and(|v| v >= 1.0);
    assert!(eventually(Duration::from_secs(10), rejected).await, "A rejects the invalid file");
    std::fs::write(&config_a, &good_a).expect("write");

    // Metrics the dashboard and the alerts read that the replicas do not export before their
    // first request (printed for the report; after the traffic every one must be there).
    let mut queries: BTreeMap<String, String> = dashboard_queries().into_iter().collect();
    let rules_yaml = yaml(&deploy("prometheus/alerts.yml"));
    let alert_exprs = rule_list(&rules_yaml).map(|r| r["expr"].as_str().expect("expr").to_owned());
    let names: BTreeSet<String> = queries.values().cloned().chain(alert_exprs).flat_map(|q| metric_names(&q)).collect();
    let exported = |text: &str, name: &str| name == "up" || text.contains(&format!("# TYPE {name} "));
    let at_start = format!("{}{}", metrics_text(&a.admin).await, metrics_text(&b.admin).await);
    let late: Vec<&String> = names.iter().filter(|n| !exported(&at_start, n)).collect();
    eprintln!("metrics not exported before the first request: {late:?}");

    let stop = Arc::new(AtomicBool::new(false));
    let statuses = Arc::new(Mutex::new(BTreeMap::new()));
    let bases = vec![format!("http://{}", a.data), format!("http://{}", b.data)];
    let load: Vec<_> = (0..3).map(|_| traffic(bases.clone(), stop.clone(), statuses.clone())).collect();
    let mut alerts = alert_names(&rules_yaml);
    let last_rules = poll_for_data(&prom, &mut queries, &mut alerts, Duration::from_secs(45)).await;
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.expect("traffic task");
    }
    let statuses = statuses.lock().expect("lock").clone();
    let at_end = format!("{}{}", metrics_text(&a.admin).await, metrics_text(&b.admin).await);
    // Kill the replicas first: DROP DATABASE on ClickHouse 18.16 can wait many seconds for
    // inserts in flight. A database left behind by a slow drop is harmless.
    drop((a, b));
    let _ = tokio::time::timeout(Duration::from_secs(5), ch.drop_db(&db)).await;

    assert!(queries.is_empty(), "dashboard queries without data after 45 s of traffic ({statuses:?}):\n{queries:#?}");
    let states: Vec<String> = last_rules.iter().map(|r| format!("{} {}", r["name"], r["state"])).collect();
    assert!(alerts.is_empty(), "alerts that never fired or went pending: {alerts:?}\nrules: {states:#?}");
    let fives = statuses.iter().filter(|(s, _)| **s >= 500).count();
    assert!(statuses.get(&200).is_some_and(|n| *n > 100) && statuses.contains_key(&400) && fives > 0, "{statuses:?}");
    for name in &names {
        assert!(exported(&at_end, name), "{name} is read by deploy/ but not exported by switchyard");
    }
    let loaded = last_rules.iter().filter(|r| r["type"] == "alerting").count();
    assert_eq!(loaded, alert_names(&rules_yaml).len(), "Prometheus loaded every alert");
}

/// The `switchyard_*` metric names (and `up`) a query reads, without histogram suffixes.
fn metric_names(q: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for word in q.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
        let name = word.trim_end_matches("_bucket").trim_end_matches("_count").trim_end_matches("_sum");
        if name.starts_with("switchyard_") || name == "up" {
            out.insert(name.to_owned());
        }
    }
    out
}
