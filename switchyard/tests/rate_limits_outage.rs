//! Redis stopped (and paused) mid-run under a gateway with `backend: redis` (issue 16): each
//! `on_error` policy is honoured — `allow` serves requests uncounted (no `x-ratelimit-*`
//! headers), `deny` answers 503 with `retry-after` — no request waits longer than the
//! timeout (measured at the gateway: every record's total time), and counting resumes when
//! Redis answers again. The test runs its own Redis (`scripts/redis.sh` on its own port and
//! directory) so stopping it disturbs no other test.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use switchyard_testkit::redis::{redis_url, unique_prefix, PrivateRedis};
use switchyard_testkit::{chat, client, TestGateway};

const PORT: u16 = 16401;
const TIMEOUT_MS: u64 = 50;
/// Timer granularity and scheduling on a shared 2-core machine, on top of the timeout.
const SLACK_MS: u64 = 50;

fn yaml(url: &str, policy: &str) -> String {
    format!(
        r#"
providers:
  mock: {{ kind: mock }}
groups:
  g:
    members: [ {{ name: champ, role: champion, provider: mock, weight: 1 }} ]
rate_limits:
  backend: redis
  redis: {{ url: "{url}", on_error: {policy}, timeout_ms: {TIMEOUT_MS}, key_prefix: "{}" }}
  rules:
    - {{ name: g-rps, scope: group, requests: 100000, per: second }}
"#,
        unique_prefix(&format!("outage-{policy}"))
    )
}

/// How requests fared over a period.
#[derive(Debug, Default)]
struct Tally {
    /// 200 with `x-ratelimit-*`: counted in Redis.
    checked: usize,
    /// 200 without them: admitted uncounted (`on_error: allow`).
    unchecked: usize,
    /// 503 with `retry-after: 1` (`on_error: deny`).
    denied: usize,
    slowest: Duration,
}

/// Sends requests to both gateways (allow, deny) in turn for `period`.
async fn run(gws: &[TestGateway; 2], period: Duration) -> [Tally; 2] {
    let c = client();
    let mut tallies = [Tally::default(), Tally::default()];
    let until = Instant::now() + period;
    while Instant::now() < until {
        for (gw, tally) in gws.iter().zip(tallies.iter_mut()) {
            let started = Instant::now();
            let r = c.post(gw.url("/v1/chat/completions")).body(chat("g")).send().await.expect("send");
            tally.slowest = tally.slowest.max(started.elapsed());
            match (r.status(), r.headers().contains_key("x-ratelimit-limit-requests")) {
                (StatusCode::OK, true) => tally.checked += 1,
                (StatusCode::OK, false) => tally.unchecked += 1,
                (StatusCode::SERVICE_UNAVAILABLE, _) => {
                    assert_eq!(r.headers()["retry-after"], "1");
                    let body: serde_json::Value = r.json().await.expect("json");
                    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
                    tally.denied += 1;
                }
                (status, _) => panic!("unexpected {status}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tallies
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{series} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_or_paused_mid_run_honours_each_policy_within_the_timeout_and_recovers() {
    let _ = redis_url();
    let server = Arc::new(tokio::task::spawn_blocking(|| PrivateRedis::start(PORT)).await.expect("start"));
    let gws = [
        TestGateway::start(&yaml(&server.url(), "allow")).await,
        TestGateway::start(&yaml(&server.url(), "deny")).await,
    ];

    let [allow, deny] = run(&gws, Duration::from_millis(500)).await;
    eprintln!("redis up: allow {allow:?}, deny {deny:?}");
    assert!(allow.checked > 10 && allow.unchecked == 0 && deny.checked > 10 && deny.denied == 0);

    let stopping = server.clone();
    tokio::task::spawn_blocking(move || stopping.script("stop")).await.expect("stop");
    let [allow, deny] = run(&gws, Duration::from_millis(1_500)).await;
    eprintln!("redis stopped: allow {allow:?}, deny {deny:?}");
    assert!(allow.unchecked > 50 && allow.checked == 0, "{allow:?}");
    assert!(deny.denied > 50 && deny.checked == 0, "{deny:?}");
    let (allowed, denied) = (allow.unchecked, deny.denied);

    let starting = server.clone();
    tokio::task::spawn_blocking(move || starting.script("start")).await.expect("start");
    let recovered = Instant::now();
    loop {
        let [allow, deny] = run(&gws, Duration::from_millis(1)).await;
        if allow.checked == 1 && deny.checked == 1 {
            break;
        }
        assert!(recovered.elapsed() < Duration::from_secs(10), "no recovery within 10 s");
    }
    eprintln!("counting again {:?} after Redis was started", recovered.elapsed());

    // A Redis that answers late (every command held for 800 ms) is cut at the timeout.
    let paused = std::process::Command::new("redis-cli")
        .args(["-p", &PORT.to_string(), "client", "pause", "800", "all"])
        .output()
        .expect("redis-cli");
    assert!(paused.status.success(), "{paused:?}");
    let [allow, deny] = run(&gws, Duration::from_millis(500)).await;
    eprintln!("redis paused: allow {allow:?}, deny {deny:?}");
    assert!(allow.unchecked > 5 && deny.denied > 5, "{allow:?} {deny:?}");

    let metrics = [gws[0].metrics().await, gws[1].metrics().await];
    let outcome = |i: usize, o: &str| {
        metric(&metrics[i], &format!("switchyard_rate_limit_backend_errors_total{{outcome=\"{o}\"}}"))
    };
    assert!(outcome(0, "allowed") >= (allowed + allow.unchecked) as f64, "{}", metrics[0]);
    assert!(outcome(1, "denied") >= (denied + deny.denied) as f64, "{}", metrics[1]);

    // At the gateway: no request took longer than the timeout (plus slack), whatever Redis did.
    for gw in gws {
        let dir = gw.stop().await;
        let records = TestGateway::records(&dir);
        let slowest = records.iter().map(|r| r.total_us).max().unwrap_or_default();
        let limited = records.iter().filter(|r| r.status == 503).count();
        eprintln!("{} records, {limited} denied, slowest {:.1} ms at the gateway", records.len(), slowest as f64 / 1e3);
        assert!(slowest <= (TIMEOUT_MS + SLACK_MS) * 1_000, "a request took {slowest} µs at the gateway");
    }
}
