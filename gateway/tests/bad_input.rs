//! Bad input on the data plane (issue 2, "Bad input (each with a test)"): every case gets
//! the right status and an OpenAI-shaped error body, the gateway keeps serving afterwards,
//! and what is recorded (or deliberately not recorded) is checked.
//!
//! Requests rejected before a group and member are chosen (bad JSON, unknown group, auth,
//! limits, unknown member) produce no inference record: records live in per-group tables
//! and carry a member. The follow-up request that proves the gateway still serves *is*
//! recorded, so "no record" is never asserted on an empty spool by accident.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use support::{chat, client, TestGateway};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A mock-backed group `g` (and `h`), small limits so the limit tests stay fast.
const BASE: &str = r#"
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

const WEB_KEY: &str = "sk-client-web-0123456789abcdef";
const BATCH_KEY: &str = "sk-client-batch-fedcba9876543210";

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// `BASE` plus two clients: `web` (group `g`, tenant `acme`) and `batch` (group `h`, no tenant).
fn with_clients() -> String {
    format!(
        "{BASE}clients:\n  - {{ name: web, key_sha256: \"{}\", groups: [g], tenant: acme }}\n  - {{ name: batch, key_sha256: \"{}\", groups: [h] }}\n",
        sha256_hex(WEB_KEY),
        sha256_hex(BATCH_KEY)
    )
}

/// Checks status, content type and the exact OpenAI error shape; returns the message.
async fn expect_error(resp: reqwest::Response, status: u16, kind: &str, code: &str) -> String {
    assert_eq!(resp.status().as_u16(), status, "status");
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert!(resp.headers().contains_key("x-switchyard-request-id"), "errors carry a request id too");
    let text = resp.text().await.expect("error body");
    error_shape(&text, kind, code)
}

fn error_shape(text: &str, kind: &str, code: &str) -> String {
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
async fn still_serves(gw: &TestGateway) {
    still_serves_with(gw, None).await;
}

async fn still_serves_with(gw: &TestGateway, key: Option<&str>) {
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
async fn only_followups_recorded(gw: TestGateway, ok: usize) {
    let dir = gw.stop().await;
    let records = TestGateway::records(&dir);
    assert_eq!(records.len(), ok, "rejected requests are not recorded: {records:?}");
    for r in &records {
        assert_eq!((r.group.as_str(), r.status, r.error_class.as_str()), ("g", 200, ""));
    }
}

async fn post(gw: &TestGateway, body: impl Into<reqwest::Body>) -> reqwest::Response {
    client()
        .post(gw.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("send")
}

#[tokio::test]
async fn malformed_json_is_400() {
    let gw = TestGateway::start(BASE).await;
    let cases: [&[u8]; 5] =
        [b"{", br#"{"model":"g""#, b"{model: g}", br#"{"model":"g"} trailing"#, br#"{"model":"g","model":"h"}"#];
    for body in cases {
        let resp = post(&gw, body.to_vec()).await;
        assert_eq!(resp.status(), 400, "{}", String::from_utf8_lossy(body));
        let msg = expect_error(resp, 400, "invalid_request_error", "bad_json").await;
        assert!(msg.starts_with("request body is not valid JSON"), "{msg}");
        still_serves(&gw).await;
    }
    only_followups_recorded(gw, cases.len()).await;
}

#[tokio::test]
async fn empty_body_is_400() {
    let gw = TestGateway::start(BASE).await;
    for body in ["", "  \n\t "] {
        let msg = expect_error(post(&gw, body).await, 400, "invalid_request_error", "bad_json").await;
        assert!(msg.contains("empty"), "{msg}");
        still_serves(&gw).await;
    }
    only_followups_recorded(gw, 2).await;
}

#[tokio::test]
async fn invalid_utf8_is_400() {
    // RFC 8259 §8.1: JSON text is UTF-8. Bytes that are not must not be forwarded upstream,
    // including inside a field the gateway does not otherwise look at.
    let gw = TestGateway::start(BASE).await;
    let cases: [&[u8]; 3] = [
        b"{\"model\":\"g\",\"x\":\"\xff\xfe\"}",
        b"{\"model\":\"g\xc3\"}",
        b"{\"model\":\"g\",\"messages\":[{\"content\":\"\xed\xa0\x80\"}]}",
    ];
    let mut outcomes = Vec::new();
    for body in cases {
        let resp = post(&gw, body.to_vec()).await;
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        outcomes.push((String::from_utf8_lossy(body).into_owned(), status, text));
        still_serves(&gw).await;
    }
    for (body, status, text) in &outcomes {
        assert_eq!(*status, 400, "{body} -> {status} {text}; all: {outcomes:#?}");
        let msg = error_shape(text, "invalid_request_error", "bad_json");
        assert!(msg.starts_with("request body is not valid JSON"), "{msg}");
    }
    only_followups_recorded(gw, cases.len()).await;
}

#[tokio::test]
async fn non_object_json_is_400() {
    let gw = TestGateway::start(BASE).await;
    let cases = ["42", r#""g""#, "null", "true", "1.5e3"];
    for body in cases {
        let resp = post(&gw, body).await;
        assert_eq!(resp.status(), 400, "{body}");
        let text = resp.text().await.expect("body");
        let msg = error_shape(&text, "invalid_request_error", "bad_json");
        assert!(msg.contains("must be a JSON object"), "{body}: {msg}");
        still_serves(&gw).await;
    }
    only_followups_recorded(gw, cases.len()).await;
}

#[tokio::test]
async fn json_array_is_not_a_request() {
    // An array is not an object, even when its elements fit the request's fields in
    // order (`["g", true]` would otherwise read as model `g`, stream `true`).
    let gw = TestGateway::start(BASE).await;
    let cases = ["[1,2]", r#"[{"model":"g"}]"#, r#"["g"]"#, r#"["g",true]"#, "[]"];
    let mut outcomes = Vec::new();
    for body in cases {
        let resp = post(&gw, body).await;
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        outcomes.push((body, status, text));
        still_serves(&gw).await;
    }
    let wrong: Vec<_> =
        outcomes.iter().filter(|(_, status, text)| *status != 400 || !text.contains(r#""code":"bad_json""#)).collect();
    assert!(wrong.is_empty(), "not refused as a non-object: {wrong:#?}");
    for (_, _, text) in &outcomes {
        let msg = error_shape(text, "invalid_request_error", "bad_json");
        assert!(msg.contains("must be a JSON object"), "{msg}");
    }
    only_followups_recorded(gw, cases.len()).await;
}

#[tokio::test]
async fn missing_model_is_400() {
    let gw = TestGateway::start(BASE).await;
    for body in [r#"{}"#, r#"{"messages":[{"role":"user","content":"hi"}]}"#, r#"{"Model":"g"}"#, r#"{"model":null}"#] {
        let msg = expect_error(post(&gw, body).await, 400, "invalid_request_error", "bad_request").await;
        assert_eq!(msg, "`model` is required: name a model group");
        still_serves(&gw).await;
    }
    only_followups_recorded(gw, 4).await;
}

#[tokio::test]
async fn non_string_model_is_400() {
    let gw = TestGateway::start(BASE).await;
    let cases = [r#"{"model":3}"#, r#"{"model":["g"]}"#, r#"{"model":{"name":"g"}}"#, r#"{"model":true}"#];
    for body in cases {
        let msg = expect_error(post(&gw, body).await, 400, "invalid_request_error", "bad_request").await;
        assert_eq!(msg, "`model` must be a string", "{body}");
        still_serves(&gw).await;
    }
    let msg = expect_error(post(&gw, r#"{"model":""}"#).await, 400, "invalid_request_error", "bad_request").await;
    assert_eq!(msg, "`model` must not be empty");
    still_serves(&gw).await;
    only_followups_recorded(gw, cases.len() + 1).await;
}

#[tokio::test]
async fn non_boolean_stream_is_400() {
    let gw = TestGateway::start(BASE).await;
    let cases = [r#"{"model":"g","stream":"yes"}"#, r#"{"model":"g","stream":1}"#, r#"{"model":"g","stream":"true"}"#];
    for body in cases {
        let msg = expect_error(post(&gw, body).await, 400, "invalid_request_error", "bad_request").await;
        assert_eq!(msg, "`stream` must be a boolean", "{body}");
        still_serves(&gw).await;
    }
    only_followups_recorded(gw, cases.len()).await;
}

#[tokio::test]
async fn unknown_group_is_404_and_not_echoed_raw() {
    let gw = TestGateway::start(BASE).await;
    let msg = expect_error(post(&gw, chat("nope")).await, 404, "not_found_error", "unknown_group").await;
    assert_eq!(msg, "model group `nope` does not exist");
    still_serves(&gw).await;

    // Control characters, spaces, markup, non-ASCII and sheer length from the client.
    let nasty = format!("evil\u{0}\r\nX-Injected: 1 <script>alert(1)</script>\u{202e}grüppe{}", "A".repeat(300));
    let body = serde_json::json!({"model": nasty, "messages": []}).to_string();
    let resp = post(&gw, body).await;
    assert!(resp.headers().get("x-injected").is_none());
    let msg = expect_error(resp, 404, "not_found_error", "unknown_group").await;
    let echoed = msg
        .strip_prefix("model group `")
        .and_then(|m| m.strip_suffix("` does not exist"))
        .expect("fixed message shape");
    assert!(echoed.len() <= 64, "echo is bounded: {} chars", echoed.len());
    assert!(echoed.chars().all(|c| c.is_ascii_graphic()), "echo is printable ASCII only: {echoed:?}");
    assert!(echoed.starts_with("evilX-Injected:1<script>"), "{echoed:?}");
    assert!(!msg.contains(&nasty) && !msg.contains('\r') && !msg.contains('\n') && !msg.contains('\u{202e}'));
    still_serves(&gw).await;
    only_followups_recorded(gw, 2).await;
}

/// Sends `request` on a fresh connection and reads the whole response (the request asks
/// for `connection: close`). Returns (status, head, body).
async fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request).await.expect("write request");
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut chunk = [0u8; 4096];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                // A reset after the response was read is fine; before it, the parse below fails.
                Err(_) => break,
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server answers and closes within 5 s");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("a full response head: {text:?}"));
    let status =
        head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("a status line: {head:?}"));
    (status, head.to_ascii_lowercase(), body.to_owned())
}

/// A valid chat body of exactly `len` bytes.
fn body_of_len(len: usize) -> String {
    let prefix = r#"{"model":"g","messages":[{"role":"user","content":""#;
    let suffix = r#""}]}"#;
    let pad = len - prefix.len() - suffix.len();
    let body = format!("{prefix}{}{suffix}", "x".repeat(pad));
    assert_eq!(body.len(), len);
    body
}

fn chunked(body: &str, chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in body.as_bytes().chunks(chunk) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[tokio::test]
async fn body_over_limit_with_content_length_is_413() {
    let gw = TestGateway::start(BASE).await;
    let addr = gw.gw().data_addr;
    // Exactly at the limit is accepted.
    let ok = body_of_len(1024);
    let resp = client().post(gw.url("/v1/chat/completions")).body(ok).send().await.expect("send");
    assert_eq!(resp.status(), 200, "a body of exactly max_body_bytes is accepted");

    for len in [1025, 64 * 1024] {
        let body = body_of_len(len);
        let req = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n{body}"
        );
        let (status, head, text) = raw(addr, req.as_bytes()).await;
        assert_eq!(status, 413, "{head}");
        assert!(head.contains("content-type: application/json"), "{head}");
        let msg = error_shape(&text, "invalid_request_error", "body_too_large");
        assert_eq!(msg, "request body exceeds the limit of 1024 bytes");
        still_serves(&gw).await;
    }
    only_followups_recorded(gw, 3).await;
}

#[tokio::test]
async fn body_over_limit_chunked_is_413() {
    let gw = TestGateway::start(BASE).await;
    let addr = gw.gw().data_addr;
    let head = "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";

    // At the limit, chunked: accepted.
    let mut req = head.as_bytes().to_vec();
    req.extend(chunked(&body_of_len(1024), 100));
    let (status, _, text) = raw(addr, &req).await;
    assert_eq!(status, 200, "{text}");

    for len in [1025, 6000] {
        let mut req = head.as_bytes().to_vec();
        req.extend(chunked(&body_of_len(len), 256));
        let (status, head, text) = raw(addr, &req).await;
        assert_eq!(status, 413, "{head}");
        let msg = error_shape(&text, "invalid_request_error", "body_too_large");
        assert_eq!(msg, "request body exceeds the limit of 1024 bytes");
        still_serves(&gw).await;
    }
    only_followups_recorded(gw, 3).await;
}

#[tokio::test]
async fn body_that_never_arrives_is_408() {
    let gw = TestGateway::start(BASE).await;
    let mut s = TcpStream::connect(gw.gw().data_addr).await.expect("connect");
    let started = Instant::now();
    s.write_all(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{\"model\":",
    )
    .await
    .expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await.expect("answered within 5 s");
    assert!(started.elapsed() >= Duration::from_millis(250), "waited for body_timeout_ms");
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    let (_, body) = text.split_once("\r\n\r\n").expect("head");
    error_shape(body, "invalid_request_error", "body_timeout");
    still_serves(&gw).await;
    only_followups_recorded(gw, 1).await;
}

/// Whether the server ended the connection: EOF, a reset, or a 408 answer.
async fn closed_by_server(s: &mut tokio::net::tcp::OwnedReadHalf, within: Duration) -> Result<String, String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let outcome = tokio::time::timeout(within, async {
        loop {
            match s.read(&mut chunk).await {
                Ok(0) => return "eof".to_owned(),
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.starts_with(b"HTTP/1.1 408") {
                        return "408".to_owned();
                    }
                    if buf.len() >= 12 && !buf.starts_with(b"HTTP/1.1 408") {
                        return format!("unexpected answer: {}", String::from_utf8_lossy(&buf));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return "reset".to_owned(),
                Err(e) => return format!("unexpected error: {e}"),
            }
        }
    })
    .await;
    match outcome {
        Ok(how) if how == "eof" || how == "reset" || how == "408" => Ok(how),
        Ok(other) => Err(other),
        Err(_) => Err(format!("connection still open after {within:?}")),
    }
}

/// Writes `bytes` one at a time, `every` apart, until done or the server hangs up.
fn trickle(mut w: tokio::net::tcp::OwnedWriteHalf, bytes: Vec<u8>, every: Duration) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut sent = 0;
        for b in bytes {
            if w.write_all(&[b]).await.is_err() {
                break;
            }
            sent += 1;
            tokio::time::sleep(every).await;
        }
        // Keep the write side open (no FIN) so only the server can end the connection.
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(w);
        sent
    })
}

#[tokio::test]
async fn slow_loris_headers_are_cut_off() {
    let gw = TestGateway::start(BASE).await;
    let stream = TcpStream::connect(gw.gw().data_addr).await.expect("connect");
    let (mut r, w) = stream.into_split();
    let started = Instant::now();
    // Every byte arrives well within the timeout, but the whole head would take ~10 s.
    let head = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".to_vec();
    let writer = trickle(w, head, Duration::from_millis(100));
    let how = closed_by_server(&mut r, Duration::from_secs(3)).await;
    let elapsed = started.elapsed();
    writer.abort();
    let how = how.expect("the server closes a connection whose headers trickle in");
    assert!(elapsed >= Duration::from_millis(250), "closed by the header timeout ({how}), not at once: {elapsed:?}");
    still_serves(&gw).await;
    only_followups_recorded(gw, 1).await;
}

#[tokio::test]
async fn silent_connection_is_closed() {
    // A connection that sends nothing at all must not be held open forever either.
    let gw = TestGateway::start(BASE).await;
    let stream = TcpStream::connect(gw.gw().data_addr).await.expect("connect");
    let (mut r, _w) = stream.into_split();
    let how = closed_by_server(&mut r, Duration::from_secs(3)).await;
    how.expect("the server closes a connection that never sends a request head (header_timeout_ms: 300)");
    still_serves(&gw).await;
    only_followups_recorded(gw, 1).await;
}

#[tokio::test]
async fn stalled_h2_preface_is_closed() {
    // The start of the HTTP/2 preface, then nothing: the server must not wait forever to
    // find out which protocol it speaks.
    let gw = TestGateway::start(BASE).await;
    let mut stream = TcpStream::connect(gw.gw().data_addr).await.expect("connect");
    stream.write_all(b"PRI * HTTP/2.0\r\n").await.expect("write");
    let (mut r, _w) = stream.into_split();
    let how = closed_by_server(&mut r, Duration::from_secs(3)).await;
    how.expect("the server closes a connection stalled inside the h2 preface (header_timeout_ms: 300)");
    still_serves(&gw).await;
    only_followups_recorded(gw, 1).await;
}

#[tokio::test]
async fn client_keys_authenticate_and_authorize() {
    let gw = TestGateway::start(&with_clients()).await;
    let url = gw.url("/v1/chat/completions");

    // Missing key.
    let resp = client().post(&url).body(chat("g")).send().await.expect("send");
    let msg = expect_error(resp, 401, "authentication_error", "unauthenticated").await;
    assert!(msg.starts_with("missing API key"), "{msg}");
    // Wrong keys: unknown, empty, a hash instead of the key, the right key with a typo.
    let web_hash = sha256_hex(WEB_KEY);
    for bad in ["sk-wrong", "", web_hash.as_str(), &WEB_KEY[..WEB_KEY.len() - 1]] {
        let resp = client()
            .post(&url)
            .header("authorization", format!("Bearer {bad}"))
            .body(chat("g"))
            .send()
            .await
            .expect("send");
        let msg = expect_error(resp, 401, "authentication_error", "unauthenticated").await;
        if !bad.is_empty() {
            // (`Bearer ` with nothing after it arrives as `Bearer`: optional whitespace
            // at the end of a header value is not part of it, so that one is "missing".)
            assert_eq!(msg, "invalid API key");
            assert!(!msg.contains(bad), "the presented key is not echoed");
        }
    }
    // Not a bearer scheme at all.
    let resp = client()
        .post(&url)
        .header("authorization", format!("Basic {WEB_KEY}"))
        .body(chat("g"))
        .send()
        .await
        .expect("send");
    expect_error(resp, 401, "authentication_error", "unauthenticated").await;
    still_serves_with(&gw, Some(WEB_KEY)).await;

    // A valid key for another group.
    let resp = client().post(&url).bearer_auth(BATCH_KEY).body(chat("g")).send().await.expect("send");
    let msg = expect_error(resp, 403, "permission_error", "forbidden").await;
    assert_eq!(msg, "this key may not use model group `g`");
    let resp = client().post(&url).bearer_auth(WEB_KEY).body(chat("h")).send().await.expect("send");
    expect_error(resp, 403, "permission_error", "forbidden").await;

    // Valid keys.
    let resp = client().post(&url).bearer_auth(WEB_KEY).body(chat("g")).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    let web_id = resp.headers()["x-switchyard-request-id"].to_str().expect("ascii").to_owned();
    let resp = client().post(&url).bearer_auth(BATCH_KEY).body(chat("h")).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    let batch_id = resp.headers()["x-switchyard-request-id"].to_str().expect("ascii").to_owned();

    let dir = gw.stop().await;
    let records = TestGateway::records(&dir);
    assert_eq!(records.len(), 3, "the two valid requests and the still-serves check: {records:?}");
    let web = records.iter().find(|r| r.request_id == web_id).expect("web record");
    assert_eq!((web.tenant.as_str(), web.client.as_str(), web.group.as_str(), web.status), ("acme", "web", "g", 200));
    let batch = records.iter().find(|r| r.request_id == batch_id).expect("batch record");
    assert_eq!(
        (batch.tenant.as_str(), batch.client.as_str(), batch.group.as_str(), batch.status),
        ("batch", "batch", "h", 200),
        "tenant defaults to the client's name"
    );
    let text = serde_json::to_string(&records).expect("records serialize");
    assert!(!text.contains(WEB_KEY) && !text.contains(BATCH_KEY), "client keys never reach records");
}

#[tokio::test]
async fn unauthorized_answer_names_the_scheme() {
    // RFC 9110 §15.5.2: a 401 response MUST carry `WWW-Authenticate`.
    let gw = TestGateway::start(&with_clients()).await;
    let resp = client().post(gw.url("/v1/chat/completions")).body(chat("g")).send().await.expect("send");
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers().get("www-authenticate").map(|v| v.to_str().expect("ascii").to_ascii_lowercase());
    assert!(challenge.as_deref().is_some_and(|c| c.starts_with("bearer")), "www-authenticate: {challenge:?}");
    gw.stop().await;
}

#[tokio::test]
async fn unknown_member_pin_is_400() {
    let gw = TestGateway::start(BASE).await;
    let pinned = client()
        .post(gw.url("/v1/chat/completions"))
        .header("x-switchyard-member", "chall")
        .body(chat("g"))
        .send()
        .await
        .expect("send");
    assert_eq!(pinned.status(), 200);
    assert_eq!(pinned.headers()["x-switchyard-member"], "chall");
    assert_eq!(pinned.headers()["x-switchyard-assignment"], "pinned");

    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .header("x-switchyard-member", "nobody")
        .body(chat("g"))
        .send()
        .await
        .expect("send");
    let msg = expect_error(resp, 400, "invalid_request_error", "unknown_member").await;
    assert_eq!(msg, "group `g` has no member `nobody`");

    // A member of *another* group is not a member of this one.
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .header("x-switchyard-member", "only")
        .body(chat("g"))
        .send()
        .await
        .expect("send");
    expect_error(resp, 400, "invalid_request_error", "unknown_member").await;

    // Non-ASCII, spaces and length are not echoed.
    let nasty = http::HeaderValue::from_bytes(format!("no body <b>\u{e9}{}", "z".repeat(200)).as_bytes())
        .expect("obs-text is a valid header value");
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .header("x-switchyard-member", nasty)
        .body(chat("g"))
        .send()
        .await
        .expect("send");
    let msg = expect_error(resp, 400, "invalid_request_error", "unknown_member").await;
    let echoed = msg.strip_prefix("group `g` has no member `").and_then(|m| m.strip_suffix('`')).expect("shape");
    assert!(echoed.len() <= 64 && echoed.chars().all(|c| c.is_ascii_graphic()), "{echoed:?}");
    assert!(!msg.contains("no body"), "{msg}");
    still_serves(&gw).await;

    let dir = gw.stop().await;
    let records = TestGateway::records(&dir);
    assert_eq!(records.len(), 2, "the pinned and the still-serves requests: {records:?}");
    assert!(records.iter().any(|r| r.member == "chall" && r.assignment == "pinned"));
}

#[tokio::test]
async fn wrong_method_is_405_and_unknown_path_is_404() {
    let gw = TestGateway::start(BASE).await;
    let c = client();
    for (method, path) in [
        (reqwest::Method::GET, "/v1/chat/completions"),
        (reqwest::Method::PUT, "/v1/completions"),
        (reqwest::Method::DELETE, "/v1/embeddings"),
        (reqwest::Method::POST, "/v1/models"),
    ] {
        let resp = c.request(method.clone(), gw.url(path)).body(chat("g")).send().await.expect("send");
        let msg = expect_error(resp, 405, "invalid_request_error", "method_not_allowed").await;
        assert_eq!(msg, "method not allowed", "{method} {path}");
    }
    for path in ["/", "/v1/nope", "/v1/chat/completions/", "/v1/chat", "/metrics"] {
        let resp = c.post(gw.url(path)).body(chat("g")).send().await.expect("send");
        let msg = expect_error(resp, 404, "not_found_error", "not_found").await;
        assert_eq!(msg, format!("no route for {path}"));
    }
    // A path full of escapes and junk is echoed bounded and printable.
    let junk = format!("/v1/%0d%0aSet-Cookie:%20x=1/{}", "p".repeat(300));
    let resp = c.get(gw.url(&junk)).send().await.expect("send");
    assert!(resp.headers().get("set-cookie").is_none());
    let msg = expect_error(resp, 404, "not_found_error", "not_found").await;
    let echoed = msg.strip_prefix("no route for ").expect("shape");
    assert!(echoed.len() <= 64 && echoed.chars().all(|ch| ch.is_ascii_graphic()), "{echoed:?}");
    still_serves(&gw).await;
    only_followups_recorded(gw, 1).await;
}

#[tokio::test]
async fn method_not_allowed_names_the_allowed_method() {
    // RFC 9110 §15.5.6: a 405 response MUST carry `Allow`.
    let gw = TestGateway::start(BASE).await;
    let resp = client().get(gw.url("/v1/chat/completions")).send().await.expect("send");
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers().get("allow").map(|v| v.to_str().expect("ascii")), Some("POST"));
    let resp = client().post(gw.url("/v1/models")).send().await.expect("send");
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers().get("allow").map(|v| v.to_str().expect("ascii")), Some("GET"));
    gw.stop().await;
}

async fn model_ids(gw: &TestGateway, key: Option<&str>) -> (u16, serde_json::Value) {
    let mut req = client().get(gw.url("/v1/models"));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json"))
}

fn ids(list: &serde_json::Value) -> Vec<String> {
    assert_eq!(list["object"], "list");
    list["data"]
        .as_array()
        .expect("data array")
        .iter()
        .map(|m| {
            assert_eq!(m["object"], "model");
            m["id"].as_str().expect("id").to_owned()
        })
        .collect()
}

#[tokio::test]
async fn models_lists_only_the_groups_a_key_may_use() {
    let yaml = format!(
        "{}  - {{ name: all, key_sha256: \"{}\", groups: [\"*\"] }}\n",
        with_clients(),
        sha256_hex("sk-client-all-000")
    );
    let gw = TestGateway::start(&yaml).await;
    let (status, body) = model_ids(&gw, Some(WEB_KEY)).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&body), ["g"]);
    let (_, body) = model_ids(&gw, Some(BATCH_KEY)).await;
    assert_eq!(ids(&body), ["h"]);
    let (_, body) = model_ids(&gw, Some("sk-client-all-000")).await;
    assert_eq!(ids(&body), ["g", "h"]);
    let (status, body) = model_ids(&gw, None).await;
    assert_eq!(status, 401);
    error_shape(&body.to_string(), "authentication_error", "unauthenticated");
    let (status, body) = model_ids(&gw, Some("sk-nope")).await;
    assert_eq!(status, 401);
    error_shape(&body.to_string(), "authentication_error", "unauthenticated");
    still_serves_with(&gw, Some(WEB_KEY)).await;
    gw.stop().await;

    // Without `clients:`, every group is listed to everyone.
    let gw = TestGateway::start(BASE).await;
    let (status, body) = model_ids(&gw, None).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&body), ["g", "h"]);
    gw.stop().await;
}
