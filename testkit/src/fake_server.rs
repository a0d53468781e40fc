//! The machinery every provider fake shares: an HTTP/1.1 + h2 server on `127.0.0.1:0`
//! that records each request and answers through a [`Wire`] (the provider's format),
//! with switchable failures ([`Mode`]) applied on top.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

pub type BoxBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// One request a fake received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
}

/// What a fake answers in normal mode.
pub enum Reply {
    /// Status and JSON text.
    Json(u16, String),
    /// SSE events (each a complete `event:`/`data:` block ending in a blank line),
    /// sent with `gap` between them.
    Sse(Vec<String>, Duration),
}

/// A provider's wire format.
pub trait Wire: Send + Sync + 'static {
    /// The answer to a request.
    fn answer(&self, seen: &Seen) -> Reply;
    /// The provider's error body for `status`.
    fn error(&self, status: u16) -> String;
}

/// Switchable behaviour.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    /// Answer normally.
    Normal,
    /// Answer every request with this status and the provider's error body.
    Fail(u16),
    /// Like `Fail`, with `Retry-After: <secs>`.
    FailRetryAfter(u16, u64),
    /// Fail the next `times` requests with `status` (and `Retry-After` when set), then
    /// answer normally.
    FailNext { times: u32, status: u16, retry_after: Option<u64> },
    /// Accept the request and never answer.
    Hang,
    /// Close the connection without answering (a reset before the first byte).
    Drop,
    /// Stream the first event, then cut the connection.
    CutAfterFirst,
    /// Stream the first event, then nothing, forever.
    StallAfterFirst,
}

/// A running fake.
#[derive(Clone)]
pub struct Fake {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    mode: Arc<Mutex<Mode>>,
    hits: Arc<AtomicUsize>,
}

impl Fake {
    /// Starts a fake speaking `wire`.
    pub async fn start(wire: impl Wire) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let fake = Self { addr, seen: Arc::default(), mode: Arc::new(Mutex::new(Mode::Normal)), hits: Arc::default() };
        let (f, wire) = (fake.clone(), Arc::new(wire));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let _ = stream.set_nodelay(true);
                let (f, wire) = (f.clone(), wire.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let (f, wire) = (f.clone(), wire.clone());
                        async move { f.answer(&*wire, req).await }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        fake
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches behaviour for the following requests.
    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().expect("lock") = mode;
    }

    /// Requests received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    /// Number of requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    async fn answer(&self, wire: &dyn Wire, req: Request<Incoming>) -> Result<Response<BoxBody>, std::io::Error> {
        let (parts, body) = req.into_parts();
        let bytes = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        let seen = Seen {
            method: parts.method.to_string(),
            path: parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
            headers: parts.headers,
            body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        };
        self.seen.lock().expect("lock").push(seen.clone());
        self.hits.fetch_add(1, Ordering::SeqCst);
        let mode = {
            let mut m = self.mode.lock().expect("lock");
            let now = m.clone();
            if let Mode::FailNext { times, status, retry_after } = now {
                *m = if times > 1 { Mode::FailNext { times: times - 1, status, retry_after } } else { Mode::Normal };
                match retry_after {
                    Some(secs) => Mode::FailRetryAfter(status, secs),
                    None => Mode::Fail(status),
                }
            } else {
                now
            }
        };
        match mode {
            Mode::Fail(code) => Ok(json(code, &wire.error(code))),
            Mode::FailRetryAfter(code, secs) => {
                let mut r = json(code, &wire.error(code));
                r.headers_mut().insert("retry-after", secs.into());
                Ok(r)
            }
            Mode::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(json(500, "{}"))
            }
            Mode::Drop => Err(std::io::Error::other("dropped")),
            Mode::FailNext { .. } => Ok(json(500, "{}")),
            Mode::Normal | Mode::CutAfterFirst | Mode::StallAfterFirst => match wire.answer(&seen) {
                Reply::Json(code, text) => Ok(json(code, &text)),
                Reply::Sse(events, gap) => Ok(sse(events, gap, mode)),
            },
        }
    }
}

pub fn json(status: u16, body: &str) -> Response<BoxBody> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_owned())).map_err(|e: Infallible| match e {}).boxed());
    *r.status_mut() = StatusCode::from_u16(status).expect("status");
    r.headers_mut().insert("content-type", "application/json".parse().expect("ct"));
    r
}

fn sse(events: Vec<String>, gap: Duration, mode: Mode) -> Response<BoxBody> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    tokio::spawn(async move {
        for (i, ev) in events.into_iter().enumerate() {
            if i > 0 {
                match mode {
                    Mode::CutAfterFirst => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        let _ = tx.send(Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut"))).await;
                        return;
                    }
                    Mode::StallAfterFirst => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        return;
                    }
                    _ => {}
                }
                if !gap.is_zero() {
                    tokio::time::sleep(gap).await;
                }
            }
            if tx.send(Ok(Bytes::from(ev))).await.is_err() {
                return;
            }
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data))));
    let mut r = Response::new(StreamBody::new(stream).boxed());
    r.headers_mut().insert("content-type", "text/event-stream".parse().expect("ct"));
    r
}

/// Reads a provider wire-format fixture under `gateway/fixtures/`.
pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/../gateway/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
}

/// Splits SSE text into events (blocks ending in a blank line), keeping their framing.
pub fn split_events(text: &str) -> Vec<String> {
    let sep = if text.contains("\r\n\r\n") { "\r\n\r\n" } else { "\n\n" };
    text.split_inclusive(sep).filter(|e| !e.trim().is_empty()).map(str::to_owned).collect()
}
