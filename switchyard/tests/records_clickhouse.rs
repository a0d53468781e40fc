//! Inference records from the real gateway into the real ClickHouse server (issue 3,
//! "What must be shown"):
//!
//! - row parity: N requests (two groups, champion and challenger, streamed and not,
//!   pinned, sticky and random, upstream failures) → exactly N rows, field by field what
//!   the client saw; feedback joins by request id; `records_total{outcome="shipped"}`;
//!
//! `switchyard migrate`, `when_full` and spool corruption are in `records_migrate_spool.rs`.
//!
//! Needs `SWITCHYARD_TEST_CLICKHOUSE_URL` (`scripts/clickhouse.sh start`); every test
//! uses its own database.

// `is_multiple_of` is newer than the workspace's rust-version (1.85).
#![allow(clippy::manual_is_multiple_of)]

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use switchyard_records::group_table;
use switchyard_testkit::clickhouse::{ch_url, records_total, records_yaml, unique_db, Ch};
use switchyard_testkit::{client, eventually, TestGateway};

const CLIENT_KEY: &str = "sk-records-parity-test";

/// What the client saw of one inference.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    request_id: String,
    group: String,
    member: String,
    role: String,
    assignment: String,
    config_version: u64,
    status: u16,
    stream: bool,
    endpoint: &'static str,
    input_tokens: Option<u32>,
    output_tokens: Option<u32>,
    /// `model` of a successful answer (the member's upstream model).
    model: Option<String>,
}

fn parity_yaml(url: &str, db: &str, spool: &std::path::Path) -> String {
    let key_sha = hex::encode(Sha256::digest(CLIENT_KEY.as_bytes()));
    format!(
        r#"
providers:
  small: {{ kind: mock, input_tokens: 7, output_tokens: 11, stream_chunks: 3 }}
  large: {{ kind: mock, input_tokens: 13, output_tokens: 17, stream_chunks: 2 }}
  broken: {{ kind: mock, error_rate: 1.0 }}
groups:
  alpha:
    members:
      - {{ name: champ, role: champion, provider: large, model: large-v1, weight: 70 }}
      - {{ name: chall, role: challenger, provider: small, model: small-v2, weight: 30 }}
  beta-bot:
    assignment: {{ sticky_key: header:x-user-id }}
    members:
      - {{ name: champ, role: champion, provider: small, model: small-v2, weight: 60 }}
      - {{ name: flaky, role: challenger, provider: broken, model: broken-v0, weight: 40 }}
clients:
  - {{ name: parity-app, key_sha256: "{key_sha}", groups: [alpha, beta-bot], tenant: acme }}
{}"#,
        records_yaml(url, db, spool, ", fsync_interval_ms: 20")
    )
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .unwrap_or_else(|| panic!("response {} lacks {name}: {:?}", resp.status(), resp.headers()))
        .to_str()
        .expect("ascii header")
        .to_owned()
}

/// Token usage in a JSON answer or in the SSE events of a streamed one.
fn usage_of(body: &str, stream: bool) -> (Option<u32>, Option<u32>, Option<String>) {
    let docs: Vec<serde_json::Value> = if stream {
        body.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).expect("SSE event is JSON"))
            .collect()
    } else {
        vec![serde_json::from_str(body).expect("body is JSON")]
    };
    let usage = docs.iter().rev().find_map(|d| d.get("usage").filter(|u| !u.is_null()));
    let n = |k: &str| usage.and_then(|u| u[k].as_u64()).map(|v| u32::try_from(v).expect("u32"));
    let model = docs.iter().find_map(|d| d["model"].as_str().map(str::to_owned));
    (n("prompt_tokens"), n("completion_tokens"), model)
}

/// Request `i` of the mix: group, endpoint, streaming, pinning and sticky keys vary.
async fn send(c: &reqwest::Client, base: &str, i: usize) -> Seen {
    let group = if i % 3 == 0 { "beta-bot" } else { "alpha" };
    let stream = i % 2 == 0;
    let (path, endpoint, body) = if i % 5 == 4 {
        ("/v1/completions", "completions", format!(r#"{{"model":"{group}","prompt":"hi","stream":{stream}}}"#))
    } else {
        (
            "/v1/chat/completions",
            "chat.completions",
            format!(r#"{{"model":"{group}","stream":{stream},"messages":[{{"role":"user","content":"hi {i}"}}]}}"#),
        )
    };
    let mut req = c.post(format!("{base}{path}")).bearer_auth(CLIENT_KEY).body(body);
    if i % 7 == 0 {
        req = req.header("x-switchyard-member", if group == "alpha" { "chall" } else { "flaky" });
    } else if group == "beta-bot" && i % 4 != 0 {
        req = req.header("x-user-id", format!("user-{}", i % 13));
    } else if group == "alpha" && i % 4 == 1 {
        req = req.header("x-switchyard-sticky-key", format!("key-{}", i % 11));
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let seen = |resp: &reqwest::Response| Seen {
        request_id: header(resp, "x-switchyard-request-id"),
        group: header(resp, "x-switchyard-group"),
        member: header(resp, "x-switchyard-member"),
        role: header(resp, "x-switchyard-role"),
        assignment: header(resp, "x-switchyard-assignment"),
        config_version: header(resp, "x-switchyard-config-version").parse().expect("version"),
        status,
        stream,
        endpoint,
        input_tokens: None,
        output_tokens: None,
        model: None,
    };
    let mut out = seen(&resp);
    let text = resp.text().await.expect("body");
    if status == 200 {
        (out.input_tokens, out.output_tokens, out.model) = usage_of(&text, stream);
        assert!(out.input_tokens.is_some(), "request {i}: no usage in {text}");
    } else {
        let err: serde_json::Value = serde_json::from_str(&text).expect("error body is JSON");
        assert!(err["error"]["message"].is_string(), "request {i}: {text}");
    }
    out
}

fn opt<T: std::str::FromStr>(v: &str) -> Option<T>
where
    T::Err: std::fmt::Debug,
{
    (v != "\\N").then(|| v.parse().expect("number"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_request_is_one_row_equal_to_what_the_client_saw() {
    const N: usize = 300;
    let ch = Ch::new(&ch_url());
    let db = unique_db("parity");
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = parity_yaml(&ch.url, &db, &dir.path().join("spool"));
    let gw = TestGateway::start_in(dir, &yaml).await;

    let c = client();
    let base = gw.base.clone();
    let seen: Vec<Seen> =
        futures_util::stream::iter(0..N).map(|i| send(&c, &base, i)).buffer_unordered(8).collect().await;
    assert_eq!(seen.len(), N);

    // The mix really is mixed.
    let count = |f: &dyn Fn(&Seen) -> bool| seen.iter().filter(|s| f(s)).count();
    let mix = [
        ("beta-bot", count(&|s| s.group == "beta-bot")),
        ("challenger", count(&|s| s.role.as_str() == "challenger")),
        ("streamed", count(&|s| s.stream)),
        ("pinned", count(&|s| s.assignment.as_str() == "pinned")),
        ("sticky", count(&|s| s.assignment.as_str() == "sticky")),
        ("random", count(&|s| s.assignment.as_str() == "random")),
        ("failed (502)", count(&|s| s.status == 502)),
        ("completions", count(&|s| s.endpoint == "completions")),
    ];
    for (what, n) in mix {
        assert!(n > 0 && n < N, "mix has {n} {what} requests of {N}");
    }
    assert!(seen.iter().all(|s| s.status == 200 || (s.status == 502 && s.member == "flaky")), "{seen:?}");
    eprintln!("parity mix of {N}: {mix:?}");

    // Feedback on every 10th inference, through the data plane.
    let mut feedback: BTreeMap<String, (String, String, f64)> = BTreeMap::new(); // id -> (request, metric, value)
    for (k, s) in seen.iter().enumerate().filter(|(k, _)| k % 10 == 0) {
        let (metric_name, value, json_value) = if k % 20 == 0 {
            ("thumbs_up", 1.0, serde_json::json!(true))
        } else {
            ("csat", k as f64 / 4.0, serde_json::json!(k as f64 / 4.0))
        };
        let body = serde_json::json!({"request_id": s.request_id, "metric": metric_name, "value": json_value});
        let r = c.post(gw.url("/v1/feedback")).bearer_auth(CLIENT_KEY).json(&body).send().await.expect("feedback");
        assert_eq!(r.status(), 202);
        let id = r.json::<serde_json::Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
        feedback.insert(id, (s.request_id.clone(), metric_name.to_owned(), value));
    }
    let f = feedback.len();

    // Everything ships (batches of at most 100 ms).
    let shipped = eventually(Duration::from_secs(30), async || {
        ch.try_query(&db, "SELECT count() FROM inferences").await.is_ok_and(|t| t.trim() == N.to_string())
            && ch.try_query(&db, "SELECT count() FROM feedback").await.is_ok_and(|t| t.trim() == f.to_string())
    })
    .await;
    assert!(shipped, "not all {N} inferences and {f} feedback rows arrived in 30 s");

    // Exactly N rows — physically, after FINAL, and by request id.
    for sql in [
        "SELECT count() FROM inferences",
        "SELECT count() FROM inferences FINAL",
        "SELECT uniqExact(request_id) FROM inferences",
    ] {
        assert_eq!(ch.scalar(&db, sql).await, N as u64, "{sql}");
    }
    // Each group's rows are in its own table (group names sanitised).
    for group in ["alpha", "beta-bot"] {
        let table = group_table(group);
        let want = count(&|s| s.group == group) as u64;
        assert_eq!(ch.scalar(&db, &format!("SELECT count() FROM `{table}` FINAL")).await, want, "{table}");
        let other = ch.scalar(&db, &format!("SELECT count() FROM `{table}` WHERE group_name != '{group}'")).await;
        assert_eq!(other, 0, "{table} holds only {group}");
    }
    assert_eq!(group_table("beta-bot"), "inferences_beta_2dbot");

    // Field by field.
    let rows = ch
        .rows(
            &db,
            "SELECT request_id, group_name, member, role, assignment, config_version, status, stream, endpoint, \
             input_tokens, output_tokens, upstream_model, tenant, client, error_class, sticky_key_hash, \
             total_us >= upstream_us, ttft_us FROM inferences",
        )
        .await;
    assert_eq!(rows.len(), N);
    let by_id: HashMap<&str, &Seen> = seen.iter().map(|s| (s.request_id.as_str(), s)).collect();
    assert_eq!(by_id.len(), N, "request ids are unique");
    for row in &rows {
        let s = by_id.get(row[0].as_str()).unwrap_or_else(|| panic!("row {row:?} is no request the client saw"));
        let stored = Seen {
            request_id: row[0].clone(),
            group: row[1].clone(),
            member: row[2].clone(),
            role: row[3].clone(),
            assignment: row[4].clone(),
            config_version: row[5].parse().expect("version"),
            status: row[6].parse().expect("status"),
            stream: row[7] == "1",
            endpoint: s.endpoint,
            input_tokens: opt(&row[9]),
            output_tokens: opt(&row[10]),
            model: s.model.as_ref().map(|_| row[11].clone()),
        };
        assert_eq!(&stored, *s, "stored row {row:?}");
        assert_eq!(row[8], s.endpoint, "endpoint of {row:?}");
        assert_eq!((row[12].as_str(), row[13].as_str()), ("acme", "parity-app"), "tenant/client of {row:?}");
        assert_eq!(row[14].is_empty(), s.status == 200, "error_class of {row:?}");
        // A sticky request keeps its key's hash even when it fell back to the champion.
        if s.assignment.as_str() == "sticky" {
            assert_ne!(row[15], "0", "sticky_key_hash of {row:?}");
        } else if s.assignment.as_str() != "fallback" {
            assert_eq!(row[15], "0", "sticky_key_hash of {row:?}");
        }
        assert_eq!(row[16], "1", "latencies of {row:?}");
        assert_eq!(row[17] != "\\N", s.stream && s.status == 200, "ttft of {row:?}");
    }

    // Feedback rows, joined to their inference by request id.
    let fb_rows = ch
        .rows(
            &db,
            "SELECT feedback_id, request_id, metric, value, member, tenant, client FROM feedback FINAL \
             ANY INNER JOIN (SELECT request_id, member FROM inferences) AS i USING request_id ORDER BY feedback_id",
        )
        .await;
    assert_eq!(fb_rows.len(), f, "every feedback joins its inference");
    for row in &fb_rows {
        let (request, metric_name, value) = feedback.get(&row[0]).unwrap_or_else(|| panic!("unknown feedback {row:?}"));
        assert_eq!((&row[1], &row[2]), (request, metric_name), "{row:?}");
        assert_eq!(row[3].parse::<f64>().expect("value"), *value, "{row:?}");
        assert_eq!(row[4], by_id[request.as_str()].member, "{row:?}");
        assert_eq!((row[5].as_str(), row[6].as_str()), ("acme", "parity-app"), "{row:?}");
    }

    // The metrics agree.
    let want = (N + f) as u64;
    let mut text = String::new();
    let counted = eventually(Duration::from_secs(10), async || {
        text = gw.metrics().await;
        records_total(&text, "shipped") >= want
    })
    .await;
    assert!(counted, "shipped = {} (want {want})\n{text}", records_total(&text, "shipped"));
    for (outcome, want) in
        [("shipped", want), ("enqueued", want), ("spooled", want), ("dropped", 0), ("dead_letter", 0)]
    {
        assert_eq!(records_total(&text, outcome), want, "records_total{{outcome=\"{outcome}\"}}");
    }
    eprintln!("parity: {N} inferences + {f} feedback → {N} rows (physical = FINAL = uniqExact), {f} feedback joined; shipped {want}");
    gw.stop().await;
    ch.drop_db(&db).await;
}

// === switchyard migrate ===
