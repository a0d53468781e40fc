//! Explanations on real ML software (SPEC §9, issue 14): scikit-learn models served by
//! MLServer over the Open Inference Protocol as an `oip` group, and an explainer service
//! computing SHAP with the `shap` library, answering in KServe v1 `:explain` shape
//! (`tests/ml/explain_harness.py`, started once per test binary).
//!
//! Shows: stored SHAP values equal those computed directly with `shap` for the same rows
//! (1e-6); base + Σ values reproduces the model output MLServer gave the client; the
//! per-arm ranking from the API equals mean |SHAP| computed offline on the same rows; a
//! slow (5 s) or dead explainer leaves client latency unchanged (p99 measured, printed),
//! with skips counted and no record lost; inline attributions of 3 instances × 2
//! outputs are stored whole.
//!
//! Needs the venv of `bash scripts/python-ml-deps.sh` (`SWITCHYARD_ML_VENV`) and
//! `SWITCHYARD_TEST_CLICKHOUSE_URL`; fails, never skips, without them.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchyard_testkit::clickhouse::{ch_url, metric, percentile_ms, unique_db, Ch};
use switchyard_testkit::control::{admin_yaml, Api, ADMIN};
use switchyard_testkit::{client, eventually, TestGateway};

/// The Python harness: its announcement, and its stdin (closing it stops it).
struct Harness {
    info: Value,
    _stdin: ChildStdin,
    _child: Child,
}

static HARNESS: OnceLock<Harness> = OnceLock::new();

fn start_harness() -> Harness {
    let venv = std::env::var("SWITCHYARD_ML_VENV").unwrap_or_else(|_| {
        format!("{}/.cache/switchyard/ml-venv", std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
    });
    let python = format!("{venv}/bin/python");
    assert!(std::path::Path::new(&python).exists(), "{python} missing: run `bash scripts/python-ml-deps.sh`");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ml/explain_harness.py");
    let mut child = Command::new(&python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the ML harness");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("harness announcement");
    let info: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("harness said {line:?}: {e}"));
    eprintln!("ML harness up in {} s: {}", info["startup_seconds"], info["versions"]);
    Harness { info, _stdin: child.stdin.take().expect("stdin"), _child: child }
}

async fn harness() -> &'static Value {
    tokio::task::spawn_blocking(|| &HARNESS.get_or_init(start_harness).info).await.expect("harness")
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn config(h: &Value, database: &str, spool: &std::path::Path) -> String {
    let (ml, x, dead) = (&h["mlserver_port"], &h["explainer_port"], closed_port());
    let explain = |provider: &str, model: &str, timeout: u32, inflight: u32| {
        format!("{{ provider: {provider}, model: {model}, sample_percent: 100, timeout_ms: {timeout}, max_in_flight: {inflight} }}")
    };
    format!(
        r#"
providers:
  mlserver: {{ kind: oip, base_url: "http://127.0.0.1:{ml}" }}
  shapsvc: {{ kind: oip, base_url: "http://127.0.0.1:{x}" }}
  dead: {{ kind: oip, base_url: "http://127.0.0.1:{dead}" }}
  inline: {{ kind: http, base_url: "http://127.0.0.1:{x}/inline/{{model}}" }}
groups:
  diabetes:
    retries: {{ max_retries: 0 }}
    members:
      - {{ name: gbr, role: champion, provider: mlserver, model: gbr, weight: 50, explain: {gbr} }}
      - {{ name: linear, role: challenger, provider: mlserver, model: linear, weight: 50, explain: {linear} }}
  plain:
    members: [ {{ name: gbr, role: champion, provider: mlserver, model: gbr, weight: 1 }} ]
  slow:
    members: [ {{ name: gbr, role: champion, provider: mlserver, model: gbr, weight: 1, explain: {slow} }} ]
  down:
    members: [ {{ name: gbr, role: champion, provider: mlserver, model: gbr, weight: 1, explain: {down} }} ]
  unsampled:
    members: [ {{ name: gbr, role: champion, provider: mlserver, model: gbr, weight: 1, explain: {{ provider: shapsvc, sample_percent: 0 }} }} ]
  clf:
    members: [ {{ name: rf, role: champion, provider: inline, model: clf, weight: 1 }} ]
records:
  clickhouse: {{ url: "{url}", database: {database} }}
  spool: {{ dir: "{spool}", fsync_interval_ms: 10 }}
  batch: {{ max_delay_ms: 100 }}
{admin}"#,
        gbr = explain("shapsvc", "gbr", 20_000, 64),
        linear = explain("shapsvc", "linear", 20_000, 64),
        slow = explain("shapsvc", "slow", 1_000, 4),
        down = explain("dead", "gbr", 1_000, 4),
        url = ch_url(),
        spool = spool.display(),
        admin = admin_yaml(),
    )
}

async fn start(test: &str) -> (TestGateway, String, &'static Value) {
    let h = harness().await;
    let db = unique_db(test);
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = config(h, &db, &dir.path().join("spool"));
    (TestGateway::start_with_control_in(dir, &yaml).await, db, h)
}

fn rows(h: &Value) -> Vec<Vec<f64>> {
    serde_json::from_value(h["rows"].clone()).expect("rows")
}

fn oip_body(rows: &[Vec<f64>]) -> String {
    let width = rows.first().map_or(0, Vec::len);
    json!({"inputs": [{"name": "input-0", "shape": [rows.len(), width], "datatype": "FP64",
        "data": rows.iter().flatten().collect::<Vec<_>>()}]})
    .to_string()
}

fn flat(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(flat).collect(),
        other => other.as_f64().into_iter().collect(),
    }
}

/// One answered request: who served it, which rows, what the client got.
struct Sent {
    id: String,
    member: String,
    rows: Vec<usize>,
    outputs: Vec<f64>,
}

async fn infer(gw: &TestGateway, group: &str, body: String) -> (reqwest::Response, Duration) {
    let started = Instant::now();
    let r = client().post(gw.url(&format!("/v2/models/{group}/infer"))).body(body).send().await.expect("send");
    (r, started.elapsed())
}

async fn detail(api: &Api, id: &str) -> Value {
    api.get(&format!("/inferences/{id}"), ADMIN).send().await.expect("detail").json().await.expect("json")
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shap_values_are_stored_exactly_add_up_and_rank_each_arm() {
    let (gw, db, h) = start("xshap").await;
    let api = Api::new(&gw);
    let (rows, names) = (rows(h), h["feature_names"].clone());
    // One request per row, then a batch of four rows (instances 0..3 of one request).
    let mut batches: Vec<Vec<usize>> = (0..rows.len()).map(|i| vec![i]).collect();
    batches.push(vec![0, 1, 2, 3]);
    let mut sent = Vec::new();
    for batch in batches {
        let body = oip_body(&batch.iter().map(|&i| rows[i].clone()).collect::<Vec<_>>());
        let (r, _) = infer(&gw, "diabetes", body).await;
        assert_eq!(r.status(), 200);
        let member = r.headers()["x-switchyard-member"].to_str().expect("member").to_owned();
        let id = r.headers()["x-switchyard-request-id"].to_str().expect("id").to_owned();
        let answer: Value = r.json().await.expect("json");
        sent.push(Sent { id, member, rows: batch, outputs: flat(&answer["outputs"][0]["data"]) });
    }
    let arms: BTreeMap<&str, usize> = sent.iter().fold(BTreeMap::new(), |mut m, s| {
        *m.entry(s.member.as_str()).or_default() += 1;
        m
    });
    assert_eq!(arms.len(), 2, "both arms served: {arms:?}");
    // Every explanation lands (the explainer runs after the answer; then spool, ClickHouse).
    let mut details = Vec::new();
    for s in &sent {
        let mut d = Value::Null;
        let landed = eventually(Duration::from_secs(60), async || {
            d = detail(&api, &s.id).await;
            d["attributions"].as_array().is_some_and(|a| a.len() == s.rows.len())
        })
        .await;
        assert!(landed, "explanation of {} never stored: {d}", s.id);
        details.push(d);
    }
    let (mut checked, mut worst_shap, mut worst_sum) = (0, 0f64, 0f64);
    for (s, d) in sent.iter().zip(&details) {
        let reference = &h["reference"][&s.member];
        let base = reference["base"].as_f64().expect("base");
        for (k, set) in d["attributions"].as_array().expect("sets").iter().enumerate() {
            let row = s.rows[k];
            assert_eq!((set["instance"].as_u64(), set["output"].as_u64()), (Some(k as u64), Some(0)));
            assert_eq!((set["method"].as_str(), set["source"].as_str()), (Some("shap"), Some("explainer")));
            assert_eq!(set["names"], names);
            let values = flat(&set["values"]);
            let expected = flat(&reference["shap"][row]);
            for (v, e) in values.iter().zip(&expected) {
                worst_shap = worst_shap.max((v - e).abs());
                assert!(close(*v, *e, 1e-6), "{}: stored {v}, shap {e}", s.member);
            }
            let stored_base = set["base_value"].as_f64().expect("base_value");
            assert!(close(stored_base, base, 1e-6));
            // Additivity against what MLServer told the client.
            let sum = stored_base + values.iter().sum::<f64>();
            worst_sum = worst_sum.max((sum - s.outputs[k]).abs());
            assert!(close(sum, s.outputs[k], 1e-6), "{}: base + Σ = {sum}, model said {}", s.member, s.outputs[k]);
            assert!(close(set["output_value"].as_f64().expect("output_value"), s.outputs[k], 1e-9));
            checked += 1;
        }
    }
    eprintln!(
        "{checked} stored explanations: max |stored - shap| = {worst_shap:e}, max |base + Σ - output| = {worst_sum:e}"
    );

    // Per-arm ranking from the API against mean |SHAP| computed here on the same rows.
    let report: Value = api
        .get("/groups/diabetes/explanations?since=0&until=99999999999999&top=10", ADMIN)
        .send()
        .await
        .expect("report")
        .json()
        .await
        .expect("json");
    let names: Vec<String> = serde_json::from_value(names).expect("names");
    let mut offline: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for member in arms.keys() {
        let cells: Vec<usize> = sent.iter().filter(|s| s.member == *member).flat_map(|s| s.rows.clone()).collect();
        let mut means: Vec<(String, f64)> = names
            .iter()
            .enumerate()
            .map(|(j, f)| {
                let sum: f64 = cells.iter().map(|&r| flat(&h["reference"][*member]["shap"][r])[j].abs()).sum();
                (f.clone(), sum / cells.len() as f64)
            })
            .collect();
        means.sort_by(|a, b| b.1.total_cmp(&a.1));
        let arm = report["members"].as_array().expect("members").iter().find(|m| m["member"] == *member).expect("arm");
        let api_ranking: Vec<(String, f64)> = arm["features"]
            .as_array()
            .expect("features")
            .iter()
            .map(|f| (f["feature"].as_str().expect("feature").to_owned(), f["mean_abs"].as_f64().expect("mean")))
            .collect();
        assert_eq!(
            api_ranking.iter().map(|f| &f.0).collect::<Vec<_>>(),
            means.iter().map(|f| &f.0).collect::<Vec<_>>(),
            "{member}"
        );
        for (a, m) in api_ranking.iter().zip(&means) {
            assert!(close(a.1, m.1, 1e-9), "{member} {}: api {} offline {}", a.0, a.1, m.1);
        }
        let f0 = &arm["features"][0];
        assert_eq!(f0["n"].as_u64(), Some(cells.len() as u64));
        assert!(f0["ci_low"].as_f64() <= f0["mean_abs"].as_f64() && f0["mean_abs"].as_f64() <= f0["ci_high"].as_f64());
        assert_eq!(arm["samples"].as_u64(), Some(arms[member] as u64));
        offline.insert((*member).to_owned(), means);
    }
    let cmp = &report["comparisons"][0];
    assert_eq!((cmp["champion"].as_str(), cmp["challenger"].as_str()), (Some("gbr"), Some("linear")));
    assert_eq!(cmp["common_features"].as_u64(), Some(10));
    let rho = cmp["rank_correlation"].as_f64().expect("rho");
    let rank_of = |m: &str, f: &str| offline[m].iter().position(|x| x.0 == f).expect("rank") as f64;
    let d2: f64 = names.iter().map(|f| (rank_of("gbr", f) - rank_of("linear", f)).powi(2)).sum();
    let rho_offline = 1.0 - 6.0 * d2 / (10.0 * (100.0 - 1.0)); // no ties among real-valued means
    assert!(close(rho, rho_offline, 1e-9), "api ρ {rho}, offline {rho_offline}");
    assert!(!report["daily"].as_array().expect("daily").is_empty());
    eprintln!("champion vs challenger: ρ = {rho:.3}; most different: {}", cmp["most_different"][0]["feature"]);
    let m = gw.metrics().await;
    let explained = |member: &str| {
        metric(
            &m,
            &format!("switchyard_explanations_total{{group=\"diabetes\",member=\"{member}\",outcome=\"explained\"}}"),
        )
    };
    assert_eq!(explained("gbr"), Some(arms["gbr"] as f64));
    assert_eq!(explained("linear"), Some(arms["linear"] as f64));
    gw.stop().await;
    Ch::new(&ch_url()).drop_db(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_or_dead_explainer_never_slows_a_client_and_loses_nothing() {
    let (gw, db, h) = start("xslow").await;
    let row = oip_body(&rows(h)[..1]);
    const N: usize = 150;
    let mut latency: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    for _ in 0..N {
        // Interleaved, so drift on a shared machine hits every group alike.
        for group in ["plain", "slow", "down", "unsampled"] {
            let (r, took) = infer(&gw, group, row.clone()).await;
            assert_eq!(r.status(), 200, "{group}");
            r.bytes().await.expect("body");
            latency.entry(group).or_default().push(took);
        }
    }
    let mut p99 = BTreeMap::new();
    for (group, samples) in &mut latency {
        let (p50, p) = (percentile_ms(samples, 0.5), percentile_ms(samples, 0.99));
        eprintln!("{group:>5}: p50 {p50:.2} ms, p99 {p:.2} ms over {N} requests");
        p99.insert(*group, p);
    }
    // A 5 s explainer on the path would add 5000 ms; noise on a shared 2-core box is a few ms.
    for group in ["slow", "down"] {
        assert!(p99[group] <= 2.0 * p99["plain"] + 20.0, "{group} p99 {} vs plain {}", p99[group], p99["plain"]);
    }
    let counted = |m: &str, group: &str, outcome: &str| {
        metric(m, &format!("switchyard_explanations_total{{group=\"{group}\",member=\"gbr\",outcome=\"{outcome}\"}}"))
            .unwrap_or(0.0) as usize
    };
    let mut text = String::new();
    let settled = eventually(Duration::from_secs(15), async || {
        text = gw.metrics().await;
        counted(&text, "slow", "timeout") + counted(&text, "slow", "busy") == N
            && counted(&text, "down", "failed") + counted(&text, "down", "busy") == N
    })
    .await;
    assert!(
        settled,
        "every skipped or failed call is counted:\n{}",
        text.lines().filter(|l| l.contains("explanations_total")).collect::<Vec<_>>().join("\n")
    );
    for group in ["slow", "down"] {
        assert_eq!(counted(&text, group, "explained"), 0);
        eprintln!(
            "{group}: timeout {}, failed {}, busy {}",
            counted(&text, group, "timeout"),
            counted(&text, group, "failed"),
            counted(&text, group, "busy")
        );
    }
    assert_eq!(counted(&text, "plain", "not_sampled"), 0, "no explainer, no counts");
    assert_eq!(counted(&text, "unsampled", "not_sampled"), N, "sample_percent 0: every answer counted, none sent");
    let ch = Ch::new(&ch_url());
    let stored = eventually(Duration::from_secs(30), async || {
        ch.scalar(&db, "SELECT uniqExact(request_id) FROM inferences").await == (4 * N) as u64
    })
    .await;
    assert!(stored, "every record reaches ClickHouse");
    gw.stop().await;
    ch.drop_db(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_attributions_of_every_instance_and_output_are_stored() {
    let (gw, db, h) = start("xinline").await;
    let api = Api::new(&gw);
    let clf = &h["clf"];
    let rows: Vec<Vec<f64>> = serde_json::from_value(clf["rows"].clone()).expect("rows");
    let (r, _) = infer(&gw, "clf", oip_body(&rows)).await;
    assert_eq!(r.status(), 200);
    let id = r.headers()["x-switchyard-request-id"].to_str().expect("id").to_owned();
    let mut d = Value::Null;
    assert!(
        eventually(Duration::from_secs(30), async || {
            d = detail(&api, &id).await;
            d["attributions"].as_array().is_some_and(|a| a.len() == 6)
        })
        .await,
        "{d}"
    );
    let features = clf["feature_names"].as_array().expect("names").len();
    for set in d["attributions"].as_array().expect("sets") {
        let (i, o) = (set["instance"].as_u64().expect("i") as usize, set["output"].as_u64().expect("o") as usize);
        assert_eq!((set["source"].as_str(), set["method"].as_str()), (Some("inline"), Some("shap")));
        assert_eq!(set["names"], clf["feature_names"]);
        let expected: Vec<f64> = (0..features).map(|j| clf["shap"][i][j][o].as_f64().expect("shap")).collect();
        assert_eq!(flat(&set["values"]), expected, "instance {i} output {o}");
        assert_eq!(set["output_value"].as_f64(), clf["proba"][i][o].as_f64());
    }
    let ch = Ch::new(&ch_url());
    let rows_stored =
        ch.scalar(&db, &format!("SELECT count() FROM explanations FINAL WHERE request_id = '{id}'")).await;
    assert_eq!(rows_stored, (3 * 2 * features) as u64, "3 instances × 2 outputs × {features} features");
    gw.stop().await;
    ch.drop_db(&db).await;
}
