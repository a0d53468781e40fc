//! Connection-level bad input: bodies over the limit (declared and chunked), bodies and
//! headers that never finish (slow loris), silent sockets and stalled h2 prefaces. Each
//! gets a clear status or a closed connection, and the gateway keeps serving.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use switchyard_testkit::errors::*;
use switchyard_testkit::{chat, client, read_http1_response, TestGateway};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

/// Header and keep-alive deadlines told apart: 300 ms for a head, 5 s between requests.
const KEEPALIVE: &str = r#"
limits: { max_body_bytes: 1024, header_timeout_ms: 300, body_timeout_ms: 300, keepalive_timeout_ms: 5000 }
providers:
  mock: { kind: mock }
groups:
  g:
    members:
      - { name: champ, role: champion, provider: mock, model: m-champ, weight: 1 }
"#;

/// Sends one chat request for group `g` on `s` and reads its response (head and
/// `content-length` body); returns the status.
async fn exchange(s: &mut TcpStream) -> u16 {
    let body = chat("g");
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("write head");
    s.write_all(body.as_bytes()).await.expect("write body");
    let (head, _) = read_http1_response(s).await;
    head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status")
}

#[tokio::test]
async fn idle_keep_alive_connection_lasts_keepalive_timeout_not_header_timeout() {
    let gw = TestGateway::start(KEEPALIVE).await;
    let mut s = TcpStream::connect(gw.gw().data_addr).await.expect("connect");
    assert_eq!(exchange(&mut s).await, 200);
    // Idle for longer than the header timeout (300 ms), well within keep-alive (5 s).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(exchange(&mut s).await, 200, "the same connection serves a second request after 1.2 s idle");
    let idle = Instant::now();
    let (mut r, _w) = s.into_split();
    let how = closed_by_server(&mut r, Duration::from_secs(9)).await.expect("closed after keepalive_timeout_ms");
    let waited = idle.elapsed();
    assert!(waited >= Duration::from_millis(4500), "closed by keep-alive ({how}) after 5 s, not sooner: {waited:?}");
    still_serves(&gw).await;
    only_followups_recorded(gw, 3).await;
}

#[tokio::test]
async fn slow_loris_on_a_keep_alive_connection_is_cut_at_header_timeout() {
    let gw = TestGateway::start(KEEPALIVE).await;
    let mut s = TcpStream::connect(gw.gw().data_addr).await.expect("connect");
    assert_eq!(exchange(&mut s).await, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (mut r, w) = s.into_split();
    let started = Instant::now();
    let head =
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
            .to_vec();
    let writer = trickle(w, head, Duration::from_millis(100));
    // Every byte within the header timeout of the last, the whole head ~7 s: cut at 300 ms
    // after its first byte, long before the 5 s keep-alive.
    let how = closed_by_server(&mut r, Duration::from_secs(3)).await;
    writer.abort();
    let how = how.expect("the server closes a keep-alive connection whose next head trickles in");
    assert!(started.elapsed() >= Duration::from_millis(250), "by the header timeout ({how})");
    still_serves(&gw).await;
    only_followups_recorded(gw, 2).await;
}
