//! Traces as an operator's backend sees them (SPEC §13): a client traced by the real
//! OpenTelemetry Python SDK calls the gateway; a loopback collector decodes the gateway's
//! OTLP/HTTP export with PyPI `opentelemetry-proto`. The server span's parent is the
//! client's span, each upstream attempt (retry, fallback, shadow) is a child span of it,
//! the upstream receives a `traceparent` naming its attempt, the GenAI attributes and token
//! usage are there, and the record's `trace_id` is the trace.

use std::time::Duration;

use switchyard_testkit::fake_server::{Fake, Mode};
use switchyard_testkit::otel::{traced_call, traced_calls, ClientCall, Collector, ExportedSpan, TracedCall};
use switchyard_testkit::{chat, chat_stream, client, oip_fake, openai_fake, TestGateway};

const WAIT: Duration = Duration::from_secs(10);

fn config(collector: &Collector, champ: &Fake, chal: &Fake, shadow: &Fake) -> String {
    format!(
        r#"
providers:
  a: {{ kind: openai, base_url: "{}" }}
  b: {{ kind: openai, base_url: "{}" }}
  s: {{ kind: openai, base_url: "{}" }}
groups:
  chat:
    retries: {{ max_retries: 1, backoff_ms: 1, max_backoff_ms: 2, budget_percent: 100 }}
    breaker: {{ enabled: false }}
    members:
      - {{ name: champ, role: champion, provider: a, model: gpt-4o, weight: 1 }}
  ab:
    fallback: champion
    retries: {{ max_retries: 0 }}
    breaker: {{ enabled: false }}
    members:
      - {{ name: champ, role: champion, provider: a, model: gpt-4o, weight: 0 }}
      - {{ name: chal, role: challenger, provider: b, model: llama-ft, weight: 1 }}
  mirrored:
    members:
      - {{ name: champ, role: champion, provider: a, model: gpt-4o, weight: 1 }}
      - {{ name: shade, role: shadow, provider: s, model: shadow-model, mirror_percent: 100 }}
tracing:
  otlp_endpoint: "{}"
  service_name: switchyard-test
"#,
        openai_fake::base_url(champ),
        openai_fake::base_url(chal),
        openai_fake::base_url(shadow),
        collector.endpoint(),
    )
}

struct Setup {
    collector: Collector,
    champ: Fake,
    chal: Fake,
    shadow: Fake,
    gw: TestGateway,
}

async fn setup() -> Setup {
    let collector = Collector::start().await;
    let (champ, chal, shadow) = (openai_fake::start().await, openai_fake::start().await, openai_fake::start().await);
    let gw = TestGateway::start(&config(&collector, &champ, &chal, &shadow)).await;
    Setup { collector, champ, chal, shadow, gw }
}

/// The server span and the attempt spans (in start order) of `call`'s trace, once the
/// collector has the server span and `attempts` attempts.
async fn trace_of(collector: &Collector, call: &ClientCall, attempts: usize) -> (ExportedSpan, Vec<ExportedSpan>) {
    let spans = collector
        .wait_for(WAIT, |s| {
            let of = s.iter().filter(|x| x.trace_id == call.trace_id);
            of.clone().filter(|x| x.is_server()).count() == 1 && of.filter(|x| x.is_client()).count() >= attempts
        })
        .await;
    let of: Vec<_> = spans.into_iter().filter(|s| s.trace_id == call.trace_id).collect();
    let server = of.iter().find(|s| s.is_server()).expect("server span").clone();
    let mut attempts: Vec<_> = of.into_iter().filter(|s| s.is_client()).collect();
    attempts.sort_by_key(|s| s.start_ns);
    (server, attempts)
}

/// `header` is a `traceparent` naming span `span_id` of `trace_id`, sampled (the flags
/// may carry more bits, e.g. the W3C level-2 `random` flag the Python SDK sets).
#[track_caller]
fn names(header: impl AsRef<[u8]>, trace_id: &str, span_id: &str) {
    let header = std::str::from_utf8(header.as_ref()).expect("ascii");
    let prefix = format!("00-{trace_id}-{span_id}-");
    let flags = header.strip_prefix(&prefix).and_then(|f| u8::from_str_radix(f, 16).ok());
    assert!(flags.is_some_and(|f| f & 1 == 1), "{header:?} should name {prefix}<sampled>");
}

#[tokio::test]
async fn a_traced_call_shows_the_server_span_its_attempt_and_the_upstreams_parent() {
    let s = setup().await;
    let call = traced_call(&s.gw.url("/v1/chat/completions"), &chat("chat")).await;
    assert_eq!(call.status, 200, "{}", call.body);
    assert_eq!(call.exported_by_client, 1, "the client's SDK sampled and finished its span");
    names(&call.sent["traceparent"], &call.trace_id, &call.span_id);

    let (server, attempts) = trace_of(&s.collector, &call, 1).await;
    assert_eq!(server.parent_span_id, call.span_id, "the gateway's span is a child of the client's");
    assert_eq!(server.name, "POST /v1/chat/completions");
    assert_eq!(server.service.as_deref(), Some("switchyard-test"));
    assert_eq!(server.scope, "switchyard");
    let h = |name: &str| call.headers[name].clone();
    for (key, want) in [
        ("switchyard.request_id", h("x-switchyard-request-id")),
        ("switchyard.group", "chat".into()),
        ("switchyard.member", h("x-switchyard-member")),
        ("switchyard.role", "champion".into()),
        ("switchyard.assignment", h("x-switchyard-assignment")),
        ("gen_ai.provider.name", "openai".into()),
        ("gen_ai.system", "openai".into()),
        ("gen_ai.operation.name", "chat".into()),
        ("gen_ai.request.model", "chat".into()),
        ("gen_ai.response.model", "gpt-4o".into()),
        ("http.request.method", "POST".into()),
        ("http.route", "/v1/chat/completions".into()),
    ] {
        assert_eq!(server.str(key), Some(want.as_str()), "{key} of {server:#?}");
    }
    assert_eq!(server.int("switchyard.config_version").map(|v| v.to_string()), Some(h("x-switchyard-config-version")));
    assert_eq!(server.int("http.response.status_code"), Some(200));
    assert_eq!((server.int("gen_ai.usage.input_tokens"), server.int("gen_ai.usage.output_tokens")), (Some(3), Some(5)));
    assert_eq!(server.status, "STATUS_CODE_UNSET");
    for event in ["authenticated", "body_read", "resolved", "assigned", "forward"] {
        assert!(server.events.iter().any(|e| e == event), "{event} in {:?}", server.events);
    }

    assert_eq!(attempts.len(), 1, "{attempts:#?}");
    let attempt = &attempts[0];
    assert_eq!(attempt.parent_span_id, server.span_id, "the attempt is a child of the server span");
    assert_eq!(attempt.name, "chat gpt-4o");
    assert_eq!(attempt.str("gen_ai.request.model"), Some("gpt-4o"));
    assert_eq!(attempt.str("gen_ai.response.model"), Some("gpt-4o"));
    assert_eq!(attempt.str("gen_ai.provider.name"), Some("openai"));
    assert_eq!(
        (attempt.int("gen_ai.usage.input_tokens"), attempt.int("gen_ai.usage.output_tokens")),
        (Some(3), Some(5))
    );
    assert_eq!((attempt.int("http.response.status_code"), attempt.int("switchyard.attempt")), (Some(200), Some(0)));
    assert!(server.start_ns <= attempt.start_ns && attempt.end_ns <= server.end_ns, "nested in time");

    let seen = s.champ.seen();
    assert_eq!(seen.len(), 1);
    names(&seen[0].headers["traceparent"], &call.trace_id, &attempt.span_id);

    let dir = s.gw.stop().await;
    let records = TestGateway::records(&dir);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].trace_id, call.trace_id, "the record names the trace");
}

#[tokio::test]
async fn a_retried_request_shows_two_attempt_spans() {
    let s = setup().await;
    s.champ.set_mode(Mode::FailNext { times: 1, status: 503, retry_after: None });
    let call = traced_call(&s.gw.url("/v1/chat/completions"), &chat("chat")).await;
    assert_eq!(call.status, 200, "{}", call.body);
    let (server, attempts) = trace_of(&s.collector, &call, 2).await;
    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    assert!(attempts.iter().all(|a| a.parent_span_id == server.span_id));
    let (first, second) = (&attempts[0], &attempts[1]);
    assert_eq!((first.int("switchyard.attempt"), second.int("switchyard.attempt")), (Some(0), Some(1)));
    assert_eq!(first.int("http.response.status_code"), Some(503));
    assert_eq!((first.str("error.type"), first.status.as_str()), (Some("upstream_status"), "STATUS_CODE_ERROR"));
    assert_eq!((second.int("http.response.status_code"), second.str("error.type")), (Some(200), None));
    assert_eq!(server.int("http.response.status_code"), Some(200));

    // Each try named its own span upstream.
    let seen = s.champ.seen();
    assert_eq!(seen.len(), 2);
    for (x, a) in seen.iter().zip(&attempts) {
        names(&x.headers["traceparent"], &call.trace_id, &a.span_id);
    }
}

#[tokio::test]
async fn a_fallback_shows_the_challengers_and_the_champions_attempts() {
    let s = setup().await;
    s.chal.set_mode(Mode::Fail(503));
    let call = traced_call(&s.gw.url("/v1/chat/completions"), &chat("ab")).await;
    assert_eq!((call.status, call.headers["x-switchyard-assignment"].as_str()), (200, "fallback"));
    let (server, attempts) = trace_of(&s.collector, &call, 2).await;
    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    let (chal, champ) = (&attempts[0], &attempts[1]);
    assert!(attempts.iter().all(|a| a.parent_span_id == server.span_id));
    assert_eq!((chal.str("switchyard.member"), chal.str("switchyard.role")), (Some("chal"), Some("challenger")));
    assert_eq!((chal.str("gen_ai.request.model"), chal.str("error.type")), (Some("llama-ft"), Some("upstream_status")));
    assert_eq!((champ.str("switchyard.member"), champ.str("switchyard.assignment")), (Some("champ"), Some("fallback")));
    assert_eq!(champ.int("http.response.status_code"), Some(200));
    assert_eq!(
        (server.str("switchyard.member"), server.str("switchyard.assignment")),
        (Some("champ"), Some("fallback"))
    );
    assert!(server.events.iter().any(|e| e == "fallback"), "{:?}", server.events);
    names(&s.chal.seen()[0].headers["traceparent"], &call.trace_id, &chal.span_id);
    names(&s.champ.seen()[0].headers["traceparent"], &call.trace_id, &champ.span_id);
}

#[tokio::test]
async fn a_stream_ends_its_spans_with_the_last_frame_and_a_shadow_copy_has_its_own() {
    let s = setup().await;
    let call = traced_call(&s.gw.url("/v1/chat/completions"), &chat_stream("mirrored")).await;
    assert_eq!(call.status, 200);
    assert!(call.body.contains("[DONE]"), "{}", call.body);
    let (server, attempts) = trace_of(&s.collector, &call, 2).await;
    assert_eq!(attempts.len(), 2, "the champion's attempt and the shadow copy: {attempts:#?}");
    let primary = attempts.iter().find(|a| a.str("switchyard.role") == Some("champion")).expect("primary");
    let shadow = attempts.iter().find(|a| a.str("switchyard.role") == Some("shadow")).expect("shadow");
    assert!(attempts.iter().all(|a| a.parent_span_id == server.span_id));
    assert_eq!(shadow.str("switchyard.assignment"), Some("shadow"));
    assert_eq!(shadow.str("gen_ai.request.model"), Some("shadow-model"));
    // The stream's usage arrives with its last chunk: both spans ended after it.
    for span in [&server, primary, shadow] {
        assert_eq!(
            (span.int("gen_ai.usage.input_tokens"), span.int("gen_ai.usage.output_tokens")),
            (Some(3), Some(5)),
            "{span:#?}"
        );
    }
    assert!(server.events.iter().any(|e| e == "first_byte"), "{:?}", server.events);
    assert!(primary.end_ns <= server.end_ns);
    names(&s.champ.seen()[0].headers["traceparent"], &call.trace_id, &primary.span_id);
    names(&s.shadow.seen()[0].headers["traceparent"], &call.trace_id, &shadow.span_id);
}

#[tokio::test]
async fn tracestate_is_kept_and_an_unsampled_parent_is_followed() {
    let s = setup().await;
    let url = s.gw.url("/v1/chat/completions");
    let calls = [
        TracedCall {
            url: url.clone(),
            body: chat("chat"),
            sampled: true,
            tracestate: Some("vendor=abc,other=1".into()),
        },
        TracedCall { url, body: chat("chat"), sampled: false, tracestate: Some("vendor=xyz".into()) },
    ];
    let got = traced_calls(&calls).await;
    let (sampled, unsampled) = (&got[0], &got[1]);
    assert_eq!((sampled.status, unsampled.status), (200, 200));
    assert_eq!(unsampled.exported_by_client, 0);
    let flags = unsampled.sent["traceparent"].rsplit('-').next().and_then(|f| u8::from_str_radix(f, 16).ok());
    assert_eq!(flags.map(|f| f & 1), Some(0), "not sampled: {:?}", unsampled.sent);

    let (_, attempts) = trace_of(&s.collector, sampled, 1).await;
    let seen = s.champ.seen();
    names(&seen[0].headers["traceparent"], &sampled.trace_id, &attempts[0].span_id);
    assert_eq!(seen[0].headers["tracestate"], "vendor=abc,other=1", "tracestate goes upstream unchanged");
    // The client decided not to sample: the gateway exports nothing of that trace and
    // passes the client's context on as it came.
    assert_eq!(seen[1].headers["traceparent"], unsampled.sent["traceparent"].as_str());
    assert_eq!(seen[1].headers["tracestate"], "vendor=xyz");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(s.collector.trace(&unsampled.trace_id).is_empty(), "{:#?}", s.collector.trace(&unsampled.trace_id));

    let dir = s.gw.stop().await;
    let mut traces: Vec<String> = TestGateway::records(&dir).into_iter().map(|r| r.trace_id).collect();
    traces.sort();
    let mut want = vec![sampled.trace_id.clone(), unsampled.trace_id.clone()];
    want.sort();
    assert_eq!(traces, want, "both records name their trace, sampled or not");
}

#[tokio::test]
async fn an_early_error_is_a_server_span_without_attempts() {
    let s = setup().await;
    let call = traced_call(&s.gw.url("/v1/chat/completions"), &chat("no-such-group")).await;
    assert_eq!(call.status, 404);
    let spans = s.collector.wait_for(WAIT, |x| x.iter().any(|s| s.trace_id == call.trace_id)).await;
    let of: Vec<_> = spans.iter().filter(|x| x.trace_id == call.trace_id).collect();
    assert_eq!(of.len(), 1, "{of:#?}");
    let server = of[0];
    assert!(server.is_server());
    assert_eq!(server.parent_span_id, call.span_id);
    assert_eq!((server.int("http.response.status_code"), server.str("error.type")), (Some(404), Some("unknown_group")));
    // A plain client (no traceparent) of an unknown route is a root span.
    let resp = client().get(s.gw.url("/nowhere")).send().await.expect("send");
    assert_eq!(resp.status(), 404);
    let spans = s
        .collector
        .wait_for(WAIT, |x| {
            x.iter().any(|s| {
                s.is_server() && s.int("http.response.status_code") == Some(404) && s.parent_span_id.is_empty()
            })
        })
        .await;
    assert!(spans.iter().any(|s| s.name == "HTTP" && s.str("error.type") == Some("not_found")), "{spans:#?}");
}

#[tokio::test]
async fn an_explainer_call_is_a_client_span_of_the_request_and_the_explainer_sees_it() {
    let collector = Collector::start().await;
    let (model, explainer) = (oip_fake::start().await, oip_fake::start().await);
    let gw = TestGateway::start(&format!(
        r#"
providers:
  m: {{ kind: oip, base_url: "{}" }}
  x: {{ kind: oip, base_url: "{}" }}
groups:
  tab:
    members:
      - {{ name: v1, role: champion, provider: m, model: plain, weight: 1,
          explain: {{ provider: x, protocol: oip, model: income-explainer, sample_percent: 100, timeout_ms: 5000 }} }}
tracing:
  otlp_endpoint: "{}"
  service_name: switchyard-test
"#,
        model.url(),
        explainer.url(),
        collector.endpoint()
    ))
    .await;
    let body = r#"{"inputs":[{"name":"input-0","shape":[1,3],"datatype":"FP32","data":[[39,40,2174]]}]}"#;
    let call = traced_call(&gw.url("/v2/models/tab/infer"), body).await;
    assert_eq!(call.status, 200, "{}", call.body);

    // The server span, the model's attempt and — after the answer — the explainer call.
    let (server, clients) = trace_of(&collector, &call, 2).await;
    assert_eq!(clients.len(), 2, "{clients:#?}");
    let explain = clients.iter().find(|s| s.name == "explain income-explainer").expect("the explainer's span");
    let attempt = clients.iter().find(|s| s.name != explain.name).expect("the model's attempt span");
    assert_eq!(explain.parent_span_id, server.span_id, "the explainer call is a child of the request's span");
    assert_eq!(attempt.parent_span_id, server.span_id);
    assert!(explain.start_ns >= attempt.end_ns, "explained after the answer");
    for (key, want) in [
        ("gen_ai.operation.name", "explain"),
        ("gen_ai.request.model", "income-explainer"),
        ("switchyard.group", "tab"),
        ("switchyard.member", "v1"),
    ] {
        assert_eq!(explain.str(key), Some(want), "{key} of {explain:#?}");
    }
    assert_eq!(explain.int("http.response.status_code"), Some(200));

    let seen = explainer.seen();
    assert_eq!(seen.len(), 1, "one explainer call");
    assert_eq!(seen[0].path, "/v2/models/income-explainer/infer");
    names(&seen[0].headers["traceparent"], &call.trace_id, &explain.span_id);
    names(&model.seen()[0].headers["traceparent"], &call.trace_id, &attempt.span_id);
}
