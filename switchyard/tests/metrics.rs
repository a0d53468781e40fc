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

/// Every way a request can leave early is counted once in `switchyard_requests_total`:
/// with `_none` labels before a group is known, with the group's label after.
#[tokio::test]
async fn every_early_exit_is_counted() {
    use switchyard_testkit::errors::{with_clients, BATCH_KEY, WEB_KEY};
    let gw = TestGateway::start(&with_clients()).await;
    let c = client();
    let post = |path: &str, key: Option<&str>, body: String| {
        let mut req = c.post(gw.url(path)).body(body);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        req
    };
    let chat = switchyard_testkit::chat;
    // (request, status, group label)
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (post("/v1/chat/completions", None, chat("g")), 401, "_none"),
        (c.get(gw.url("/v1/models")), 401, "_none"),
        (post("/v1/chat/completions", Some("sk-wrong"), chat("g")), 401, "_none"),
        (post("/v1/chat/completions", Some(BATCH_KEY), chat("g")), 403, "g"),
        (post("/v1/chat/completions", Some(WEB_KEY), chat("nope")), 404, "_none"),
        (post("/v1/nowhere", Some(WEB_KEY), chat("g")), 404, "_none"),
        (c.get(gw.url("/v1/chat/completions")), 405, "_none"),
        (post("/v1/chat/completions", Some(WEB_KEY), "x".repeat(2048)), 413, "_none"),
        (post("/v1/chat/completions", Some(WEB_KEY), "{not json".into()), 400, "_none"),
        (post("/v1/chat/completions", Some(WEB_KEY), r#"{"messages":[]}"#.into()), 400, "_none"),
        (c.get(gw.url("/v1/models")).bearer_auth(WEB_KEY), 200, "_none"),
    ];
    let mut expected: std::collections::BTreeMap<(String, &str), f64> = Default::default();
    for (req, status, group) in cases {
        let r = req.send().await.expect("send");
        assert_eq!(r.status().as_u16(), status, "{:?}", r.url());
        let class = format!("{}xx", status / 100);
        *expected.entry((class, group)).or_default() += 1.0;
    }
    let m = gw.metrics().await;
    for ((class, group), n) in expected {
        let series =
            format!(r#"switchyard_requests_total{{code="{class}",group="{group}",member="_none",role="_none"}}"#);
        assert_eq!(value(&m, &series), n, "{series}");
    }
    gw.stop().await;
}
