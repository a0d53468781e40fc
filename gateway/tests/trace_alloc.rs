//! The tracing hot path allocates nothing when tracing is off or a request is not sampled
//! (SPEC §13, ARCHITECTURE "Hot paths"): a heap profiler (dhat) counts every allocation
//! while a request's trace is accepted, its log span entered, a phase noted, its upstream
//! call filled, an attempt span opened and settled, its access line considered and the
//! trace finished — for requests without context, with an unsampled `traceparent`
//! (forwarded as sent), and with tracing off. The same measurement on a sampled request
//! does count allocations, so the check can fail.
//!
//! dhat counts allocations process-wide, so each case takes the least of five tries (the
//! exporter threads of the traced cases may allocate during one).
//!
//! Only the recorded trace id (`trace_id_hex`, a `String` in the record) allocates when a
//! request has a trace; it belongs to the record and is not measured here.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use prometheus::Registry;
use switchyard_config::schema::TracingConfig;
use switchyard_gateway::error::GatewayError;
use switchyard_gateway::providers::{build_adapter, Endpoint, UpstreamCall};
use switchyard_gateway::proxy::forward::Answer;
use switchyard_gateway::proxy::Table;
use switchyard_gateway::trace::{AttemptSpan, RequestTrace, Tracing};
use switchyard_gateway::upstream::UpstreamClient;
use switchyard_records::{AssignmentReason, ErrorClass, InferenceRecord};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const YAML: &str = r#"
providers:
  a: { kind: openai, base_url: "http://127.0.0.1:9/v1" }
groups:
  chat: { members: [ { name: champ, role: champion, provider: a, model: gpt-4o, weight: 1 } ] }
"#;

fn table() -> Arc<Table> {
    let client = UpstreamClient::new();
    let factory = move |spec: &switchyard_config::ProviderSpec| build_adapter(&client, spec);
    Arc::new(switchyard_config::check(YAML, &factory).expect("valid config"))
}

fn call(table: &Table) -> UpstreamCall {
    UpstreamCall {
        endpoint: Endpoint::ChatCompletions,
        body: Bytes::from_static(br#"{"model":"chat"}"#),
        model_span: 9..15,
        model: String::new(),
        stream: false,
        request_id: HeaderValue::from_static("req-1"),
        traceparent: None,
        tracestate: None,
        span_parent: None,
        timeouts: table.group("chat").expect("group").timeouts,
    }
}

/// Heap blocks allocated by one request's tracing work.
fn allocations(tracing: &Tracing, headers: &HeaderMap, table: &Table, call: &mut UpstreamCall) -> u64 {
    let group = table.group("chat").expect("group");
    let member = group.champion();
    let record = InferenceRecord::default();
    let failed: Result<Answer, GatewayError> = Err(GatewayError::UpstreamConnect { member: String::new() });
    let before = dhat::HeapStats::get().total_blocks;
    let mut trace = RequestTrace::accept(tracing, headers, table.version);
    let span = trace.log_span("req-1");
    let entered = span.enter();
    trace.event("authenticated");
    trace.fill(call);
    let attempt = AttemptSpan::start(call, &group.name, member, AssignmentReason::Random, 0);
    attempt.settle(&failed).park();
    tracing.access.recorded(&record);
    trace.finish(&record);
    let early = RequestTrace::accept(tracing, headers, table.version);
    early.finish_early(None, 404, ErrorClass::UnknownGroup);
    drop(entered);
    dhat::HeapStats::get().total_blocks - before
}

#[test]
fn unsampled_and_untraced_requests_allocate_nothing_for_tracing() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let table = table();
    // A collector address nothing listens on: no span is exported in this test anyway.
    let endpoint = Some("http://127.0.0.1:9".to_owned());
    let off = Tracing::new(&TracingConfig::default(), &Registry::new()).expect("tracing off");
    let ratio_zero = Tracing::new(
        &TracingConfig { otlp_endpoint: endpoint.clone(), sample_ratio: 0.0, ..TracingConfig::default() },
        &Registry::new(),
    )
    .expect("tracing at ratio 0");
    let ratio_one =
        Tracing::new(&TracingConfig { otlp_endpoint: endpoint, ..TracingConfig::default() }, &Registry::new())
            .expect("tracing at ratio 1");

    let none = HeaderMap::new();
    let mut unsampled = HeaderMap::new();
    unsampled
        .insert("traceparent", HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"));
    unsampled.insert("tracestate", HeaderValue::from_static("vendor=abc"));
    let mut sampled = HeaderMap::new();
    sampled.insert("traceparent", HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));

    // Warm-up: thread-locals (the id generator's RNG) are set up once per thread.
    allocations(&ratio_zero, &none, &table, &mut call(&table));

    for (name, tracing, headers) in [
        ("tracing off, no traceparent", &off, &none),
        ("tracing off, sampled traceparent forwarded", &off, &sampled),
        ("tracing off, unsampled traceparent forwarded", &off, &unsampled),
        ("ratio 0, no traceparent (not sampled)", &ratio_zero, &none),
        ("ratio 0, unsampled traceparent", &ratio_zero, &unsampled),
        ("ratio 1, unsampled traceparent (parent-based)", &ratio_one, &unsampled),
    ] {
        let mut c = call(&table);
        let mut least = allocations(tracing, headers, &table, &mut c);
        // dhat counts every thread's allocations: an exporter thread (ratio 0 and 1 have
        // one, retrying its dead collector) can allocate inside the window. Allocations of
        // the measured code happen in every try, a background thread's not.
        for _ in 0..4 {
            least = least.min(allocations(tracing, headers, &table, &mut call(&table)));
        }
        assert_eq!(least, 0, "{name}");
        assert_eq!(c.traceparent.as_ref(), headers.get("traceparent"), "{name}: forwarded as sent");
        assert_eq!(c.tracestate.as_ref(), headers.get("tracestate"), "{name}: forwarded as sent");
        assert!(c.span_parent.is_none(), "{name}");
    }
    // The same measurement sees a sampled request's spans.
    let mut c = call(&table);
    let used = allocations(&ratio_one, &sampled, &table, &mut c);
    assert!(used > 0, "a sampled request allocates its spans");
    assert!(c.span_parent.is_some());
}
