//! Auto-rollback in a live run against the real ClickHouse: a challenger that fails a quarter
//! of its requests is set to weight 0 by the gateway itself, and the audit log says why.
//! The group's circuit breaker is off so the statistics, not the breaker, must catch it (a
//! run of early failures could otherwise open the breaker and hide the challenger).

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use switchyard_testkit::clickhouse::{ch_url, unique_db, Ch};
use switchyard_testkit::{client, TestGateway};

const ADMIN: &str = "autopilot-admin-token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_challenger_is_rolled_back_and_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = unique_db("autopilot");
    let yaml = format!(
        r#"
providers:
  good: {{ kind: mock }}
  flaky: {{ kind: mock, error_rate: 0.25 }}
groups:
  g:
    members:
      - {{ name: champ, role: champion, provider: good, weight: 50 }}
      - {{ name: flaky, role: challenger, provider: flaky, weight: 50 }}
    breaker: {{ enabled: false }}
    promotion: {{ min_samples_per_arm: 150, min_duration_secs: 0, check_interval_secs: 1 }}
records:
  clickhouse: {{ url: "{}", database: {database} }}
  spool: {{ dir: "{}", fsync_interval_ms: 10 }}
  batch: {{ max_delay_ms: 100 }}
admin:
  tokens: [ {{ name: ops, token_sha256: "{}", role: admin }} ]
"#,
        ch_url(),
        dir.path().join("spool").display(),
        hex::encode(Sha256::digest(ADMIN.as_bytes()))
    );
    let gw = TestGateway::start_with_control_in(dir, &yaml).await;
    let c = client();
    let mut errors = 0;
    for _ in 0..600 {
        let r = c.post(gw.url("/v1/chat/completions")).body(switchyard_testkit::chat("g")).send().await.expect("send");
        if r.status() != 200 {
            errors += 1;
        }
    }
    assert!(errors > 50, "the challenger really fails ({errors} errors)");
    let started = Instant::now();
    let mut rolled_back = None;
    while started.elapsed() < Duration::from_secs(30) {
        let audit: serde_json::Value = c
            .get(format!("{}/api/v1/audit", gw.admin))
            .bearer_auth(ADMIN)
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        if let Some(entry) = audit.as_array().and_then(|a| a.iter().find(|e| e["action"] == "group.auto_rollback")) {
            rolled_back = Some(entry.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let entry = rolled_back.expect("auto-rollback fired within 30 s");
    assert_eq!(entry["actor"], "auto-promotion");
    let reason = entry["reason"].as_str().expect("reason");
    assert!(reason.contains("flaky") && reason.contains("error_rate"), "{reason}");
    let table = gw.gw().store().current();
    let flaky = table.config.groups["g"].members.iter().find(|m| m.name == "flaky").expect("member");
    assert_eq!(flaky.weight, Some(0.0), "the bad challenger gets no more traffic");
    for _ in 0..50 {
        let r = c.post(gw.url("/v1/chat/completions")).body(switchyard_testkit::chat("g")).send().await.expect("send");
        assert_eq!(r.headers()["x-switchyard-member"], "champ");
    }
    let metrics = gw.metrics().await;
    assert!(metrics.contains(r#"switchyard_auto_actions_total{action="rollback",group="g"} 1"#), "{metrics}");
    // The entry is mirrored into ClickHouse's control_audit, its reason included.
    let ch = Ch::new(&ch_url());
    let sql = format!(
        "SELECT actor, target, config_version, reason FROM control_audit \
         WHERE audit_id = '{}'",
        entry["audit_id"].as_str().expect("audit_id")
    );
    let started = Instant::now();
    let mirrored = loop {
        let rows = ch.rows(&database, &sql).await;
        if let Some(row) = rows.into_iter().next() {
            break row;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the audit entry reached ClickHouse within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let version = entry["config_version"].as_u64().expect("config_version").to_string();
    assert_eq!(mirrored, vec!["auto-promotion".to_owned(), "groups.g".to_owned(), version, reason.to_owned()]);
    gw.stop().await;
}
