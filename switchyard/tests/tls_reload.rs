//! TLS certificate and key hot reload (`tls` and `admin_tls`): new handshakes get the new
//! certificate as soon as its files change (or on `SIGHUP`); connections already open —
//! an h2 connection with a stream in flight, a handshake half done — keep working with
//! the certificate they began with; an unusable pair is refused (logged with its path,
//! counted in `switchyard_tls_reloads_total{result="rejected"}`) and the last good one
//! keeps serving.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use switchyard_testkit::process::Served;
use switchyard_testkit::{chat, chat_stream, eventually, TestGateway};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

const GROUPS: &str = r#"
providers:
  mock: { kind: mock, stream_chunks: 10, chunk_delay_ms: 100 }
groups:
  g:
    members:
      - { name: m, role: champion, provider: mock, model: m, weight: 1 }
"#;

/// A self-signed certificate for `localhost` and its key.
struct Pair {
    cert: String,
    key: String,
    der: CertificateDer<'static>,
}

impl Pair {
    fn new() -> Self {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        Self { cert: c.cert.pem(), key: c.key_pair.serialize_pem(), der: c.cert.der().clone() }
    }
}

/// Replaces `dir/<name>.crt` and `dir/<name>.key` by rename, as rotation tools do.
fn install(dir: &Path, name: &str, cert: &str, key: &str) {
    for (ext, text) in [("crt", cert), ("key", key)] {
        let tmp = dir.join(format!(".{name}.{ext}.tmp"));
        std::fs::write(&tmp, text).expect("write");
        std::fs::rename(&tmp, dir.join(format!("{name}.{ext}"))).expect("rename");
    }
}

fn client_config(trusted: &[&Pair]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for p in trusted {
        roots.add(p.der.clone()).expect("root");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A TLS connection to `addr` (as `localhost`) and the certificate the server presented.
async fn connect(
    addr: SocketAddr,
    trusted: &[&Pair],
) -> (tokio_rustls::client::TlsStream<tokio::net::TcpStream>, CertificateDer<'static>) {
    let connector = tokio_rustls::TlsConnector::from(client_config(trusted));
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let tls = connector.connect(ServerName::try_from("localhost").expect("name"), tcp).await.expect("handshake");
    let cert = tls.get_ref().1.peer_certificates().expect("certificates")[0].clone().into_owned();
    (tls, cert)
}

/// The certificate a new handshake gets.
async fn served_cert(addr: SocketAddr, trusted: &[&Pair]) -> CertificateDer<'static> {
    connect(addr, trusted).await.1
}

/// An h2 connection over TLS.
async fn h2(
    addr: SocketAddr,
    trusted: &[&Pair],
) -> (hyper::client::conn::http2::SendRequest<Full<Bytes>>, CertificateDer<'static>) {
    let (tls, cert) = connect(addr, trusted).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls)).await.expect("h2 handshake");
    tokio::spawn(conn);
    (send, cert)
}

fn post(body: String) -> http::Request<Full<Bytes>> {
    http::Request::post("https://localhost/v1/chat/completions")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("request")
}

/// `switchyard_tls_reloads_total{listener,result}` from metrics text.
fn reloads(metrics: &str, listener: &str, result: &str) -> u64 {
    let series = format!(r#"switchyard_tls_reloads_total{{listener="{listener}",result="{result}"}} "#);
    metrics.lines().find_map(|l| l.strip_prefix(&series)?.parse().ok()).unwrap_or_else(|| panic!("{series} in metrics"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_handshakes_get_a_new_certificate_while_open_connections_keep_working() {
    let (a, b, c) = (Pair::new(), Pair::new(), Pair::new());
    let trusted = [&a, &b, &c];
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).expect("mkdir");
    install(&certs, "tls", &a.cert, &a.key);
    let yaml = format!("tls: {{ cert: \"{0}/tls.crt\", key: \"{0}/tls.key\" }}\n{GROUPS}", certs.display());
    let gw = TestGateway::start_in(dir, &yaml).await;
    let addr = gw.gw().data_addr;
    assert_eq!(reloads(&gw.metrics().await, "data", "applied"), 0, "exported from start-up");

    // An h2 connection with a stream in flight (10 chunks, 100 ms apart).
    let (mut send, cert) = h2(addr, &trusted).await;
    assert_eq!(cert, a.der);
    let resp = send.send_request(post(chat_stream("g"))).await.expect("stream starts");
    assert_eq!(resp.status(), 200);
    let mut stream = resp.into_body();
    let first = stream.frame().await.expect("a frame").expect("ok");
    assert!(first.is_data());

    install(&certs, "tls", &b.cert, &b.key);
    assert!(
        eventually(Duration::from_secs(5), async || served_cert(addr, &trusted).await == b.der).await,
        "new handshakes get the new certificate"
    );
    assert_eq!(reloads(&gw.metrics().await, "data", "applied"), 1);

    // The stream in flight finishes, and the connection serves more requests.
    let rest = stream.collect().await.expect("the stream is not cut").to_bytes();
    assert!(String::from_utf8_lossy(&rest).ends_with("data: [DONE]\n\n"), "{rest:?}");
    let resp = send.send_request(post(chat("g"))).await.expect("the open connection keeps working");
    assert_eq!(resp.status(), 200);

    // A key that is not the certificate's is refused; the last good pair keeps serving.
    install(&certs, "tls", &b.cert, &c.key);
    assert!(
        eventually(Duration::from_secs(5), async || reloads(&gw.metrics().await, "data", "rejected") == 1).await,
        "a mismatched key is counted as rejected"
    );
    assert_eq!(served_cert(addr, &trusted).await, b.der, "the last good certificate keeps serving");
    // Other writes in the directory (a log file, say) do not report the same refusal again.
    for i in 0..5 {
        std::fs::write(certs.join("unrelated.log"), format!("line {i}\n")).expect("write");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(reloads(&gw.metrics().await, "data", "rejected"), 1, "the same bad files are reported once");
    // So is a certificate file that holds no certificate.
    install(&certs, "tls", "not a certificate\n", &c.key);
    assert!(
        eventually(Duration::from_secs(5), async || reloads(&gw.metrics().await, "data", "rejected") == 2).await,
        "an unparsable certificate is counted as rejected"
    );
    assert_eq!(served_cert(addr, &trusted).await, b.der);
    let resp = send.send_request(post(chat("g"))).await.expect("still serving");
    assert_eq!(resp.status(), 200);

    // A good pair again.
    install(&certs, "tls", &c.cert, &c.key);
    assert!(eventually(Duration::from_secs(5), async || served_cert(addr, &trusted).await == c.der).await);
    let metrics = gw.metrics().await;
    assert_eq!((reloads(&metrics, "data", "applied"), reloads(&metrics, "data", "rejected")), (2, 2));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_in_progress_during_a_reload_completes() {
    let (a, b) = (Pair::new(), Pair::new());
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().to_path_buf();
    install(&certs, "tls", &a.cert, &a.key);
    let yaml = format!("tls: {{ cert: \"{0}/tls.crt\", key: \"{0}/tls.key\" }}\n{GROUPS}", certs.display());
    let gw = TestGateway::start_in(dir, &yaml).await;
    let addr = gw.gw().data_addr;
    let config = client_config(&[&a, &b]);

    // The client sends its ClientHello and receives the server's first flight, but does
    // not go on until the certificate was swapped.
    let (hello_tx, hello_rx) = tokio::sync::oneshot::channel();
    let (swapped_tx, swapped_rx) = std::sync::mpsc::channel::<()>();
    let client = tokio::task::spawn_blocking(move || {
        let mut tcp = std::net::TcpStream::connect(addr).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let mut conn =
            rustls::ClientConnection::new(config, ServerName::try_from("localhost").expect("name")).expect("client");
        conn.write_tls(&mut tcp).expect("ClientHello");
        let mut first = vec![0u8; 16 * 1024];
        let n = tcp.read(&mut first).expect("the server's first flight");
        hello_tx.send(()).expect("signal");
        swapped_rx.recv().expect("swapped");
        conn.read_tls(&mut &first[..n]).expect("read_tls");
        conn.process_new_packets().expect("the first flight is valid");
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp).expect("the handshake completes");
        }
        let cert = conn.peer_certificates().expect("certificates")[0].clone().into_owned();
        let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
        tls.write_all(b"GET /v1/models HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").expect("request");
        let mut response = Vec::new();
        let _ = tls.read_to_end(&mut response);
        (cert, String::from_utf8_lossy(&response).into_owned())
    });
    hello_rx.await.expect("the handshake is under way");
    install(&certs, "tls", &b.cert, &b.key);
    assert!(eventually(Duration::from_secs(5), async || served_cert(addr, &[&a, &b]).await == b.der).await);
    swapped_tx.send(()).expect("signal");
    let (cert, response) = client.await.expect("join");
    assert_eq!(cert, a.der, "the handshake keeps the certificate it began with");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_both_listeners_and_a_bad_key_is_logged_with_its_path() {
    let (a, b, admin_a, admin_b) = (Pair::new(), Pair::new(), Pair::new(), Pair::new());
    let dir = tempfile::tempdir().expect("tempdir");
    let (va, vb, link) = (dir.path().join("v1"), dir.path().join("v2"), dir.path().join("certs"));
    for (v, data, admin) in [(&va, &a, &admin_a), (&vb, &b, &admin_b)] {
        std::fs::create_dir(v).expect("mkdir");
        install(v, "tls", &data.cert, &data.key);
        install(v, "admin", &admin.cert, &admin.key);
    }
    std::os::unix::fs::symlink(&va, &link).expect("symlink");
    let yaml = format!(
        "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\n\
         tls: {{ cert: \"{0}/tls.crt\", key: \"{0}/tls.key\" }}\n\
         admin_tls: {{ cert: \"{0}/admin.crt\", key: \"{0}/admin.key\" }}\n\
         records: {{ spool: {{ dir: \"{1}\" }} }}\n{GROUPS}",
        link.display(),
        dir.path().join("spool").display()
    );
    let path = dir.path().join("switchyard.yaml");
    std::fs::write(&path, yaml).expect("write config");
    let mut served = Served::spawn(BIN, &["serve", "--config", path.to_str().expect("utf-8")], dir.path(), &[]);
    let (data, admin) = served.serving().await;
    let trusted = [&a, &b, &admin_a, &admin_b];
    assert_eq!(served_cert(data, &trusted).await, a.der);
    assert_eq!(served_cert(admin, &trusted).await, admin_a.der, "the admin listener has its own certificate");

    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_der(&admin_a.der).expect("root"))
        .add_root_certificate(reqwest::Certificate::from_der(&admin_b.der).expect("root"))
        .resolve("localhost", admin)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let metrics_url = format!("https://localhost:{}/metrics", admin.port());
    let metrics = async || https.get(&metrics_url).send().await.expect("metrics over TLS").text().await.expect("text");
    assert_eq!(
        https.get(format!("https://localhost:{}/readyz", admin.port())).send().await.expect("readyz").status(),
        200
    );
    let plain = reqwest::Client::builder().timeout(Duration::from_secs(3)).build().expect("client");
    assert!(plain.get(format!("http://{admin}/readyz")).send().await.is_err(), "the admin listener speaks only TLS");

    // Repoint the directory link: nothing changes inside the watched directory, so only
    // SIGHUP picks up the new files.
    let tmp_link = dir.path().join("certs.new");
    std::os::unix::fs::symlink(&vb, &tmp_link).expect("symlink");
    std::fs::rename(&tmp_link, &link).expect("repoint");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(served_cert(data, &trusted).await, a.der, "no file event, no reload");
    served.signal("-HUP");
    assert!(eventually(Duration::from_secs(5), async || served_cert(data, &trusted).await == b.der).await);
    assert!(eventually(Duration::from_secs(5), async || served_cert(admin, &trusted).await == admin_b.der).await);
    let m = metrics().await;
    assert_eq!((reloads(&m, "data", "applied"), reloads(&m, "admin", "applied")), (1, 1));

    // The new directory is watched now: a key that does not parse is refused and logged
    // with its path; the last good certificate keeps serving.
    let tmp = vb.join(".tls.key.tmp");
    std::fs::write(&tmp, "-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n").expect("write");
    std::fs::rename(&tmp, vb.join("tls.key")).expect("rename");
    assert!(
        eventually(Duration::from_secs(5), async || reloads(&metrics().await, "data", "rejected") == 1).await,
        "the bad key is counted as rejected"
    );
    let key_path = format!("{}/tls.key", link.display());
    assert!(
        eventually(Duration::from_secs(5), async || {
            served.stderr().lines().any(|l| l.contains("tls certificate change rejected") && l.contains(&key_path))
        })
        .await,
        "logged with the key's path: {}",
        served.stderr()
    );
    assert_eq!(served_cert(data, &trusted).await, b.der);
    let resp = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_der(&b.der).expect("root"))
        .resolve("localhost", data)
        .build()
        .expect("client")
        .post(format!("https://localhost:{}/v1/chat/completions", data.port()))
        .body(chat("g"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let (status, _, _) = served.terminate().await;
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_naming_other_files_is_followed() {
    let (a, b) = (Pair::new(), Pair::new());
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().to_path_buf();
    install(&certs, "one", &a.cert, &a.key);
    install(&certs, "two", &b.cert, &b.key);
    let yaml =
        |name: &str| format!("tls: {{ cert: \"{0}/{name}.crt\", key: \"{0}/{name}.key\" }}\n{GROUPS}", certs.display());
    let gw = TestGateway::start_in(dir, &yaml("one")).await;
    let addr = gw.gw().data_addr;
    assert_eq!(served_cert(addr, &[&a, &b]).await, a.der);
    gw.write_config(&yaml("two"));
    assert!(
        eventually(Duration::from_secs(5), async || served_cert(addr, &[&a, &b]).await == b.der).await,
        "the listener takes up the files the new config names"
    );
    // And watches them: a change to the new files is picked up.
    install(&certs, "two", &a.cert, &a.key);
    assert!(eventually(Duration::from_secs(5), async || served_cert(addr, &[&a, &b]).await == a.der).await);
    gw.stop().await;
}
