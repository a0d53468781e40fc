//! Micro-benchmarks of the per-request hot path: routing-table lookup, assignment
//! (random and sticky), request scanning, a request's trace (off, sampled out, sampled),
//! record encoding, and spool append (with a group commit — write + fdatasync — every
//! 1,024 records, as the writer thread does under load).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use http::HeaderMap;
use prometheus::Registry;
use switchyard_config::schema::TracingConfig;
use switchyard_config::ProviderSpec;
use switchyard_gateway::proxy::assign::decide;
use switchyard_gateway::proxy::resolve::RequestProbe;
use switchyard_gateway::trace::{RequestTrace, Tracing};
use switchyard_records::spool::{self, SpoolConfig};
use switchyard_records::{Entry, InferenceRecord};

const CONFIG: &str = r#"
providers:
  mock: { kind: mock }
groups:
  support-bot:
    members:
      - { name: champ, role: champion, provider: mock, weight: 90 }
      - { name: chall, role: challenger, provider: mock, weight: 10 }
  other: { members: [ { name: a, role: champion, provider: mock, weight: 1 } ] }
"#;

const BODY: &[u8] = br#"{"model":"support-bot","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Where is my order #1234? It was supposed to arrive yesterday."}],"temperature":0.2,"stream":false,"user":"user-42"}"#;

fn benches(c: &mut Criterion) {
    let factory = |_: &ProviderSpec| Ok(());
    let table = switchyard_config::check::<()>(CONFIG, &factory).expect("valid config");
    let group = table.group("support-bot").expect("group");

    c.bench_function("routing_table_lookup", |b| b.iter(|| table.group(black_box("support-bot")).is_some()));

    let no_headers = HeaderMap::new();
    c.bench_function("assign_random", |b| b.iter(|| decide(group, black_box(&no_headers), None)));

    let mut sticky = HeaderMap::new();
    sticky.insert("x-switchyard-sticky-key", "user-1234567".parse().expect("header"));
    c.bench_function("assign_sticky", |b| b.iter(|| decide(group, black_box(&sticky), None)));

    c.bench_function("scan_request_body", |b| b.iter(|| RequestProbe::scan(black_box(BODY)).map(|p| p.stream)));

    let mut big = Vec::from(&BODY[..BODY.len() - 1]);
    big.extend_from_slice(br#","padding":""#);
    big.extend(std::iter::repeat_n(b'x', 64 * 1024));
    big.extend_from_slice(br#""}"#);
    c.bench_function("scan_request_body_64k", |b| b.iter(|| RequestProbe::scan(black_box(&big)).map(|p| p.stream)));

    trace_benches(c);

    let record = InferenceRecord {
        request_id: "01a2178eb83f2b2de392b89283aa26e1".into(),
        timestamp_ms: 1_795_691_558_975,
        group: "support-bot".into(),
        member: "champ".into(),
        role: switchyard_records::Role::Champion,
        provider: "openai".into(),
        provider_kind: "openai".into(),
        upstream_model: "gpt-4o".into(),
        assignment: switchyard_records::AssignmentReason::Random,
        weight: 0.9,
        config_version: 7,
        endpoint: "chat.completions".into(),
        status: 200,
        total_us: 20_773,
        upstream_us: 20_578,
        overhead_us: 195,
        input_tokens: Some(12),
        output_tokens: Some(40),
        ..InferenceRecord::default()
    };
    c.bench_function("record_encode_json", |b| b.iter(|| serde_json::to_vec(black_box(&record)).map(|v| v.len())));

    let entry = Entry::Inference(Box::new(record));
    let mut buf = Vec::with_capacity(1024);
    c.bench_function("spool_entry_encode", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&entry).encode(&mut buf).map(|()| buf.len())
        })
    });

    // Acknowledging every synced position lets the spool delete finished segments, so
    // the benchmark's disk use stays at a few MiB however long criterion runs it.
    let dir = tempfile::tempdir().expect("temp dir for the spool");
    let config = SpoolConfig { dir: dir.path().to_path_buf(), max_bytes: 1 << 30, segment_bytes: 4 << 20 };
    let (mut writer, mut reader, _) = spool::open(&config, None).expect("open spool");
    let mut payload = Vec::new();
    entry.encode(&mut payload).expect("encode entry");
    let mut appended = 0u64;
    c.bench_function("spool_append_group_commit_1024", |b| {
        b.iter(|| {
            let r = writer.append(black_box(&payload)).expect("spool append");
            appended += 1;
            if appended.is_multiple_of(1024) {
                writer.sync().expect("spool sync");
                reader.ack(writer.shared().durable()).expect("spool ack");
            }
            r
        })
    });
}

/// A request's trace from accept to finish (no upstream): tracing off; on but sampled out
/// (ratio 0, and a client `traceparent` that says not sampled); and sampled (the spans
/// are built and queued; the collector address is closed, so the queue's drop path runs).
fn trace_benches(c: &mut Criterion) {
    let on = |ratio: f64| TracingConfig {
        otlp_endpoint: Some("http://127.0.0.1:9".into()),
        sample_ratio: ratio,
        queue_size: 1024,
        ..TracingConfig::default()
    };
    let off = Tracing::new(&TracingConfig::default(), &Registry::new()).expect("tracing off");
    let sampled_out = Tracing::new(&on(0.0), &Registry::new()).expect("tracing at ratio 0");
    let sampled = Tracing::new(&on(1.0), &Registry::new()).expect("tracing at ratio 1");
    let none = HeaderMap::new();
    let mut unsampled_parent = HeaderMap::new();
    unsampled_parent
        .insert("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00".parse().expect("header"));
    let record = InferenceRecord::default();
    let run = |tracing: &Tracing, headers: &HeaderMap| {
        let mut trace = RequestTrace::accept(tracing, black_box(headers), 1);
        trace.event("authenticated");
        trace.event("resolved");
        let id = trace.trace_id();
        trace.finish(&record);
        id
    };
    c.bench_function("trace_off", |b| b.iter(|| run(&off, &none)));
    c.bench_function("trace_sampled_out", |b| b.iter(|| run(&sampled_out, &none)));
    c.bench_function("trace_sampled_out_parent", |b| b.iter(|| run(&sampled_out, &unsampled_parent)));
    c.bench_function("trace_sampled", |b| b.iter(|| run(&sampled, &none)));
}

criterion_group!(hot_path, benches);
criterion_main!(hot_path);
