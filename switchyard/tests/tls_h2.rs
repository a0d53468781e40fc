//! Transport: HTTP/2 with prior knowledge over plain TCP, and TLS (rustls) with ALPN
//! choosing h2 or HTTP/1.1 — normal and streamed responses on each.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::Version;
use switchyard_testkit::{chat, chat_stream, TestGateway};

const GROUPS: &str = r#"
providers:
  mock: { kind: mock, stream_chunks: 4, chunk_delay_ms: 5 }
groups:
  g:
    members:
      - { name: champ, role: champion, provider: mock, model: m-champ, weight: 1 }
"#;

/// Checks a non-streamed answer, a streamed one, and an error, all on `version`.
async fn exercise(c: &reqwest::Client, base: &str, version: Version) {
    let url = format!("{base}/v1/chat/completions");
    let resp = c.post(&url).body(chat("g")).send().await.expect("send");
    assert_eq!(resp.version(), version);
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-switchyard-member"], "champ");
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["choices"][0]["message"]["content"], "Mock answer from m-champ.");

    let resp = c.post(&url).body(chat_stream("g")).send().await.expect("send");
    assert_eq!(resp.version(), version);
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut frames = 0;
    let mut text = Vec::new();
    let mut body = resp.bytes_stream();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(5), body.next()).await.expect("no stall") {
        text.extend_from_slice(&chunk.expect("chunk"));
        frames += 1;
    }
    let text = String::from_utf8(text).expect("utf-8");
    assert!(frames >= 2, "the stream arrives in pieces, not one buffer ({frames} frames)");
    for i in 0..4 {
        assert!(text.contains(&format!("part {i} ")), "{text}");
    }
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");

    let resp = c.post(&url).body(chat("nope")).send().await.expect("send");
    assert_eq!(resp.version(), version);
    assert_eq!(resp.status(), 404);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unknown_group");

    let resp = c.get(format!("{base}/v1/models")).send().await.expect("send");
    assert_eq!(resp.version(), version);
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn h2_prior_knowledge_over_plain_tcp() {
    let gw = TestGateway::start(GROUPS).await;
    let c =
        reqwest::Client::builder().http2_prior_knowledge().timeout(Duration::from_secs(10)).build().expect("client");
    exercise(&c, &gw.base, Version::HTTP_2).await;
    // Several requests share one h2 connection concurrently.
    let url = gw.url("/v1/chat/completions");
    let all = futures_util::future::join_all((0..8).map(|_| c.post(&url).body(chat_stream("g")).send())).await;
    for resp in all {
        let resp = resp.expect("send");
        assert_eq!(resp.version(), Version::HTTP_2);
        assert!(resp.text().await.expect("text").ends_with("data: [DONE]\n\n"));
    }
    // And HTTP/1.1 still works on the same listener.
    let h1 = reqwest::Client::builder().http1_only().build().expect("client");
    exercise(&h1, &gw.base, Version::HTTP_11).await;
    let dir = gw.stop().await;
    let records = TestGateway::records(&dir);
    assert_eq!(records.len(), 2 + 8 + 2, "{records:?}");
    assert!(records.iter().all(|r| r.status == 200 && r.error_class.is_none()), "{records:?}");
}

struct Tls {
    gw: TestGateway,
    ca: reqwest::Certificate,
    base: String,
    addr: std::net::SocketAddr,
}

async fn tls_gateway() -> Tls {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("self-signed cert");
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("tls.crt");
    let key = dir.path().join("tls.key");
    std::fs::write(&cert, certified.cert.pem()).expect("write cert");
    std::fs::write(&key, certified.key_pair.serialize_pem()).expect("write key");
    let yaml = format!(
        "tls: {{ cert: \"{}\", key: \"{}\" }}\nlimits: {{ header_timeout_ms: 500 }}\n{GROUPS}",
        cert.display(),
        key.display()
    );
    let gw = TestGateway::start_in(dir, &yaml).await;
    let addr = gw.gw().data_addr;
    let ca = reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).expect("ca");
    let base = format!("https://localhost:{}", addr.port());
    Tls { gw, ca, base, addr }
}

fn tls_client(t: &Tls) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .add_root_certificate(t.ca.clone())
        .resolve("localhost", t.addr)
        .timeout(Duration::from_secs(10))
}

#[tokio::test]
async fn tls_with_alpn_h2_and_http11() {
    let t = tls_gateway().await;
    let h2 = tls_client(&t).build().expect("client");
    exercise(&h2, &t.base, Version::HTTP_2).await;
    let h1 = tls_client(&t).http1_only().build().expect("client");
    exercise(&h1, &t.base, Version::HTTP_11).await;

    // Plain HTTP against the TLS listener gets no answer, and does not hurt it.
    let plain = reqwest::Client::builder().timeout(Duration::from_secs(3)).build().expect("client");
    let r = plain.post(format!("http://{}/v1/chat/completions", t.addr)).body(chat("g")).send().await;
    assert!(r.is_err() || r.as_ref().is_ok_and(|r| !r.status().is_success()), "{r:?}");
    // A client that does not trust the certificate is refused.
    let untrusting = reqwest::Client::builder().resolve("localhost", t.addr).build().expect("client");
    assert!(untrusting.get(format!("{}/v1/models", t.base)).send().await.is_err());
    exercise(&h2, &t.base, Version::HTTP_2).await;

    let dir = t.gw.stop().await;
    let records = TestGateway::records(&dir);
    assert_eq!(records.len(), 6, "{records:?}");
    assert!(records.iter().all(|r| r.status == 200 && r.error_class.is_none()), "{records:?}");
}

#[tokio::test]
async fn stalled_tls_handshake_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = tls_gateway().await;
    let started = std::time::Instant::now();
    let mut s = tokio::net::TcpStream::connect(t.addr).await.expect("connect");
    // The first bytes of a ClientHello record header, then nothing.
    s.write_all(&[0x16, 0x03, 0x01]).await.expect("write");
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the server closes a stalled handshake within 3 s (header_timeout_ms 500): {read:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(400), "closed by the timeout: {:?}", started.elapsed());
    let h2 = tls_client(&t).build().expect("client");
    let resp = h2.post(format!("{}/v1/chat/completions", t.base)).body(chat("g")).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    t.gw.stop().await;
}

#[tokio::test]
async fn silent_client_after_tls_handshake_is_closed() {
    // TLS completes, then the client never sends a request: the header timeout must
    // still end the connection.
    let t = tls_gateway().await;
    let certified_roots = {
        let mut roots = rustls::RootCertStore::empty();
        let der = rustls_pemfile::certs(&mut std::io::BufReader::new(
            std::fs::read(t.gw.dir.path().join("tls.crt")).expect("cert").as_slice(),
        ))
        .next()
        .expect("one cert")
        .expect("pem");
        roots.add(der).expect("root");
        roots
    };
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(certified_roots)
            .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(t.addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut tls = connector.connect(name, tcp).await.expect("handshake");
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(3), tls.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the server closes an idle TLS connection within 3 s (header_timeout_ms 500): {read:?}"
    );
    t.gw.stop().await;
}
