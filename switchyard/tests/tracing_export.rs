//! Span export under the sampler and against a collector that is down or slow
//! (SPEC §13): ratio 0 exports nothing of requests without a parent decision, ratio 1
//! exports every request; a client's decision (parent-based) is followed either way. A
//! collector that refuses connections or answers slowly costs the requests nothing — they
//! all succeed — and the spans that do not fit the bounded queue are dropped and counted
//! in `switchyard_trace_spans_dropped_total` (0 from start-up).

use std::collections::HashSet;
use std::time::Duration;

use switchyard_testkit::clickhouse::metric;
use switchyard_testkit::fake_server::Fake;
use switchyard_testkit::otel::{traced_calls, Collector, TracedCall};
use switchyard_testkit::process::closed_port;
use switchyard_testkit::{chat, client, eventually, openai_fake, TestGateway};

const WAIT: Duration = Duration::from_secs(10);

fn config(fake: &Fake, tracing: &str) -> String {
    format!(
        r#"
providers:
  a: {{ kind: openai, base_url: "{}" }}
groups:
  chat:
    members:
      - {{ name: champ, role: champion, provider: a, model: gpt-4o, weight: 1 }}
tracing:
{tracing}
"#,
        openai_fake::base_url(fake)
    )
}

/// Sends `n` plain requests (no `traceparent`), `concurrency` at a time; all must succeed.
async fn plain_requests(gw: &TestGateway, n: usize, concurrency: usize) {
    let url = gw.url("/v1/chat/completions");
    for chunk in (0..n).collect::<Vec<_>>().chunks(concurrency) {
        let sends = chunk.iter().map(|_| client().post(&url).body(chat("chat")).send());
        for resp in futures_util::future::join_all(sends).await {
            let resp = resp.expect("send");
            assert_eq!(resp.status(), 200, "a request failed while tracing");
        }
    }
}

fn counter(metrics: &str, series: &str) -> f64 {
    metric(metrics, series).unwrap_or_else(|| panic!("{series} missing from:\n{metrics}"))
}

const DROPPED_FULL: &str = r#"switchyard_trace_spans_dropped_total{reason="queue_full"}"#;
const DROPPED_FAILED: &str = r#"switchyard_trace_spans_dropped_total{reason="export_failed"}"#;
const EXPORTED: &str = "switchyard_trace_spans_exported_total";

#[tokio::test]
async fn ratio_zero_exports_nothing_and_one_exports_every_request() {
    let fake = openai_fake::start().await;
    let collector = Collector::start().await;

    // Ratio 0: requests without a parent are not traced (no trace id either); a client
    // that sampled its span is followed.
    let gw = TestGateway::start(&config(
        &fake,
        &format!("  otlp_endpoint: \"{}\"\n  sample_ratio: 0", collector.endpoint()),
    ))
    .await;
    let m = gw.metrics().await;
    assert_eq!((counter(&m, DROPPED_FULL), counter(&m, DROPPED_FAILED), counter(&m, EXPORTED)), (0.0, 0.0, 0.0));
    plain_requests(&gw, 20, 5).await;
    let call = TracedCall { url: gw.url("/v1/chat/completions"), body: chat("chat"), sampled: true, tracestate: None };
    let followed = traced_calls(&[call]).await.pop().expect("call");
    collector.wait_for(WAIT, |s| s.iter().filter(|x| x.trace_id == followed.trace_id).count() == 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let spans = collector.spans();
    assert!(spans.iter().all(|s| s.trace_id == followed.trace_id), "only the client-sampled trace: {spans:#?}");
    assert_eq!(counter(&gw.metrics().await, EXPORTED), 2.0);
    let dir = gw.stop().await;
    let records = TestGateway::records(&dir);
    assert_eq!(records.len(), 21);
    assert_eq!(records.iter().filter(|r| r.trace_id.is_empty()).count(), 20, "unsampled roots have no trace");
    assert!(records.iter().any(|r| r.trace_id == followed.trace_id));

    // Ratio 1: every request is a trace of a root server span and its attempt; a client
    // that did not sample is followed.
    let collector = Collector::start().await;
    let gw = TestGateway::start(&config(
        &fake,
        &format!("  otlp_endpoint: \"{}\"\n  sample_ratio: 1", collector.endpoint()),
    ))
    .await;
    plain_requests(&gw, 20, 5).await;
    let call = TracedCall { url: gw.url("/v1/chat/completions"), body: chat("chat"), sampled: false, tracestate: None };
    let unsampled = traced_calls(&[call]).await.pop().expect("call");
    let spans = collector.wait_for(WAIT, |s| s.len() >= 40).await;
    let roots: Vec<_> = spans.iter().filter(|s| s.is_server()).collect();
    assert_eq!(roots.len(), 20, "{spans:#?}");
    assert!(roots.iter().all(|r| r.parent_span_id.is_empty()), "no parent: the gateway started each trace");
    for root in &roots {
        let children: Vec<_> = spans.iter().filter(|s| s.parent_span_id == root.span_id).collect();
        assert_eq!(children.len(), 1, "one attempt per request");
        assert_eq!(children[0].trace_id, root.trace_id);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(collector.trace(&unsampled.trace_id).is_empty(), "the client's `not sampled` was followed");
    assert_eq!(counter(&gw.metrics().await, EXPORTED), 40.0);
    let dir = gw.stop().await;
    let recorded: HashSet<String> = TestGateway::records(&dir).into_iter().map(|r| r.trace_id).collect();
    let mut want: HashSet<String> = roots.iter().map(|r| r.trace_id.clone()).collect();
    want.insert(unsampled.trace_id.clone());
    assert_eq!(recorded, want, "every record names its trace");
}

#[tokio::test]
async fn a_collector_that_is_down_costs_requests_nothing_and_drops_are_counted() {
    let fake = openai_fake::start().await;
    let tracing =
        format!("  otlp_endpoint: \"http://127.0.0.1:{}\"\n  queue_size: 8\n  export_timeout_ms: 300", closed_port());
    let gw = TestGateway::start(&config(&fake, &tracing)).await;
    plain_requests(&gw, 60, 10).await;
    let dropped = eventually(WAIT, async || counter(&gw.metrics().await, DROPPED_FAILED) > 0.0).await;
    let m = gw.metrics().await;
    assert!(dropped, "failed exports are counted as drops:\n{m}");
    assert_eq!(counter(&m, EXPORTED), 0.0);
    // Every span was either queued (and then failed) or dropped at the queue while the
    // exporter backed off after the first refusal.
    let accounted = eventually(WAIT, async || {
        let m = gw.metrics().await;
        counter(&m, DROPPED_FAILED) + counter(&m, DROPPED_FULL) == 120.0
    })
    .await;
    assert!(accounted, "120 spans, all counted:\n{}", gw.metrics().await);
    gw.stop().await;
}

#[tokio::test]
async fn a_slow_collector_fills_the_queue_without_slowing_requests() {
    let fake = openai_fake::start().await;
    let collector = Collector::start_slow(Duration::from_millis(1500)).await;
    let tracing = format!("  otlp_endpoint: \"{}\"\n  queue_size: 4\n  export_timeout_ms: 5000", collector.endpoint());
    let gw = TestGateway::start(&config(&fake, &tracing)).await;
    // A first batch goes out (its export sleeps), then the rest arrive meanwhile.
    plain_requests(&gw, 2, 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    plain_requests(&gw, 38, 8).await;
    let m = gw.metrics().await;
    assert!(counter(&m, DROPPED_FULL) > 0.0, "the queue overflowed while the collector slept:\n{m}");
    // What fit in the queue still arrives, late.
    let spans = collector.wait_for(WAIT, |s| !s.is_empty()).await;
    assert!(spans.len() < 80, "not everything fit: {}", spans.len());
    let exported = eventually(WAIT, async || counter(&gw.metrics().await, EXPORTED) > 0.0).await;
    assert!(exported);
    gw.stop().await;
}
