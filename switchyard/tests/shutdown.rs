//! Graceful shutdown: requests in flight finish and are recorded, new connections are
//! refused as soon as shutdown starts, and the drain is bounded by `shutdown_grace_ms`.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use switchyard_testkit::upstream::FakeUpstream;
use switchyard_testkit::{chat_stream, client, TestGateway};

fn config(fake: &FakeUpstream, model: &str, limits: &str) -> String {
    format!(
        r#"
{limits}
providers:
  fake: {{ kind: openai, base_url: "{}" }}
groups:
  g:
    members:
      - {{ name: m, role: champion, provider: fake, model: {model}, weight: 1 }}
"#,
        fake.base_url()
    )
}

/// Polls until connecting to `addr` is refused (the listener is closed).
async fn refused_within(addr: std::net::SocketAddr, within: Duration) -> bool {
    switchyard_testkit::eventually(within, async || match tokio::net::TcpStream::connect(addr).await {
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
        Ok(_) => false,
    })
    .await
}

#[tokio::test]
async fn in_flight_stream_finishes_and_new_connections_are_refused() {
    let fake = FakeUpstream::start().await;
    let gw = TestGateway::start(&config(&fake, "gated-stream", "")).await;
    let (data, admin) = (gw.gw().data_addr, gw.gw().admin_addr);
    let shared = gw.gw().shared.clone();
    let resp = client().post(gw.url("/v1/chat/completions")).body(chat_stream("g")).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["x-switchyard-request-id"].to_str().expect("ascii").to_owned();
    let mut body = resp.bytes_stream();
    let first = tokio::time::timeout(Duration::from_secs(5), body.next())
        .await
        .expect("first chunk")
        .expect("a frame")
        .expect("ok");
    let mut received = first.to_vec();
    assert!(String::from_utf8_lossy(&received).contains("\"t0\""));

    // Shut down while the upstream is still holding the rest of the stream.
    let stopping = tokio::spawn(gw.stop());
    assert!(refused_within(data, Duration::from_secs(2)).await, "the data listener closes at once");
    assert!(refused_within(admin, Duration::from_secs(2)).await, "the admin listener closes at once");
    assert!(!shared.is_ready(), "not ready while draining");
    // `Shared` holds the record queue open; the drain waits for every holder.
    drop(shared);
    let err = client().post(format!("http://{data}/v1/chat/completions")).body(chat_stream("g")).send().await;
    assert!(err.as_ref().is_err_and(reqwest::Error::is_connect), "new requests are refused: {err:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!stopping.is_finished(), "shutdown waits for the request in flight");

    fake.release();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(5), body.next()).await.expect("no stall") {
        received.extend_from_slice(&chunk.expect("the stream is not cut"));
    }
    let text = String::from_utf8(received).expect("utf-8");
    assert!(text.ends_with("data: [DONE]\n\n"), "the client gets the whole stream: {text}");

    let dir = tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("shutdown completes once the stream is done")
        .expect("join");
    let records = TestGateway::records(&dir);
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r.request_id, id);
    assert!(r.stream);
    assert_eq!((r.status, r.error_class.as_str()), (200, ""), "recorded as a complete stream");
    assert_eq!((r.input_tokens, r.output_tokens), (Some(3), Some(5)));
}

#[tokio::test]
async fn idle_keep_alive_connections_do_not_delay_shutdown() {
    let fake = FakeUpstream::start().await;
    let gw = TestGateway::start(&config(&fake, "ok", "")).await;
    let c = client();
    // Leave a pooled keep-alive connection open.
    let resp = c.post(gw.url("/v1/chat/completions")).body(switchyard_testkit::chat("g")).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    let _ = resp.text().await.expect("body");
    let started = Instant::now();
    let dir = tokio::time::timeout(Duration::from_secs(3), gw.stop())
        .await
        .expect("shutdown is not held up by idle connections");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!(TestGateway::records(&dir).len(), 1);
}

#[tokio::test]
async fn drain_is_bounded_by_the_grace_period() {
    // The upstream stalls forever and the idle timeout is long: only
    // `limits.shutdown_grace_ms` can end the drain.
    let fake = FakeUpstream::start().await;
    let yaml = config(&fake, "stall-stream", "limits: { shutdown_grace_ms: 300 }")
        .replace("  g:\n", "  g:\n    timeouts: { idle_ms: 60000 }\n");
    let gw = TestGateway::start(&yaml).await;
    let resp = client().post(gw.url("/v1/chat/completions")).body(chat_stream("g")).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    let _first = tokio::time::timeout(Duration::from_secs(5), body.next()).await.expect("first chunk");

    let started = Instant::now();
    let stopped = tokio::time::timeout(Duration::from_secs(3), gw.stop()).await;
    let elapsed = started.elapsed();
    let dir =
        stopped.expect("shutdown completes shortly after shutdown_grace_ms (300 ms), not after the 60 s idle timeout");
    assert!(elapsed >= Duration::from_millis(250), "the grace period was given: {elapsed:?}");
    // The cut-off stream ends for the client, and is recorded as not completed.
    let rest =
        tokio::time::timeout(Duration::from_secs(3), async { while let Some(Ok(_)) = body.next().await {} }).await;
    assert!(rest.is_ok(), "the client's stream is ended");
    let records = TestGateway::records(&dir);
    assert_eq!(records.len(), 1, "the cut-off request is recorded: {records:?}");
    assert!(!records[0].error_class.is_none(), "recorded as not completed: {:?}", records[0]);
}
