//! `/metrics` is valid Prometheus text (checked with `promtool`) and its counters match
//! the requests sent.

use std::io::Write;
use std::process::{Command, Stdio};

use switchyard_testkit::{client, TestGateway};

fn value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("series {series} missing from:\n{metrics}"))
}

#[tokio::test]
async fn metrics_parse_and_match_requests_sent() {
    let yaml = r#"
providers:
  mock: { kind: mock, input_tokens: 4, output_tokens: 6 }
  bad: { kind: mock, error_rate: 1.0 }
groups:
  g:
    members:
      - { name: champ, role: champion, provider: mock, weight: 1 }
      - { name: chall, role: challenger, provider: bad, weight: 0 }
"#;
    let gw = TestGateway::start(yaml).await;
    let c = client();
    for _ in 0..7 {
        let r = c.post(gw.url("/v1/chat/completions")).body(switchyard_testkit::chat("g")).send().await.expect("send");
        assert_eq!(r.status(), 200);
    }
    for _ in 0..2 {
        let r = c
            .post(gw.url("/v1/chat/completions"))
            .header("x-switchyard-member", "chall")
            .body(switchyard_testkit::chat("g"))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 502);
    }
    for _ in 0..3 {
        let r =
            c.post(gw.url("/v1/chat/completions")).body(switchyard_testkit::chat("nope")).send().await.expect("send");
        assert_eq!(r.status(), 404);
    }
    let m = gw.metrics().await;
    assert_eq!(value(&m, r#"switchyard_requests_total{code="2xx",group="g",member="champ",role="champion"}"#), 7.0);
    assert_eq!(value(&m, r#"switchyard_requests_total{code="5xx",group="g",member="chall",role="challenger"}"#), 2.0);
    assert_eq!(value(&m, r#"switchyard_requests_total{code="4xx",group="_none",member="_none",role="_none"}"#), 3.0);
    assert_eq!(value(&m, r#"switchyard_tokens_total{direction="input",group="g",member="champ"}"#), 28.0);
    assert_eq!(value(&m, r#"switchyard_tokens_total{direction="output",group="g",member="champ"}"#), 42.0);
    assert_eq!(value(&m, r#"switchyard_request_duration_seconds_count{group="g",member="champ"}"#), 7.0);
    assert_eq!(value(&m, r#"switchyard_overhead_seconds_count{group="g"}"#), 9.0);
    assert_eq!(value(&m, r#"switchyard_upstream_errors_total{group="g",kind="status",member="chall"}"#), 2.0);
    assert_eq!(value(&m, r#"switchyard_in_flight_requests{group="g"}"#), 0.0);
    assert_eq!(value(&m, "switchyard_config_version"), 1.0);
    assert_eq!(value(&m, r#"switchyard_records_total{outcome="enqueued"}"#), 9.0);

    // promtool is installed by scripts/test.sh (Debian package `prometheus`).
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (run the suite through scripts/test.sh)");
    child.stdin.take().expect("stdin").write_all(m.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    gw.stop().await;
}

#[tokio::test]
async fn health_and_readiness() {
    let gw = TestGateway::start("providers:\n  m: { kind: mock }\ngroups:\n  g: { members: [ { name: a, role: champion, provider: m, weight: 1 } ] }\n").await;
    let r = reqwest::get(format!("{}/healthz", gw.admin)).await.expect("healthz");
    assert_eq!(r.status(), 200);
    let r = reqwest::get(format!("{}/readyz", gw.admin)).await.expect("readyz");
    assert_eq!(r.status(), 200);
    let r = reqwest::get(format!("{}/nope", gw.admin)).await.expect("404");
    assert_eq!(r.status(), 404);
    gw.stop().await;
}
