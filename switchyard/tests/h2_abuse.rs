//! HTTP/2 abuse against the real binary (`switchyard serve`, measured from the outside in
//! `/proc/<pid>/status`): rapid reset, CONTINUATION floods, SETTINGS and PING floods, and
//! 10,000 streams opened and left idle. For each: the gateway's peak RSS (`VmHWM`) stays
//! under [`RSS_BOUND_KIB`], and a normal client's requests (HTTP/1.1 and h2) succeed
//! during and after the attack. The configured `limits.h2_*` are what the server
//! advertises and enforces.
//!
//! The attacks that break the protocol are written frame by frame (`switchyard_testkit::h2raw`); the rapid
//! reset is made with the `h2` crate's client, as the published proof of concept did.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use switchyard_testkit::chat;
use switchyard_testkit::h2raw::*;
use switchyard_testkit::process::Served;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// Peak RSS the gateway may reach under any one attack, KiB. Measured (debug build): idle
/// ~16.5 MiB; every flood and reset attack peaks under 19 MiB; 10,000 streams held open
/// waiting for their bodies (40 connections x 250) peak at ~81 MiB, ~6.5 KiB a stream.
const RSS_BOUND_KIB: u64 = 128 * 1024;

const GROUPS: &str = r#"
providers:
  mock: { kind: mock }
groups:
  g:
    members:
      - { name: m, role: champion, provider: mock, model: m, weight: 1 }
"#;

/// A `switchyard serve` child process.
struct Gateway {
    served: Served,
    data: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Gateway {
    async fn start(limits: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let yaml = format!(
            "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nrecords: {{ spool: {{ dir: \"{}\" }} }}\n{limits}\n{GROUPS}",
            dir.path().join("spool").display()
        );
        let path = dir.path().join("switchyard.yaml");
        std::fs::write(&path, yaml).expect("write config");
        let mut served = Served::spawn(BIN, &["serve", "--config", path.to_str().expect("utf-8")], dir.path(), &[]);
        let (data, _admin) = served.serving().await;
        normal_requests(data).await;
        Self { served, data, _dir: dir }
    }

    /// (VmRSS, VmHWM) of the gateway process, KiB.
    fn rss(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.served.pid)).expect("proc status");
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or_else(|| panic!("{name} in {status}"))
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Runs `attack` (one attacking connection per call) at least `min` times, and until
    /// a normal client running alongside has been served twice; then checks that normal
    /// requests still succeed and the memory bound. Returns each call's output.
    async fn under<T, F, Fut>(&self, name: &str, min: usize, mut attack: F) -> Vec<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let (before, _) = self.rss();
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let normal = tokio::spawn({
            let (stop, served, data) = (stop.clone(), served.clone(), self.data);
            async move {
                while !stop.load(Ordering::Relaxed) {
                    normal_requests(data).await;
                    served.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let mut outs = Vec::new();
        while outs.len() < min || served.load(Ordering::Relaxed) < 2 {
            assert!(outs.len() < 10_000, "{name}: the normal client made no progress");
            outs.push(tokio::spawn(attack()).await.expect("attack"));
        }
        stop.store(true, Ordering::Relaxed);
        normal.await.expect("a normal client is served during the attack");
        normal_requests(self.data).await;
        let (after, peak) = self.rss();
        eprintln!(
            "{name}: {} attacking connections; RSS before {before} KiB, after {after} KiB, peak {peak} KiB; \
             {} rounds of normal requests during",
            outs.len(),
            served.load(Ordering::Relaxed)
        );
        assert!(peak <= RSS_BOUND_KIB, "{name}: peak RSS {peak} KiB over the bound {RSS_BOUND_KIB} KiB");
        outs
    }
}

/// One HTTP/1.1 and one h2 request of a well-behaved client; each must succeed.
async fn normal_requests(data: SocketAddr) {
    let url = format!("http://{data}/v1/chat/completions");
    for c in [
        reqwest::Client::builder().http1_only().timeout(Duration::from_secs(10)).build().expect("client"),
        reqwest::Client::builder().http2_prior_knowledge().timeout(Duration::from_secs(10)).build().expect("client"),
    ] {
        let resp = c.post(&url).body(chat("g")).send().await.expect("a normal client is served");
        assert_eq!(resp.status(), 200);
        resp.bytes().await.expect("body");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_h2_limits_are_advertised() {
    let gw = Gateway::start(
        "limits: { h2_max_concurrent_streams: 7, h2_max_header_list_bytes: 32768, h2_max_frame_bytes: 65536 }",
    )
    .await;
    let raw = Raw::connect(gw.data).await;
    assert!(raw.until(Duration::from_secs(5), |s| !s.settings.is_empty()).await, "the server sends its SETTINGS");
    let settings = raw.seen(|s| s.settings.clone());
    // SETTINGS_MAX_CONCURRENT_STREAMS (3), SETTINGS_MAX_FRAME_SIZE (5), SETTINGS_MAX_HEADER_LIST_SIZE (6).
    for (id, value) in [(3, 7), (5, 65536), (6, 32768)] {
        assert!(settings.contains(&(id, value)), "setting {id} = {value} in {settings:?}");
    }
}

/// The published rapid-reset proof of concept: open a stream and cancel it, 20,000 times,
/// with the `h2` crate's client. Returns the streams opened and how it ended.
async fn h2_rapid_reset(addr: SocketAddr) -> (u32, Result<(), h2::Error>) {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (mut client, conn) = h2::client::handshake(tcp).await.expect("h2 handshake");
    let conn = tokio::spawn(conn);
    let mut sent = 0u32;
    while sent < 20_000 {
        match client.clone().ready().await {
            Ok(c) => client = c,
            Err(_) => break,
        }
        let req = http::Request::post(format!("http://{addr}/v1/chat/completions")).body(()).expect("request");
        match client.send_request(req, false) {
            Ok((_response, mut stream)) => stream.send_reset(h2::Reason::CANCEL),
            Err(_) => break,
        }
        sent += 1;
    }
    drop(client);
    let ended = tokio::time::timeout(Duration::from_secs(10), conn).await.expect("the connection ends");
    (sent, ended.expect("join"))
}

/// Rapid reset written frame by frame (HEADERS then RST_STREAM, 100 streams a write), so
/// nothing on the client side slows it; returns (streams reset, GOAWAY code).
async fn raw_rapid_reset(addr: SocketAddr) -> (u32, Option<u32>) {
    let mut raw = Raw::connect(addr).await;
    let block = request_block();
    let mut sent = 0u32;
    while sent < 100_000 && !raw.seen(|s| s.closed) {
        let batch: Vec<u8> = (sent..sent + 100)
            .flat_map(|i| {
                [frame(HEADERS, END_HEADERS, 2 * i + 1, &block), frame(RST_STREAM, 0, 2 * i + 1, &CANCEL.to_be_bytes())]
                    .concat()
            })
            .collect();
        if !raw.send(&batch).await {
            break;
        }
        sent += 100;
    }
    assert!(raw.closed_within(Duration::from_secs(5)).await, "the server closes a rapid-reset connection");
    (sent, raw.seen(|s| s.goaway_code()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_reset_is_cut_off_and_others_are_served() {
    let gw = Gateway::start("").await;
    let addr = gw.data;
    // A client that waits for each stream to be sent before resetting it gets the
    // streams taken up first: each costs the server one request that is dropped on the
    // reset (never more than h2_max_concurrent_streams at once), like a normal request.
    let rounds = gw.under("rapid reset (h2 client)", 5, || h2_rapid_reset(addr)).await;
    eprintln!("rapid reset (h2 client): (streams, end) per connection {rounds:?}");
    // Resets that arrive with their HEADERS (before the server took the stream up) are
    // what h2_max_pending_accept_reset_streams counts: past 20 the connection is closed.
    let rounds = gw.under("rapid reset (raw frames)", 20, || raw_rapid_reset(addr)).await;
    eprintln!("rapid reset (raw frames): (streams, GOAWAY) per connection {rounds:?}");
    for (sent, goaway) in rounds {
        assert_eq!(goaway, Some(ENHANCE_YOUR_CALM), "GOAWAY ENHANCE_YOUR_CALM after {sent} resets");
        assert!(sent < 100_000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuation_floods_are_cut_off() {
    let gw = Gateway::start("").await;
    let addr = gw.data;
    // Empty CONTINUATION frames (a size limit alone never trips) and full ones.
    let fill: Vec<u8> = (0..150).flat_map(|i| literal_new(format!("x-flood-{i:03}").as_bytes(), &[b'a'; 90])).collect();
    for (name, payload) in [("empty CONTINUATION flood", Vec::new()), ("16 KiB CONTINUATION flood", fill)] {
        let payload = Arc::new(payload);
        let rounds = gw.under(name, 20, || continuation_flood(addr, payload.clone())).await;
        eprintln!("{name}: (frames written before the close, GOAWAY) per connection {rounds:?}");
        for (written, goaway) in rounds {
            assert!(written < 1_000_000, "{name}: cut off long before 1,000,000 frames");
            assert_eq!(goaway, Some(ENHANCE_YOUR_CALM), "{name}");
        }
    }
}

/// HEADERS without END_HEADERS, then CONTINUATION frames carrying `payload` until the
/// server closes; returns (frames written, GOAWAY code).
async fn continuation_flood(addr: SocketAddr, payload: Arc<Vec<u8>>) -> (u64, Option<u32>) {
    let mut raw = Raw::connect(addr).await;
    assert!(raw.send(&frame(HEADERS, 0, 1, &request_block())).await);
    let batch: Vec<u8> = (0..64).flat_map(|_| frame(CONTINUATION, 0, 1, &payload)).collect();
    let mut written = 0u64;
    while written < 1_000_000 && !raw.seen(|s| s.closed) && raw.send(&batch).await {
        written += 64;
    }
    assert!(raw.closed_within(Duration::from_secs(5)).await, "the connection is closed");
    (written, raw.seen(|s| s.goaway_code()))
}

/// 200,000 SETTINGS (each changing a setting) and 200,000 PINGs, reading every
/// acknowledgement, so the server does all the work; returns (PINGs, SETTINGS) acked.
async fn settings_ping_flood(addr: SocketAddr) -> (u64, u64) {
    let mut raw = Raw::connect(addr).await;
    let batch: Vec<u8> = (0..500u64)
        .flat_map(|i| [frame(SETTINGS, 0, 0, &[0, 4, 0, 1, 0, 0]), frame(PING, 0, 0, &i.to_be_bytes())].concat())
        .collect();
    for _ in 0..400 {
        if !raw.send(&batch).await {
            break;
        }
    }
    let acked = raw.until(Duration::from_secs(30), |s| s.closed || s.pings_acked >= 200_000).await;
    assert!(acked, "the flood is processed");
    raw.seen(|s| (s.pings_acked, s.settings_acked))
}

/// SETTINGS and PINGs from a client that never reads; returns the pairs written before
/// the socket stalled (at most 2,000,000).
async fn settings_ping_flood_unread(addr: SocketAddr) -> u64 {
    let s = TcpStream::connect(addr).await.expect("connect");
    let (_r, mut w) = s.into_split();
    w.write_all(PREFACE).await.expect("preface");
    let batch: Vec<u8> =
        (0..500u64).flat_map(|i| [frame(SETTINGS, 0, 0, &[]), frame(PING, 0, 0, &i.to_be_bytes())].concat()).collect();
    let mut written = 0u64;
    while written < 2_000_000 {
        match tokio::time::timeout(Duration::from_secs(2), w.write_all(&batch)).await {
            Ok(Ok(())) => written += 500,
            _ => break,
        }
    }
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_and_ping_floods_stay_bounded() {
    let gw = Gateway::start("").await;
    let addr = gw.data;
    let rounds = gw.under("SETTINGS+PING flood, reading", 1, || settings_ping_flood(addr)).await;
    eprintln!("SETTINGS+PING flood: (PINGs, SETTINGS) acknowledged per connection {rounds:?}");
    assert!(rounds.iter().all(|&(pings, settings)| pings == 200_000 && settings > 200_000), "{rounds:?}");
    // The server acknowledges before it reads on, so a client that does not read its
    // acknowledgements stalls itself: the flood waits in socket buffers, not in memory.
    let rounds = gw.under("SETTINGS+PING flood, not reading", 1, || settings_ping_flood_unread(addr)).await;
    eprintln!("SETTINGS+PING flood without reading: pairs written before the socket stalled {rounds:?}");
    assert!(rounds.iter().all(|&w| w < 2_000_000), "the server stops reading a client that does not read");
}

/// 10,000 HEADERS without a body on one connection; returns (sent, refused, GOAWAY code).
async fn many_streams(addr: SocketAddr) -> (u32, u32, Option<u32>) {
    let mut raw = Raw::connect(addr).await;
    let block = request_block();
    let mut opened = 0u32;
    while opened < 10_000 {
        let batch: Vec<u8> =
            (opened..opened + 100).flat_map(|i| frame(HEADERS, END_HEADERS, 2 * i + 1, &block)).collect();
        if !raw.send(&batch).await {
            break;
        }
        opened += 100;
    }
    assert!(raw.closed_within(Duration::from_secs(10)).await, "the connection is closed");
    raw.seen(|s| (opened, s.refused, s.goaway_code()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_streams_on_one_connection_are_refused_beyond_the_limit() {
    let gw = Gateway::start("").await;
    let addr = gw.data;
    let rounds = gw.under("10,000 streams on one connection", 5, || many_streams(addr)).await;
    eprintln!("10,000 streams on one connection: (HEADERS sent, refused, GOAWAY) per connection {rounds:?}");
    for (_, refused, goaway) in rounds {
        assert!(refused > 0, "streams beyond h2_max_concurrent_streams (256) are refused");
        assert_eq!(goaway, Some(ENHANCE_YOUR_CALM), "past h2_max_local_error_reset_streams the connection is closed");
    }
}

/// 40 connections x 250 streams whose bodies never come, held open.
async fn idle_streams(addr: SocketAddr) -> Vec<Raw> {
    let block = request_block();
    let mut conns = Vec::new();
    for _ in 0..40 {
        let mut raw = Raw::connect(addr).await;
        let batch: Vec<u8> = (0..250u32).flat_map(|i| frame(HEADERS, END_HEADERS, 2 * i + 1, &block)).collect();
        assert!(raw.send(&batch).await);
        conns.push(raw);
    }
    // Let the server take them all up while the normal client keeps going.
    tokio::time::sleep(Duration::from_secs(2)).await;
    conns
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_streams_stay_within_the_memory_bound() {
    // Each stream is a request waiting for its body: all are accepted (within
    // h2_max_concurrent_streams) and held until body_timeout_ms (30 s).
    let gw = Gateway::start("").await;
    let addr = gw.data;
    let mut rounds = gw.under("10,000 idle streams over 40 connections", 1, || idle_streams(addr)).await;
    let mut conns = rounds.pop().expect("a round");
    let refused: u32 = conns.iter().map(|c| c.seen(|s| s.refused)).sum();
    assert_eq!(refused, 0, "within the per-connection limit nothing is refused");
    assert!(conns.iter().all(|c| c.seen(|s| !s.closed)), "the idle streams are held open");
    // A held stream is answered as soon as its body comes.
    let mut raw = conns.pop().expect("one");
    assert!(raw.send(&frame(DATA, END_STREAM, 1, chat("g").as_bytes())).await);
    assert!(raw.until(Duration::from_secs(10), |s| s.responses >= 1).await, "the stream whose body came is answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_answering_pings_is_disconnected() {
    let gw = Gateway::start("limits: { h2_keepalive_interval_ms: 200, h2_keepalive_timeout_ms: 300 }").await;
    // A request is in flight (its body never comes, and body_timeout_ms is 30 s), and the
    // client never acknowledges a PING.
    let mut raw = Raw::connect(gw.data).await;
    assert!(raw.send(&frame(HEADERS, END_HEADERS, 1, &request_block())).await);
    assert!(
        raw.closed_within(Duration::from_secs(5)).await,
        "the server closes a connection whose PINGs go unanswered (interval 200 ms, timeout 300 ms)"
    );
}
