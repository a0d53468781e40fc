//! SPEC §3 `503 not ready`: while the gateway is starting or draining, the data plane
//! answers 503 with `Retry-After` in the ingress's error shape (OpenAI, Anthropic, OIP)
//! instead of serving; OIP's health probes still answer. A request whose head is being
//! read on a keep-alive connection when draining starts is answered 503 (and the
//! connection closed), not dropped; idle connections are closed.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use switchyard_testkit::{chat, client, read_http1_response, TestGateway};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const YAML: &str = r#"
providers:
  mock: { kind: mock }
  oip: { kind: oip, base_url: "http://127.0.0.1:9" }
groups:
  g:
    members:
      - { name: m, role: champion, provider: mock, model: m, weight: 1 }
  tab:
    members:
      - { name: t, role: champion, provider: oip, model: t, weight: 1 }
"#;

const MESSAGES: &str = r#"{"model":"g","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#;
const OIP: &str = r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1.0]}]}"#;

/// `switchyard_requests_total` lines for requests that never reached a group, code 5xx.
fn unrecorded_5xx(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("switchyard_requests_total{") && l.contains(r#"group="_none""#))
        .filter(|l| l.contains(r#"code="5xx""#))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn while_not_ready_every_ingress_answers_503_in_its_own_shape() {
    let gw = TestGateway::start(YAML).await;
    let c = client();
    let before = unrecorded_5xx(&gw.metrics().await);
    // The state the gateway is in from binding its listeners until it is ready, and again
    // once draining starts.
    gw.gw().shared.ready.store(false, Ordering::Relaxed);

    let resp = c.post(gw.url("/v1/chat/completions")).body(chat("g")).send().await.expect("send");
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert!(resp.headers().contains_key("x-switchyard-request-id"));
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["code"], "not_ready", "{body}");
    assert_eq!(body["error"]["type"], "server_error", "{body}");

    let resp = c.post(gw.url("/v1/messages")).body(MESSAGES).send().await.expect("send");
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!((body["type"].as_str(), body["error"]["type"].as_str()), (Some("error"), Some("overloaded_error")));

    let resp = c.post(gw.url("/v2/models/tab/infer")).body(OIP).send().await.expect("send");
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body, serde_json::json!({"error": "the gateway is not ready"}));

    for path in ["/v1/models", "/v2/models/tab", "/v2"] {
        let resp = c.get(gw.url(path)).send().await.expect("send");
        assert_eq!(resp.status(), 503, "{path}");
        assert_eq!(resp.headers()["retry-after"], "1", "{path}");
    }
    // Health probes answer: ready says no, live says yes.
    let resp = c.get(gw.url("/v2/health/ready")).send().await.expect("send");
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.json::<serde_json::Value>().await.expect("json"), serde_json::json!({"ready": false}));
    assert_eq!(c.get(gw.url("/v2/health/live")).send().await.expect("send").status(), 200);
    assert_eq!(c.get(format!("{}/readyz", gw.admin)).send().await.expect("send").status(), 503);
    // Every 503 is counted like any early exit (6 refused + the OIP ready probe).
    let after = unrecorded_5xx(&gw.metrics().await);
    assert_eq!(after - before, 7.0, "counted in switchyard_requests_total");

    gw.gw().shared.ready.store(true, Ordering::Relaxed);
    let resp = c.post(gw.url("/v1/chat/completions")).body(chat("g")).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    let dir = gw.stop().await;
    // Refused requests did no work: only the served one is recorded.
    assert_eq!(TestGateway::records(&dir).len(), 1);
}

fn request_head(body: &str) -> (String, String) {
    let first = "POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n".to_owned();
    let rest = format!("content-length: {}\r\n\r\n{body}", body.len());
    (first, rest)
}

/// Whether the server closes `s` within `within` (EOF or reset).
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut b = [0u8; 64];
    matches!(tokio::time::timeout(within, s.read(&mut b)).await, Ok(Ok(0)) | Ok(Err(_)))
}

async fn refused_within(addr: SocketAddr, within: Duration) -> bool {
    switchyard_testkit::eventually(within, async || TcpStream::connect(addr).await.is_err()).await
}

#[tokio::test]
async fn a_request_being_read_when_draining_starts_gets_503_and_idle_connections_close() {
    let gw = TestGateway::start(YAML).await;
    let addr = gw.gw().data_addr;
    let body = chat("g");
    let (first, rest) = request_head(&body);

    // Two keep-alive connections, each served once.
    let mut reading = TcpStream::connect(addr).await.expect("connect");
    let mut idle = TcpStream::connect(addr).await.expect("connect");
    for s in [&mut reading, &mut idle] {
        s.write_all(format!("{first}{rest}").as_bytes()).await.expect("write");
        let (head, _) = read_http1_response(s).await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
    }
    // A fresh connection that never sends a byte.
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    // The next request's head starts arriving on one of them.
    reading.write_all(first.as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;

    let stopping = tokio::spawn(gw.stop());
    assert!(refused_within(addr, Duration::from_secs(2)).await, "draining has started");
    assert!(closed_within(&mut idle, Duration::from_secs(2)).await, "an idle keep-alive connection is closed");
    assert!(closed_within(&mut silent, Duration::from_secs(2)).await, "a silent connection is closed");

    // The rest of the head and the body arrive: the request is answered, not dropped.
    reading.write_all(rest.as_bytes()).await.expect("the connection is still open");
    let (head, body) = read_http1_response(&mut reading).await;
    assert!(head.starts_with("http/1.1 503"), "{head}");
    assert!(head.contains("retry-after: 1"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    let body: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(body["error"]["code"], "not_ready");
    assert!(closed_within(&mut reading, Duration::from_secs(2)).await, "then the connection is closed");

    let dir = tokio::time::timeout(Duration::from_secs(5), stopping).await.expect("shutdown completes").expect("join");
    assert_eq!(TestGateway::records(&dir).len(), 2, "the two served requests are recorded, the 503 is not");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2_stream_opened_as_draining_starts_gets_503_and_the_one_in_flight_finishes() {
    use switchyard_testkit::h2raw::{frame, request_block, Raw, ACK, DATA, END_HEADERS, END_STREAM, HEADERS, PING};
    let yaml = YAML.replace("mock: { kind: mock }", "mock: { kind: mock, stream_chunks: 10, chunk_delay_ms: 100 }");
    let gw = TestGateway::start(&yaml).await;
    let addr = gw.gw().data_addr;
    let mut raw = Raw::connect(addr).await;
    // Stream 1: a streamed answer that takes ~1 s.
    let stream = switchyard_testkit::chat_stream("g");
    assert!(
        raw.send(
            &[frame(HEADERS, END_HEADERS, 1, &request_block()), frame(DATA, END_STREAM, 1, stream.as_bytes())].concat()
        )
        .await
    );
    assert!(raw.until(Duration::from_secs(5), |s| s.responses >= 1).await, "stream 1 is answered");

    let stopping = tokio::spawn(gw.stop());
    // h2's graceful shutdown: a first GOAWAY that still admits every stream (last stream
    // id 2^31-1) and a PING; this client never answers the PING, so the final GOAWAY waits.
    assert!(raw.until(Duration::from_secs(5), |s| s.goaway.is_some()).await, "GOAWAY");
    assert_eq!(raw.seen(|s| s.goaway), Some((0x7fff_ffff, 0)), "graceful GOAWAY");
    // A stream the client opened before it saw the GOAWAY is answered 503, not dropped.
    let body = chat("g");
    assert!(
        raw.send(
            &[frame(HEADERS, END_HEADERS, 3, &request_block()), frame(DATA, END_STREAM, 3, body.as_bytes())].concat()
        )
        .await
    );
    assert!(
        raw.until(Duration::from_secs(5), |s| s.body(3).contains("not_ready")).await,
        "stream 3: {:?}",
        raw.seen(|s| s.body(3))
    );
    // The stream in flight finishes whole.
    assert!(
        raw.until(Duration::from_secs(5), |s| s.body(1).ends_with("data: [DONE]\n\n")).await,
        "stream 1 is not cut: {:?}",
        raw.seen(|s| s.body(1))
    );
    // The client answers the PING: the final GOAWAY comes and the drain completes.
    let ping = raw.seen(|s| s.last_ping).expect("the shutdown PING");
    assert!(raw.send(&frame(PING, ACK, 0, &ping)).await);
    assert!(raw.closed_within(Duration::from_secs(5)).await, "the connection is closed");
    let dir = tokio::time::timeout(Duration::from_secs(5), stopping).await.expect("shutdown completes").expect("join");
    let records = TestGateway::records(&dir);
    assert_eq!(records.len(), 1, "the stream in flight is recorded, the 503 is not: {records:?}");
    assert_eq!(records[0].status, 200);
}
