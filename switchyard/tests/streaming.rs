//! Proxying against a real HTTP upstream on loopback: attribution headers, upstream
//! request shape, streaming without buffering, and records of every outcome.

use std::time::Duration;

use futures_util::StreamExt;
use switchyard_testkit::upstream::FakeUpstream;
use switchyard_testkit::{chat, chat_stream, client, TestGateway};

fn config(fake: &FakeUpstream, extra_group: &str) -> String {
    format!(
        r#"
providers:
  fake: {{ kind: openai, base_url: "{}", api_key: "env:SWITCHYARD_TEST_UPSTREAM_KEY" }}
groups:
  g:
    members:
      - {{ name: champ, role: champion, provider: fake, model: ok, weight: 1 }}
{extra_group}
"#,
        fake.base_url()
    )
}

fn single(fake: &FakeUpstream, group: &str, model: &str) -> String {
    format!(
        r#"
providers:
  fake: {{ kind: openai, base_url: "{}" }}
groups:
  {group}:
    timeouts: {{ idle_ms: 300 }}
    members:
      - {{ name: m, role: champion, provider: fake, model: {model}, weight: 1 }}
"#,
        fake.base_url()
    )
}

#[tokio::test]
async fn forwards_with_attribution_headers_and_rewritten_model() {
    std::env::set_var("SWITCHYARD_TEST_UPSTREAM_KEY", "sk-test-upstream-secret-4242");
    let fake = FakeUpstream::start().await;
    let gw = TestGateway::start(&config(&fake, "")).await;
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .header("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        .body(chat("g"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["x-switchyard-group"], "g");
    assert_eq!(h["x-switchyard-member"], "champ");
    assert_eq!(h["x-switchyard-role"], "champion");
    assert_eq!(h["x-switchyard-assignment"], "random");
    assert_eq!(h["x-switchyard-config-version"], "1");
    let timing = h["server-timing"].to_str().expect("ascii");
    assert!(timing.starts_with("overhead;dur=") && timing.contains(", upstream;dur="), "{timing}");
    let id = h["x-switchyard-request-id"].to_str().expect("ascii").to_owned();
    assert_eq!(id.len(), 48, "32 hex digits of id and 16 of its tenant tag: {id}");
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["choices"][0]["message"]["content"], "hello");

    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(seen[0].body["model"], "ok", "group name is rewritten to the member's model");
    assert_eq!(seen[0].body["messages"][0]["content"], "hi", "the rest of the body is forwarded");
    assert_eq!(seen[0].headers["authorization"], "Bearer sk-test-upstream-secret-4242");
    assert_eq!(seen[0].headers["x-request-id"], id.as_str());
    assert_eq!(seen[0].headers["traceparent"], "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");

    let dir = gw.stop().await;
    let records = TestGateway::records(&dir);
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!((r.request_id.as_str(), r.group.as_str(), r.member.as_str()), (id.as_str(), "g", "champ"));
    assert_eq!((r.status, r.error_class.as_str()), (200, ""));
    assert_eq!((r.input_tokens, r.output_tokens), (Some(3), Some(5)));
    assert_eq!((r.provider.as_str(), r.provider_kind.as_str(), r.upstream_model.as_str()), ("fake", "openai", "ok"));
    assert_eq!((r.weight, r.config_version, r.endpoint.as_str()), (1.0, 1, "chat.completions"));
    assert!(r.total_us >= r.upstream_us && r.overhead_us == r.total_us - r.upstream_us);
    let spooled: Vec<u8> = std::fs::read_dir(dir.path().join("spool"))
        .expect("spool dir")
        .flat_map(|e| std::fs::read(e.expect("entry").path()).unwrap_or_default())
        .collect();
    assert!(!spooled.is_empty());
    assert!(
        !String::from_utf8_lossy(&spooled).contains("sk-test-upstream-secret-4242"),
        "secret leaked into the spool"
    );
}

#[tokio::test]
async fn a_client_request_id_is_propagated_echoed_and_recorded() {
    let fake = FakeUpstream::start().await;
    let gw = TestGateway::start(&single(&fake, "g", "ok")).await;
    let send = |id: Option<String>| {
        let mut req = client().post(gw.url("/v1/chat/completions")).body(chat("g"));
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        req.send()
    };
    let header = |r: &reqwest::Response, name: &str| r.headers()[name].to_str().expect("ascii").to_owned();

    // A usable id: the upstream sees it, the client gets it back, the record keeps it.
    let resp = send(Some("client-trace-42".into())).await.expect("send");
    assert_eq!(header(&resp, "x-request-id"), "client-trace-42");
    let ours = header(&resp, "x-switchyard-request-id");
    assert_ne!(ours, "client-trace-42", "the gateway keeps its own unique id");
    // The same client id twice (clients reuse ids): still two records, two gateway ids.
    let again = send(Some("client-trace-42".into())).await.expect("send");
    assert_ne!(header(&again, "x-switchyard-request-id"), ours);
    // Unusable ids (too long; not printable) are ignored: the gateway's id stands in.
    let long = send(Some("x".repeat(129))).await.expect("send");
    assert_eq!(header(&long, "x-request-id"), header(&long, "x-switchyard-request-id"));
    let none = send(None).await.expect("send");
    assert_eq!(header(&none, "x-request-id"), header(&none, "x-switchyard-request-id"));

    let seen: Vec<String> =
        fake.seen().iter().map(|s| s.headers["x-request-id"].to_str().expect("ascii").into()).collect();
    assert_eq!(&seen[..2], ["client-trace-42", "client-trace-42"]);
    assert_eq!(seen[2], header(&long, "x-switchyard-request-id"));
    let dir = gw.stop().await;
    let mut records = TestGateway::records(&dir);
    records.sort_by_key(|r| r.timestamp_ms);
    let ids: Vec<(&str, &str)> =
        records.iter().map(|r| (r.request_id.as_str(), r.client_request_id.as_str())).collect();
    assert_eq!(ids.len(), 4);
    assert_eq!(ids[0], (ours.as_str(), "client-trace-42"));
    assert_eq!(ids.iter().filter(|(_, c)| *c == "client-trace-42").count(), 2);
    assert_eq!(ids.iter().filter(|(_, c)| c.is_empty()).count(), 2);
}

#[tokio::test]
async fn first_chunk_reaches_client_before_upstream_finishes() {
    let fake = FakeUpstream::start().await;
    let gw = TestGateway::start(&single(&fake, "g", "gated-stream")).await;
    let resp = client().post(gw.url("/v1/chat/completions")).body(chat_stream("g")).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.bytes_stream();
    // The upstream is holding the rest of the stream until we release it: the first
    // chunk can only arrive if the gateway passes frames through unbuffered.
    let first = tokio::time::timeout(Duration::from_secs(5), body.next())
        .await
        .expect("first chunk arrives while the upstream is still paused")
        .expect("a frame")
        .expect("ok");
    assert!(String::from_utf8_lossy(&first).contains("\"t0\""));
    fake.release();
    let mut rest = Vec::new();
    while let Some(chunk) = body.next().await {
        rest.extend_from_slice(&chunk.expect("chunk"));
    }
    assert!(String::from_utf8_lossy(&rest).ends_with("data: [DONE]\n\n"));
    let dir = gw.stop().await;
    let r = &TestGateway::records(&dir)[0];
    assert!(r.stream);
    assert_eq!((r.status, r.error_class.as_str()), (200, ""));
    assert_eq!((r.input_tokens, r.output_tokens), (Some(3), Some(5)), "usage observed on the way");
    assert!(r.ttft_us.is_some_and(|t| t <= r.total_us));
}

#[tokio::test]
async fn upstream_reset_mid_stream_ends_with_error_event_and_is_recorded() {
    let fake = FakeUpstream::start().await;
    let gw = TestGateway::start(&single(&fake, "g", "reset-stream")).await;
    let resp = client().post(gw.url("/v1/chat/completions")).body(chat_stream("g")).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("the stream ends cleanly for the client");
    assert!(text.contains("\"t0\""), "{text}");
    let last = text.trim_end().rsplit("\n\n").next().expect("an event");
    let event: serde_json::Value =
        serde_json::from_str(last.strip_prefix("data: ").expect("data event")).expect("json");
    assert_eq!(event["error"]["code"], "upstream_reset");
    assert_eq!(event["error"]["type"], "upstream_error");
    let dir = gw.stop().await;
    let r = &TestGateway::records(&dir)[0];
    assert_eq!((r.status, r.error_class.as_str()), (200, "upstream_reset"));
}

/// Streams a chat on group `g` to its end; the text and how long it took.
async fn stream_to_end(gw: &TestGateway) -> (String, Duration) {
    let started = std::time::Instant::now();
    let resp = client().post(gw.url("/v1/chat/completions")).body(chat_stream("g")).send().await.expect("send");
    let text = resp.text().await.expect("ends");
    (text, started.elapsed())
}

#[tokio::test]
async fn stalled_stream_hits_idle_timeout() {
    let fake = FakeUpstream::start().await;
    let gw = TestGateway::start(&single(&fake, "g", "stall-stream")).await;
    let (text, took) = stream_to_end(&gw).await;
    assert!(took < Duration::from_secs(10));
    assert!(text.contains("\"code\":\"upstream_timeout\""), "{text}");
    let dir = gw.stop().await;
    assert_eq!(TestGateway::records(&dir)[0].error_class.as_str(), "upstream_timeout");
}

#[tokio::test]
async fn a_slow_but_steady_stream_outlives_the_idle_timeout() {
    // idle_ms is 300; chunks come every 150 ms for 0.9 s: the idle timer must restart
    // with each chunk, not count from the start of the stream.
    let fake = FakeUpstream::start().await;
    let gw = TestGateway::start(&single(&fake, "g", "slow-stream")).await;
    let (text, took) = stream_to_end(&gw).await;
    assert!(took >= Duration::from_millis(700), "the stream was not slow: {took:?}");
    assert!(!text.contains("upstream_timeout"), "{text}");
    assert!(text.contains("\"t4\"") && text.ends_with("data: [DONE]\n\n"), "{text}");
    let dir = gw.stop().await;
    let r = &TestGateway::records(&dir)[0];
    assert_eq!((r.status, r.error_class.as_str(), r.output_tokens), (200, "", Some(5)));
}

#[tokio::test]
async fn client_abort_mid_stream_is_recorded() {
    let fake = FakeUpstream::start().await;
    let gw = TestGateway::start(&single(&fake, "g", "gated-stream")).await;
    let resp = client().post(gw.url("/v1/chat/completions")).body(chat_stream("g")).send().await.expect("send");
    let mut body = resp.bytes_stream();
    let _ = body.next().await;
    drop(body);
    let recorded = switchyard_testkit::eventually(Duration::from_secs(5), async || {
        gw.metrics().await.contains(r#"switchyard_requests_total{code="2xx",group="g",member="m",role="champion"} 1"#)
    })
    .await;
    fake.release();
    assert!(recorded, "the aborted stream is recorded without waiting for shutdown");
    let dir = gw.stop().await;
    let r = &TestGateway::records(&dir)[0];
    assert_eq!((r.status, r.error_class.as_str()), (200, "client_aborted"));
}

#[tokio::test]
async fn upstream_failures_map_to_openai_errors() {
    let fake = FakeUpstream::start().await;
    let cases = [
        ("non-json", 502, "upstream_invalid"),
        ("error-500", 502, "upstream_status"),
        ("error-429", 429, "upstream_status"),
        ("error-400", 400, "upstream_status"),
        ("error-401", 502, "upstream_status"),
    ];
    let mut groups = String::from("groups:\n");
    for (model, _, _) in cases {
        groups.push_str(&format!(
            "  {model}:\n    members: [ {{ name: m, role: champion, provider: fake, model: {model}, weight: 1 }} ]\n"
        ));
    }
    let yaml = format!(
        "providers:\n  fake: {{ kind: openai, base_url: \"{}\", api_key: \"env:SWITCHYARD_TEST_KEY_401\" }}\n{groups}",
        fake.base_url()
    );
    std::env::set_var("SWITCHYARD_TEST_KEY_401", "sk-do-not-leak-7777");
    let gw = TestGateway::start(&yaml).await;
    for (model, status, _) in cases {
        let resp = client().post(gw.url("/v1/chat/completions")).body(chat(model)).send().await.expect("send");
        assert_eq!(resp.status().as_u16(), status, "{model}");
        assert_eq!(resp.headers()["x-switchyard-member"], "m");
        let text = resp.text().await.expect("body");
        assert!(!text.contains("sk-do-not-leak-7777"), "{model} leaked the key: {text}");
        let body: serde_json::Value = serde_json::from_str(&text).expect("JSON error body");
        assert!(body["error"]["message"].is_string(), "{model}: {text}");
        if model == "error-400" {
            assert_eq!(body["error"]["message"], "messages is required", "client errors pass through");
        }
    }
    let metrics = gw.metrics().await;
    assert!(!metrics.contains("sk-do-not-leak-7777"));
    let dir = gw.stop().await;
    let records = TestGateway::records(&dir);
    for (model, status, class) in cases {
        let r = records.iter().find(|r| r.group == model).expect("record");
        assert_eq!((r.status, r.error_class.as_str()), (status, class), "{model}");
    }
}

#[tokio::test]
async fn refused_connection_is_502_and_recorded() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let yaml = format!(
        "providers:\n  dead: {{ kind: openai, base_url: \"http://127.0.0.1:{port}/v1\" }}\ngroups:\n  g:\n    members: [ {{ name: m, role: champion, provider: dead, weight: 1 }} ]\n"
    );
    let gw = TestGateway::start(&yaml).await;
    let resp = client().post(gw.url("/v1/chat/completions")).body(chat("g")).send().await.expect("send");
    assert_eq!(resp.status(), 502);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["code"], "upstream_connect");
    assert_eq!(body["error"]["message"], "upstream `m` is unreachable");
    let dir = gw.stop().await;
    assert_eq!(TestGateway::records(&dir)[0].error_class.as_str(), "upstream_connect");
}
