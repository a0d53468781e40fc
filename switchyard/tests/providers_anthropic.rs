//! The `anthropic` adapter and the Anthropic ingress against fakes on loopback: OpenAI
//! clients served by an Anthropic member and Anthropic clients served by an OpenAI
//! member, streaming and not, with usage, stop reasons, tools and error mapping.

use std::time::Duration;

use switchyard_testkit::fake_server::{Fake, Mode};
use switchyard_testkit::{anthropic_fake, client, openai_fake, TestGateway};

fn config(anthropic: &Fake, openai: &Fake) -> String {
    std::env::set_var("SWITCHYARD_TEST_ANTHROPIC_KEY", "sk-ant-test-secret");
    format!(
        r#"
providers:
  claude: {{ kind: anthropic, base_url: "{}", api_key: "env:SWITCHYARD_TEST_ANTHROPIC_KEY" }}
  gpt: {{ kind: openai, base_url: "{}" }}
groups:
  to-claude:
    retries: {{ max_retries: 0 }}
    timeouts: {{ idle_ms: 300 }}
    members:
      - {{ name: claude, role: champion, provider: claude, model: claude-sonnet-4, weight: 1 }}
  to-gpt:
    retries: {{ max_retries: 0 }}
    members:
      - {{ name: gpt, role: champion, provider: gpt, model: gpt-4o, weight: 1 }}
"#,
        anthropic.url(),
        openai_fake::base_url(openai)
    )
}

async fn setup() -> (Fake, Fake, TestGateway) {
    let (a, o) = (anthropic_fake::start().await, openai_fake::start().await);
    let gw = TestGateway::start(&config(&a, &o)).await;
    (a, o, gw)
}

const OPENAI_CHAT: &str =
    r#"{"model":"to-claude","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}"#;

#[tokio::test]
async fn openai_chat_served_by_anthropic_member() {
    let (fake, _o, gw) = setup().await;
    let resp = client().post(gw.url("/v1/chat/completions")).body(OPENAI_CHAT).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-switchyard-member"], "claude");
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["content"], "Hello! How can I help you today?");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["prompt_tokens"], 12);
    assert_eq!(body["usage"]["completion_tokens"], 15);

    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/messages");
    assert_eq!(seen[0].headers["x-api-key"], "sk-ant-test-secret");
    assert_eq!(seen[0].headers["anthropic-version"], "2023-06-01");
    assert!(seen[0].headers.get("authorization").is_none());
    assert_eq!(seen[0].body["model"], "claude-sonnet-4");
    assert_eq!(seen[0].body["system"], "be brief");
    assert_eq!(seen[0].body["max_tokens"], 4096);
    assert_eq!(
        seen[0].body["messages"],
        serde_json::json!([{"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    );

    let dir = gw.stop().await;
    let r = &TestGateway::records(&dir)[0];
    assert_eq!((r.provider_kind.as_str(), r.input_tokens, r.output_tokens), ("anthropic", Some(12), Some(15)));
}

#[tokio::test]
async fn openai_sdk_stream_served_by_anthropic_member() {
    let (_a, _o, gw) = setup().await;
    let body = OPENAI_CHAT.replace(r#""model":"to-claude","#, r#""model":"to-claude","stream":true,"#);
    let resp = client().post(gw.url("/v1/chat/completions")).body(body).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let text = resp.text().await.expect("text");
    let mut content = String::new();
    let mut finish = None;
    let mut usage = None;
    for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if line == "[DONE]" {
            continue;
        }
        let chunk: serde_json::Value = serde_json::from_str(line).expect("chunk is JSON");
        assert_eq!(chunk["object"], "chat.completion.chunk");
        content.push_str(chunk["choices"][0]["delta"]["content"].as_str().unwrap_or(""));
        if let Some(f) = chunk["choices"][0]["finish_reason"].as_str() {
            finish = Some(f.to_owned());
        }
        if chunk["usage"].is_object() {
            usage = Some(chunk["usage"].clone());
        }
    }
    assert_eq!(content, "Hello! How can I help you today?");
    assert_eq!(finish.as_deref(), Some("stop"));
    assert_eq!(usage.expect("usage chunk")["completion_tokens"], 15);
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");

    let dir = gw.stop().await;
    let r = &TestGateway::records(&dir)[0];
    assert!(r.stream && r.error_class.is_none(), "{r:?}");
    assert_eq!((r.input_tokens, r.output_tokens), (Some(12), Some(15)));
}

/// Anthropic SSE events as (event name, data JSON).
fn events(text: &str) -> Vec<(String, serde_json::Value)> {
    text.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let name = block.lines().find_map(|l| l.strip_prefix("event: ")).expect("event line").to_owned();
            let data = block.lines().find_map(|l| l.strip_prefix("data: ")).expect("data line");
            (name, serde_json::from_str(data).expect("data is JSON"))
        })
        .collect()
}

#[tokio::test]
async fn anthropic_sdk_stream_served_by_openai_member() {
    let (_a, openai, gw) = setup().await;
    let body = r#"{"model":"to-gpt","max_tokens":64,"stream":true,"system":"be brief","messages":[{"role":"user","content":"hi"}]}"#;
    let resp = client()
        .post(gw.url("/v1/messages"))
        .header("x-api-key", "ignored-without-clients")
        .header("anthropic-version", "2023-06-01")
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-switchyard-member"], "gpt");
    let evs = events(&resp.text().await.expect("text"));
    let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    for (name, data) in &evs {
        assert_eq!(data["type"], name.as_str(), "event name and type agree");
    }
    assert_eq!(evs[0].1["message"]["role"], "assistant");
    let text: String = evs.iter().filter_map(|(_, d)| d["delta"]["text"].as_str()).collect();
    assert_eq!(text, "Hello world");
    assert_eq!(evs[5].1["delta"]["stop_reason"], "end_turn");
    assert_eq!(evs[5].1["usage"]["output_tokens"], 5);
    assert_eq!(evs[5].1["usage"]["input_tokens"], 3);

    let seen = &openai.seen()[0];
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(seen.body["model"], "gpt-4o");
    assert_eq!(seen.body["messages"][0], serde_json::json!({"role": "system", "content": "be brief"}));
    assert_eq!(seen.body["stream_options"]["include_usage"], true);
    assert_eq!(seen.body["max_tokens"], 64);

    let dir = gw.stop().await;
    let r = &TestGateway::records(&dir)[0];
    assert_eq!((r.endpoint.as_str(), r.input_tokens, r.output_tokens), ("messages", Some(3), Some(5)));
}

#[tokio::test]
async fn anthropic_client_non_streaming_both_ways() {
    let (anthropic, _o, gw) = setup().await;
    // Native: Anthropic client, Anthropic member — passed through with model rewritten.
    let body = r#"{"model":"to-claude","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}"#;
    let resp = client().post(gw.url("/v1/messages")).body(body).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    let msg: serde_json::Value = resp.json().await.expect("json");
    assert_eq!((msg["type"].as_str(), msg["model"].as_str()), (Some("message"), Some("claude-sonnet-4")));
    assert_eq!(anthropic.seen()[0].body["model"], "claude-sonnet-4");

    // Translated: Anthropic client, OpenAI member.
    let body = r#"{"model":"to-gpt","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}"#;
    let resp = client().post(gw.url("/v1/messages")).body(body).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    let msg: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(msg["type"], "message");
    assert_eq!(msg["content"], serde_json::json!([{"type": "text", "text": "Hello world"}]));
    assert_eq!(msg["stop_reason"], "end_turn");
    assert_eq!(msg["usage"], serde_json::json!({"input_tokens": 3, "output_tokens": 5}));

    let dir = gw.stop().await;
    let records = TestGateway::records(&dir);
    assert!(records.iter().all(|r| r.input_tokens.is_some() && r.output_tokens.is_some()), "{records:?}");
}

#[tokio::test]
async fn tool_calls_translate() {
    let (_a, _o, gw) = setup().await;
    let body = r#"{"model":"to-claude","tool_choice":"auto","tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"location":{"type":"string"}}}}}],"messages":[{"role":"user","content":"use the tool"}]}"#;
    let resp = client().post(gw.url("/v1/chat/completions")).body(body).send().await.expect("send");
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    let args: serde_json::Value =
        serde_json::from_str(call["function"]["arguments"].as_str().expect("string")).expect("json");
    assert_eq!(args["location"], "San Francisco, CA");
}

#[tokio::test]
async fn provider_errors_reach_the_client_in_its_format() {
    let (anthropic, openai, gw) = setup().await;
    let post = |path: &'static str, body: &'static str| {
        let url = gw.url(path);
        async move { client().post(url).body(body).send().await.expect("send") }
    };
    // OpenAI client, Anthropic member.
    for (mode, want) in [(400, 400), (401, 502), (429, 429), (500, 502), (529, 502)] {
        anthropic.set_mode(Mode::Fail(mode));
        let resp = post("/v1/chat/completions", OPENAI_CHAT).await;
        assert_eq!(resp.status(), want, "anthropic {mode}");
        let body: serde_json::Value = resp.json().await.expect("json");
        assert!(body["error"]["message"].is_string(), "OpenAI-shaped: {body}");
        let passed = body["error"]["message"] == format!("fake {mode}");
        assert_eq!(passed, matches!(mode, 400 | 429), "only the client's own errors pass through: {body}");
    }
    // Anthropic client, OpenAI member.
    let msg = r#"{"model":"to-gpt","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;
    for (mode, want, kind) in [
        (400, 400, "invalid_request_error"),
        (401, 502, "api_error"),
        (429, 429, "rate_limit_error"),
        (500, 502, "api_error"),
    ] {
        openai.set_mode(Mode::Fail(mode));
        let resp = post("/v1/messages", msg).await;
        assert_eq!(resp.status(), want, "openai {mode}");
        let body: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(body["type"], "error", "Anthropic-shaped: {body}");
        assert_eq!(body["error"]["type"], kind, "{body}");
    }
    // The gateway's own errors on the Anthropic route are Anthropic-shaped too.
    let resp = post("/v1/messages", r#"{"model":"nope","max_tokens":8,"messages":[]}"#).await;
    assert_eq!(resp.status(), 404);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!((body["type"].as_str(), body["error"]["type"].as_str()), (Some("error"), Some("not_found_error")));
}

#[tokio::test]
async fn stalled_anthropic_stream_hits_the_idle_timeout() {
    let (anthropic, _o, gw) = setup().await;
    anthropic.set_mode(Mode::StallAfterFirst);
    let body = OPENAI_CHAT.replace(r#""model":"to-claude","#, r#""model":"to-claude","stream":true,"#);
    let started = std::time::Instant::now();
    let resp = client().post(gw.url("/v1/chat/completions")).body(body).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    let text = tokio::time::timeout(Duration::from_secs(5), resp.text()).await.expect("ends").expect("text");
    assert!(started.elapsed() >= Duration::from_millis(300), "idle_ms is 300");
    let last = text.trim_end().lines().last().expect("a line");
    let err: serde_json::Value = serde_json::from_str(last.strip_prefix("data: ").expect("data")).expect("json");
    assert_eq!(err["error"]["code"], "upstream_timeout", "{text}");

    let dir = gw.stop().await;
    let r = &TestGateway::records(&dir)[0];
    assert_eq!((r.status, r.error_class.as_str()), (200, "upstream_timeout"));
    assert!(r.ttft_us.is_some(), "the first event was sent");
}
