//! `POST /v1/feedback` scoped to the caller's tenant (issue 11, "Found", third bullet):
//!
//! - a request id is signed for its client's tenant; another tenant's feedback on it gets
//!   404, with the same answer as for an id that exists nowhere;
//! - forged ids get 404: the unsigned id, a tampered tag, the client's own `x-request-id`;
//! - the own tenant's feedback is accepted on another replica sharing the master key, at
//!   once (no lookup, nothing shipped yet);
//! - repeats per (request, metric) are bounded (429 beyond);
//! - the last value per (request, metric) wins in the experiment report.
//!
//! Needs `SWITCHYARD_TEST_CLICKHOUSE_URL`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use switchyard_testkit::clickhouse::{ch_url, records_yaml, unique_db, Ch};
use switchyard_testkit::control::{admin_yaml, hash, Api, ADMIN};
use switchyard_testkit::{chat, client, TestGateway};

const KEY_A: &str = "sk-tenant-acme-feedback";
const KEY_B: &str = "sk-tenant-globex-feedback";

fn yaml(database: &str, spool: &std::path::Path) -> String {
    format!(
        r#"
providers:
  mock: {{ kind: mock }}
groups:
  g:
    members:
      - {{ name: champ, role: champion, provider: mock, weight: 50 }}
      - {{ name: chall, role: challenger, provider: mock, weight: 50 }}
clients:
  - {{ name: app-a, key_sha256: "{}", groups: ["*"], tenant: acme }}
  - {{ name: app-b, key_sha256: "{}", groups: ["*"], tenant: globex }}
{}{}"#,
        hash(KEY_A),
        hash(KEY_B),
        records_yaml(&ch_url(), database, spool, ", fsync_interval_ms: 10"),
        admin_yaml()
    )
}

/// One inference as `key`: (signed request id, member).
async fn infer(gw: &TestGateway, key: &str, client_id: Option<&str>) -> (String, String) {
    let mut req = client().post(gw.url("/v1/chat/completions")).bearer_auth(key).body(chat("g"));
    if let Some(id) = client_id {
        req = req.header("x-request-id", id);
    }
    let r = req.send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let h = |n: &str| r.headers()[n].to_str().expect("ascii").to_owned();
    if let Some(id) = client_id {
        assert_eq!(h("x-request-id"), id, "the client's id is echoed");
    }
    (h("x-switchyard-request-id"), h("x-switchyard-member"))
}

async fn feedback(gw: &TestGateway, key: &str, id: &str, metric: &str, value: f64) -> (StatusCode, Value) {
    let body = json!({"request_id": id, "metric": metric, "value": value});
    let r = client().post(gw.url("/v1/feedback")).bearer_auth(key).json(&body).send().await.expect("send");
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_names_only_the_callers_tenants_inferences_and_the_last_value_wins() {
    std::env::set_var("SWITCHYARD_MASTER_KEY", "44".repeat(32));
    let database = unique_db("feedback_scope");
    let (dir1, dir2) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let yaml1 = yaml(&database, &dir1.path().join("spool"));
    let yaml2 = yaml(&database, &dir2.path().join("spool"));
    let gw = TestGateway::start_with_control_in(dir1, &yaml1).await;
    let other_replica = TestGateway::start_in(dir2, &yaml2).await;

    let (id_a, _) = infer(&gw, KEY_A, None).await;
    let (id_b, _) = infer(&gw, KEY_B, None).await;
    assert_eq!(id_a.len(), 48, "a signed id: 32 hex digits and a 16-digit tag: {id_a}");
    assert!(id_a.bytes().all(|b| b.is_ascii_hexdigit()));

    // Another tenant: 404, the same answer as for an id that exists nowhere.
    let (cross, cross_body) = feedback(&gw, KEY_B, &id_a, "thumbs", 1.0).await;
    assert_eq!(cross, StatusCode::NOT_FOUND, "{cross_body}");
    let nowhere = format!("{}{}", &id_a[..12], "e".repeat(36));
    let (status, body) = feedback(&gw, KEY_B, &nowhere, "thumbs", 1.0).await;
    assert_eq!((status, &body), (StatusCode::NOT_FOUND, &cross_body), "indistinguishable");
    assert_eq!(feedback(&gw, KEY_A, &id_b, "thumbs", 1.0).await.0, StatusCode::NOT_FOUND);

    // Forged ids: unsigned, a tampered tag, the tag of another id, the client's own id.
    let (own_id, _) = infer(&gw, KEY_A, Some("client-chosen-id-1")).await;
    let tampered = format!("{}{}", &id_a[..47], if id_a.ends_with('0') { '1' } else { '0' });
    let spliced = format!("{}{}", &own_id[..32], &id_a[32..]);
    for forged in [&id_a[..32], tampered.as_str(), spliced.as_str(), "client-chosen-id-1", &id_a.to_uppercase()] {
        let (status, body) = feedback(&gw, KEY_A, forged, "thumbs", 1.0).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{forged}: {body}");
    }

    // The own tenant: accepted at once, on another replica too (no lookup, nothing shipped).
    let (status, body) = feedback(&other_replica, KEY_A, &id_a, "thumbs", 0.0).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(feedback(&gw, KEY_B, &id_b, "thumbs", 1.0).await.0, StatusCode::ACCEPTED);

    // Repeats per (request, metric) are bounded: 16 values, then 429; other metrics unaffected.
    for i in 0..16 {
        assert_eq!(feedback(&gw, KEY_A, &own_id, "stars", f64::from(i)).await.0, StatusCode::ACCEPTED, "repeat {i}");
    }
    let (status, body) = feedback(&gw, KEY_A, &own_id, "stars", 1.0).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(feedback(&gw, KEY_A, &own_id, "thumbs", 1.0).await.0, StatusCode::ACCEPTED);

    // Last value wins: every request of tenant A gets thumbs 0, then thumbs 1.
    let mut requests: BTreeMap<String, String> = BTreeMap::new(); // id -> member
    for _ in 0..8 {
        let (id, member) = infer(&gw, KEY_A, None).await;
        requests.insert(id, member);
    }
    for value in [0.0, 1.0] {
        for id in requests.keys() {
            assert_eq!(feedback(&gw, KEY_A, id, "thumbs", value).await.0, StatusCode::ACCEPTED);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Also the first request of A (0 on the other replica, then 1 here).
    assert_eq!(feedback(&gw, KEY_A, &id_a, "thumbs", 1.0).await.0, StatusCode::ACCEPTED);
    let feedback_rows = 1 + 1 + 16 + 1 + 2 * requests.len() + 1;
    let ch = Ch::new(&ch_url());
    let started = Instant::now();
    while !ch
        .try_query(&database, "SELECT count() FROM feedback")
        .await
        .is_ok_and(|n| n.trim() == feedback_rows.to_string())
    {
        assert!(started.elapsed() < Duration::from_secs(30), "{feedback_rows} feedback rows within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every value is kept.
    let stored = ch.try_query(&database, "SELECT count() FROM feedback WHERE metric = 'thumbs'").await.expect("query");
    assert_eq!(stored.trim(), (4 + 2 * requests.len()).to_string());

    let r = Api::new(&gw).get("/groups/g/experiment", ADMIN).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let report: Value = r.json().await.expect("json");
    let mut thumbs_samples = 0;
    for m in report["members"].as_array().expect("members") {
        let Some(fb) = m["feedback"].as_array().and_then(|f| f.iter().find(|f| f["metric"] == "thumbs")) else {
            continue;
        };
        // Each request's last thumbs is 1 (tenant B's one request too): the mean is 1, not 0.5.
        assert_eq!(fb["mean"].as_f64(), Some(1.0), "member {}: {fb}", m["member"]);
        thumbs_samples += fb["samples"].as_u64().expect("samples");
    }
    // Requests with thumbs: A's 8 + id_a + own_id + B's id_b, one sample each.
    assert_eq!(thumbs_samples, requests.len() as u64 + 3, "{report}");
    other_replica.stop().await;
    gw.stop().await;
}
