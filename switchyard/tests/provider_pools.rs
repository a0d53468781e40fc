//! A provider's own connection settings at runtime: `ca_file` makes a private CA's
//! upstream trusted (and only that provider), `max_in_flight` bounds the requests in flight
//! to a provider — a request over the bound waits for a slot within `first_byte_ms` and
//! then fails as a first-byte timeout; the slot is free again when a stream ends.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::StatusCode;
use switchyard_testkit::upstream::FakeUpstream;
use switchyard_testkit::{chat, chat_stream, client, TestGateway};

/// A TLS upstream: a second gateway serving group `g` from a mock behind a self-signed
/// certificate for `127.0.0.1`; returns it and its certificate's path.
async fn tls_upstream() -> (TestGateway, std::path::PathBuf) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).expect("self-signed cert");
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("tls.crt");
    let key = dir.path().join("tls.key");
    std::fs::write(&cert, certified.cert.pem()).expect("write cert");
    std::fs::write(&key, certified.key_pair.serialize_pem()).expect("write key");
    let yaml = format!(
        r#"tls: {{ cert: "{}", key: "{}" }}
providers:
  mock: {{ kind: mock }}
groups:
  g:
    members:
      - {{ name: behind-tls, role: champion, provider: mock, model: private-model, weight: 1 }}
"#,
        cert.display(),
        key.display()
    );
    (TestGateway::start_in(dir, &yaml).await, cert)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_file_makes_a_private_ca_trusted_for_its_provider_only() {
    let (upstream, cert) = tls_upstream().await;
    let base = format!("https://127.0.0.1:{}/v1", upstream.gw().data_addr.port());
    let yaml = format!(
        r#"
providers:
  trusting: {{ kind: openai, base_url: "{base}", ca_file: "{}" }}
  default-roots: {{ kind: openai, base_url: "{base}" }}
groups:
  t:
    members:
      - {{ name: via-ca, role: champion, provider: trusting, model: g, weight: 1 }}
  u:
    members:
      - {{ name: via-roots, role: champion, provider: default-roots, model: g, weight: 1 }}
"#,
        cert.display()
    );
    let gw = TestGateway::start(&yaml).await;
    let c = client();
    let r = c.post(gw.url("/v1/chat/completions")).body(chat("t")).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["choices"][0]["message"]["content"], "Mock answer from private-model.", "{body}");
    // The same upstream through a provider without the CA: the certificate is refused.
    let r = c.post(gw.url("/v1/chat/completions")).body(chat("u")).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "upstream_connect", "{body}");
    gw.stop().await;
    upstream.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_in_flight_makes_the_next_request_wait_for_a_slot_then_time_out() {
    let fake = FakeUpstream::start().await;
    let yaml = format!(
        r#"
providers:
  one-at-a-time: {{ kind: openai, base_url: "{}", max_in_flight: 1 }}
groups:
  g:
    members:
      - {{ name: champ, role: champion, provider: one-at-a-time, model: gated-stream, weight: 1 }}
    timeouts: {{ first_byte_ms: 400 }}
"#,
        fake.base_url()
    );
    let gw = TestGateway::start(&yaml).await;
    let c = client();
    // The first stream holds the only slot while the fake holds its second chunk.
    let first = c.post(gw.url("/v1/chat/completions")).body(chat_stream("g")).send().await.expect("send");
    assert_eq!(first.status(), StatusCode::OK);
    let started = Instant::now();
    let second = c.post(gw.url("/v1/chat/completions")).body(chat("g")).send().await.expect("send");
    let waited = started.elapsed();
    assert_eq!(second.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(waited >= Duration::from_millis(350), "it waited for a slot ({waited:?})");
    assert_eq!(fake.seen().len(), 1, "the second request never reached the provider");
    // The stream ends: its slot is free and the next request goes through.
    fake.release();
    let mut body = first.bytes_stream();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(5), body.next()).await.expect("no stall") {
        chunk.expect("chunk");
    }
    let third = c.post(gw.url("/v1/chat/completions")).body(chat_stream("g")).send().await.expect("send");
    assert_eq!(third.status(), StatusCode::OK);
    assert_eq!(fake.seen().len(), 2);
    fake.release();
    drop(third);
    gw.stop().await;
}
