//! Helpers for the bad-input tests: a small-limits config, client keys, and checks of the
//! exact OpenAI error shape and that the gateway keeps serving afterwards.

use sha2::{Digest, Sha256};

use super::{chat, client, TestGateway};

/// A mock-backed group `g` (and `h`), small limits so the limit tests stay fast.
pub const BASE: &str = r#"
limits: { max_body_bytes: 1024, header_timeout_ms: 300, body_timeout_ms: 300 }
providers:
  mock: { kind: mock }
groups:
  g:
    members:
      - { name: champ, role: champion, provider: mock, model: m-champ, weight: 1 }
      - { name: chall, role: challenger, provider: mock, model: m-chall, weight: 1 }
  h:
    members:
      - { name: only, role: champion, provider: mock, model: m-only, weight: 1 }
"#;

pub const WEB_KEY: &str = "sk-client-web-0123456789abcdef";
pub const BATCH_KEY: &str = "sk-client-batch-fedcba9876543210";

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// `BASE` plus two clients: `web` (group `g`, tenant `acme`) and `batch` (group `h`, no tenant).
pub fn with_clients() -> String {
    format!(
        "{BASE}clients:\n  - {{ name: web, key_sha256: \"{}\", groups: [g], tenant: acme }}\n  - {{ name: batch, key_sha256: \"{}\", groups: [h] }}\n",
        sha256_hex(WEB_KEY),
        sha256_hex(BATCH_KEY)
    )
}

/// Checks status, content type and the exact OpenAI error shape; returns the message.
pub async fn expect_error(resp: reqwest::Response, status: u16, kind: &str, code: &str) -> String {
    assert_eq!(resp.status().as_u16(), status, "status");
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert!(resp.headers().contains_key("x-switchyard-request-id"), "errors carry a request id too");
    let text = resp.text().await.expect("error body");
    error_shape(&text, kind, code)
}

pub fn error_shape(text: &str, kind: &str, code: &str) -> String {
    let body: serde_json::Value = serde_json::from_str(text).expect("error body is JSON");
    let obj = body.as_object().expect("an object");
    assert_eq!(obj.len(), 1, "only `error` at the top level: {text}");
    let err = body["error"].as_object().expect("`error` is an object");
    assert_eq!(err.len(), 3, "message, type, code: {text}");
    assert_eq!(body["error"]["type"], kind, "{text}");
    assert_eq!(body["error"]["code"], code, "{text}");
    let message = body["error"]["message"].as_str().expect("message is a string");
    assert!(!message.is_empty());
    message.to_owned()
}

/// The gateway still answers a normal request (and records it).
pub async fn still_serves(gw: &TestGateway) {
    still_serves_with(gw, None).await;
}

pub async fn still_serves_with(gw: &TestGateway, key: Option<&str>) {
    let mut req = client().post(gw.url("/v1/chat/completions")).body(chat("g"));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.expect("gateway still accepts connections");
    assert_eq!(resp.status(), 200, "gateway still serves");
    let body: serde_json::Value = resp.json().await.expect("json");
    assert!(body["choices"][0]["message"]["content"].is_string(), "{body}");
}

/// Stops the gateway; asserts the only records are the `ok` follow-up requests.
pub async fn only_followups_recorded(gw: TestGateway, ok: usize) {
    let dir = gw.stop().await;
    let records = TestGateway::records(&dir);
    assert_eq!(records.len(), ok, "rejected requests are not recorded: {records:?}");
    for r in &records {
        assert_eq!((r.group.as_str(), r.status, r.error_class.as_str()), ("g", 200, ""));
    }
}

pub async fn post(gw: &TestGateway, body: impl Into<reqwest::Body>) -> reqwest::Response {
    client()
        .post(gw.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("send")
}
