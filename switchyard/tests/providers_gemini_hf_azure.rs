//! The `gemini` and `huggingface` (TGI) adapters and Azure OpenAI's request shape,
//! against fakes on loopback: non-streamed and streamed answers with usage, stop reasons
//! and error mapping.

use switchyard_testkit::fake_server::{Fake, Mode};
use switchyard_testkit::{chat, chat_stream, client, gemini_fake, huggingface_fake, openai_fake, TestGateway};

fn config(gemini: &Fake, tgi: &Fake, azure: &Fake) -> String {
    std::env::set_var("SWITCHYARD_TEST_GOOGLE_KEY", "g-key");
    std::env::set_var("SWITCHYARD_TEST_AZURE_KEY", "az-key");
    format!(
        r#"
providers:
  google: {{ kind: gemini, base_url: "{}/v1beta", api_key: "env:SWITCHYARD_TEST_GOOGLE_KEY" }}
  tgi: {{ kind: huggingface, base_url: "{}" }}
  azure: {{ kind: openai, base_url: "{}", api_key: "env:SWITCHYARD_TEST_AZURE_KEY", api_version: "2024-06-01", deployment: gpt4o-prod }}
groups:
  gem:
    retries: {{ max_retries: 0 }}
    members:
      - {{ name: flash, role: champion, provider: google, model: gemini-2.0-flash, weight: 1 }}
  hf:
    retries: {{ max_retries: 0 }}
    members:
      - {{ name: llama, role: champion, provider: tgi, model: llama, weight: 1 }}
  az:
    members:
      - {{ name: gpt, role: champion, provider: azure, model: gpt-4o, weight: 1 }}
"#,
        gemini.url(),
        tgi.url(),
        azure.url()
    )
}

async fn setup() -> (Fake, Fake, Fake, TestGateway) {
    let (g, h, a) = (gemini_fake::start().await, huggingface_fake::start().await, openai_fake::start().await);
    let gw = TestGateway::start(&config(&g, &h, &a)).await;
    (g, h, a, gw)
}

fn stream_text(text: &str) -> (String, Option<String>, Option<serde_json::Value>) {
    let (mut content, mut finish, mut usage) = (String::new(), None, None);
    for line in text.lines().filter_map(|l| l.strip_prefix("data: ")).filter(|l| *l != "[DONE]") {
        let c: serde_json::Value = serde_json::from_str(line).expect("chunk");
        content.push_str(c["choices"][0]["delta"]["content"].as_str().unwrap_or(""));
        if let Some(f) = c["choices"][0]["finish_reason"].as_str() {
            finish = Some(f.to_owned());
        }
        if c["usage"].is_object() {
            usage = Some(c["usage"].clone());
        }
    }
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    (content, finish, usage)
}

#[tokio::test]
async fn gemini_round_trips_with_usage_and_errors() {
    let (gemini, _h, _a, gw) = setup().await;
    let resp = client().post(gw.url("/v1/chat/completions")).body(chat("gem")).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["choices"][0]["message"]["content"], "The sky is blue because of Rayleigh scattering.");
    assert_eq!(
        (body["usage"]["prompt_tokens"].as_u64(), body["usage"]["completion_tokens"].as_u64()),
        (Some(8), Some(11))
    );
    let seen = &gemini.seen()[0];
    assert_eq!(seen.path, "/v1beta/models/gemini-2.0-flash:generateContent");
    assert_eq!(seen.headers["x-goog-api-key"], "g-key");
    assert_eq!(seen.body["contents"][0], serde_json::json!({"role": "user", "parts": [{"text": "hi"}]}));

    let resp = client().post(gw.url("/v1/chat/completions")).body(chat_stream("gem")).send().await.expect("send");
    let (content, finish, usage) = stream_text(&resp.text().await.expect("text"));
    assert_eq!(content, "The sky is blue because of Rayleigh scattering.");
    assert_eq!(finish.as_deref(), Some("stop"));
    assert_eq!(usage.expect("usage")["completion_tokens"], 11);
    assert_eq!(gemini.seen()[1].path, "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse");

    for (mode, want) in [(400, 400), (403, 502), (429, 429), (500, 502)] {
        gemini.set_mode(Mode::Fail(mode));
        let resp = client().post(gw.url("/v1/chat/completions")).body(chat("gem")).send().await.expect("send");
        assert_eq!(resp.status(), want, "gemini {mode}");
        let body: serde_json::Value = resp.json().await.expect("json");
        assert!(body["error"]["message"].is_string(), "{body}");
    }
    let dir = gw.stop().await;
    let records = TestGateway::records(&dir);
    assert!(records[..2].iter().all(|r| r.input_tokens == Some(8) && r.output_tokens == Some(11)), "{records:?}");
}

#[tokio::test]
async fn tgi_round_trips_with_token_counts_from_details() {
    let (_g, tgi, _a, gw) = setup().await;
    let resp = client().post(gw.url("/v1/chat/completions")).body(chat("hf")).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["choices"][0]["message"]["content"], " Deep learning is a subset of machine learning.");
    assert_eq!(
        (body["usage"]["prompt_tokens"].as_u64(), body["usage"]["completion_tokens"].as_u64()),
        (Some(6), Some(10))
    );
    let seen = &tgi.seen()[0];
    assert_eq!(seen.path, "/generate");
    assert_eq!(seen.body["inputs"], "user: hi\nassistant:");
    assert_eq!(seen.body["parameters"]["details"], true);

    let resp = client().post(gw.url("/v1/chat/completions")).body(chat_stream("hf")).send().await.expect("send");
    let (content, finish, usage) = stream_text(&resp.text().await.expect("text"));
    assert_eq!(content, " Deep learning");
    assert_eq!(finish.as_deref(), Some("stop"));
    assert_eq!(usage.expect("usage")["completion_tokens"], 3);
    assert_eq!(tgi.seen()[1].path, "/generate_stream");

    let completion = r#"{"model":"hf","prompt":"What is deep learning?","max_tokens":10}"#;
    let resp = client().post(gw.url("/v1/completions")).body(completion).send().await.expect("send");
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["object"], "text_completion");
    assert_eq!(tgi.seen()[2].body["parameters"]["max_new_tokens"], 10);

    tgi.set_mode(Mode::Fail(422));
    let resp = client().post(gw.url("/v1/chat/completions")).body(chat("hf")).send().await.expect("send");
    assert_eq!(resp.status(), 422);
    assert_eq!(resp.json::<serde_json::Value>().await.expect("json")["error"]["message"], "fake 422");
    let dir = gw.stop().await;
    let records = TestGateway::records(&dir);
    assert_eq!((records[1].input_tokens, records[1].output_tokens), (None, Some(3)), "TGI streams report no prefill");
}

#[tokio::test]
async fn azure_openai_url_and_key_shape() {
    let (_g, _h, azure, gw) = setup().await;
    let resp = client().post(gw.url("/v1/chat/completions")).body(chat("az")).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    let seen = &azure.seen()[0];
    assert_eq!(seen.path, "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-06-01");
    assert_eq!(seen.headers["api-key"], "az-key");
    assert!(seen.headers.get("authorization").is_none());
    gw.stop().await;
}
