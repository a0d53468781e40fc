//! Tests of [`super::drive`] on real 127.0.0.1 sockets: parking, what keeps a connection from
//! being parked, and a parked connection's deadline, drain and close.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::service::service_fn;
use switchyard_config::schema::LimitsConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::*;
use crate::listen::conn::Tracked;
use crate::listen::protocols;

/// One plaintext connection served by [`drive`] the way `listen::serve` serves it, each
/// response `body_len` bytes of a repeating pattern.
struct One {
    client: TcpStream,
    activity: Arc<Activity>,
    shutdown: watch::Sender<Phase>,
    served: JoinHandle<()>,
    /// The paths of the requests the service was called with.
    paths: Arc<parking_lot::Mutex<Vec<String>>>,
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

async fn one(body_len: usize, keepalive: Duration) -> One {
    one_parking(body_len, keepalive, true).await
}

async fn one_parking(body_len: usize, keepalive: Duration, park: bool) -> One {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (stream, _) = listener.accept().await.unwrap();
    let mut options = ListenOptions::new(&LimitsConfig::default(), None);
    options.keepalive_timeout = keepalive;
    options.park = park;
    let activity = Arc::new(Activity::new());
    let (shutdown, rx) = watch::channel(Phase::Serving);
    let body = Bytes::from(pattern(body_len));
    let counted = activity.clone();
    let paths = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let seen = paths.clone();
    let service = service_fn(move |req: Request<Incoming>| {
        let guard = counted.start();
        seen.lock().push(req.uri().path().to_owned());
        let body = body.clone();
        async move {
            // The request (and its body, never read) is dropped as the response is
            // made, not before: the way a handler that answers early drops it.
            tokio::time::sleep(Duration::from_millis(5)).await;
            drop(req);
            Ok::<_, Infallible>(Response::new(Tracked::new(Full::new(body), guard)))
        }
    });
    let driven = activity.clone();
    let served = tokio::spawn(async move {
        let protocols = protocols(&options);
        drive(Watched::new(stream, driven.clone()), &protocols, service, &driven, &options, rx).await;
    });
    One { client, activity, shutdown, served, paths }
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";

/// Reads one response with a `content-length` body; returns the body.
async fn response(client: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        assert_eq!(client.read(&mut byte).await.unwrap(), 1, "closed in the head: {got:?}");
        got.push(byte[0]);
    }
    let head = String::from_utf8(got).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let len: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.parse().unwrap()))
        .expect("content-length");
    let mut body = vec![0u8; len];
    client.read_exact(&mut body).await.unwrap();
    body
}

async fn until(what: &str, f: impl Fn() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("not within 5 s: {what}");
}

#[tokio::test]
async fn idle_connection_is_parked_and_serves_its_next_requests() {
    let mut one = one(100, Duration::from_secs(60)).await;
    for round in 1..=3 {
        one.client.write_all(GET).await.unwrap();
        assert_eq!(response(&mut one.client).await, pattern(100));
        let activity = one.activity.clone();
        until("parked", move || activity.parks() == round).await;
    }
    assert!(!one.served.is_finished(), "the same connection served all three");
}

#[tokio::test]
async fn with_parking_off_an_idle_connection_keeps_hyper_s_connection() {
    let mut one = one_parking(100, Duration::from_secs(60), false).await;
    for _ in 0..3 {
        one.client.write_all(GET).await.unwrap();
        assert_eq!(response(&mut one.client).await, pattern(100));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(one.activity.parks(), 0);
    assert_eq!(one.paths.lock().len(), 3);
}

#[tokio::test]
async fn a_client_not_reading_its_response_is_not_parked_and_gets_every_byte() {
    // Far more than the two sockets' buffers hold: hyper still holds most of it when
    // the body is done and its request no longer counts as in flight.
    let len = 8 << 20;
    let mut one = one(len, Duration::from_secs(60)).await;
    one.client.write_all(GET).await.unwrap();
    let activity = one.activity.clone();
    until("request served", move || activity.has_served()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(one.activity.parks(), 0, "parked with a response still to write");
    assert_eq!(response(&mut one.client).await, pattern(len));
    let activity = one.activity.clone();
    until("parked once written", move || activity.parks() == 1).await;
    one.client.write_all(GET).await.unwrap();
    assert_eq!(response(&mut one.client).await, pattern(len));
}

#[tokio::test]
async fn the_start_of_a_next_request_read_with_the_last_is_kept() {
    let mut one = one(10, Duration::from_secs(60)).await;
    let mut first = GET.to_vec();
    first.extend_from_slice(b"GET / HT");
    one.client.write_all(&first).await.unwrap();
    assert_eq!(response(&mut one.client).await, pattern(10));
    tokio::time::sleep(Duration::from_millis(100)).await;
    one.client.write_all(&GET[8..]).await.unwrap();
    assert_eq!(response(&mut one.client).await, pattern(10), "the second request, from its two halves");
}

#[tokio::test]
async fn a_request_body_the_service_did_not_read_is_never_taken_for_a_request() {
    let mut one = one(10, Duration::from_secs(60)).await;
    let inner = b"GET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n";
    let mut post = format!("POST /first HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n", inner.len()).into_bytes();
    post.extend_from_slice(inner);
    one.client.write_all(&post).await.unwrap();
    assert_eq!(response(&mut one.client).await, pattern(10));
    tokio::time::sleep(Duration::from_millis(100)).await;
    // hyper drained the unread body (it had all of it) and keeps the connection.
    one.client.write_all(b"GET /next HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    assert_eq!(response(&mut one.client).await, pattern(10));
    assert_eq!(*one.paths.lock(), ["/first", "/next"]);
}

#[tokio::test]
async fn the_rest_of_a_body_the_service_answered_before_is_never_taken_for_a_request() {
    let mut one = one(10, Duration::from_secs(60)).await;
    let inner = b"GET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n";
    let head = format!("POST /first HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n", 4 + inner.len());
    one.client.write_all(head.as_bytes()).await.unwrap();
    one.client.write_all(b"abcd").await.unwrap();
    // Answered (and the body dropped) before the rest of the body was sent.
    assert_eq!(response(&mut one.client).await, pattern(10));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = one.client.write_all(inner).await;
    // hyper could not drain the body it was owed, so it closes the connection; taken
    // apart too early, the rest of the body would be served as a request.
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), one.client.read_to_end(&mut rest)).await.expect("closed");
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    assert_eq!(*one.paths.lock(), ["/first"]);
}

#[tokio::test]
async fn a_parked_connection_closes_at_its_keepalive_deadline_and_on_drain() {
    let mut one = one(10, Duration::from_millis(300)).await;
    one.client.write_all(GET).await.unwrap();
    response(&mut one.client).await;
    let answered = Instant::now();
    let activity = one.activity.clone();
    until("parked", move || activity.parks() == 1).await;
    let mut rest = Vec::new();
    assert_eq!(one.client.read_to_end(&mut rest).await.unwrap(), 0, "closed without a byte");
    let waited = answered.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited <= Duration::from_millis(2_000),
        "closed {waited:?} after the response, keep-alive 300 ms"
    );
    one.served.await.unwrap();

    let mut one = self::one(10, Duration::from_secs(60)).await;
    one.client.write_all(GET).await.unwrap();
    response(&mut one.client).await;
    let activity = one.activity.clone();
    until("parked", move || activity.parks() == 1).await;
    one.shutdown.send(Phase::Draining).unwrap();
    let mut rest = Vec::new();
    assert_eq!(one.client.read_to_end(&mut rest).await.unwrap(), 0, "closed on drain");
    tokio::time::timeout(Duration::from_secs(5), one.served).await.expect("drive returned").unwrap();
}

#[tokio::test]
async fn a_client_that_closes_while_parked_ends_the_connection() {
    let mut one = one(10, Duration::from_secs(60)).await;
    one.client.write_all(GET).await.unwrap();
    response(&mut one.client).await;
    let activity = one.activity.clone();
    until("parked", move || activity.parks() == 1).await;
    drop(one.client);
    tokio::time::timeout(Duration::from_secs(5), one.served).await.expect("drive returned").unwrap();
}
