//! Phase 1, **accept**: listeners, TLS ([`tls`]), HTTP/1.1 + h2, and graceful shutdown.
//!
//! [`serve`] accepts until its shutdown signal fires, sets `TCP_NODELAY`, optionally
//! completes a TLS handshake (bounded by the header timeout), and serves each connection
//! with hyper-util's auto builder (h1 or h2 by ALPN / preface).
//!
//! Slow clients: HTTP/1 headers must arrive within `header_timeout` once they start, and a
//! connection with no request in flight is closed after `header_timeout` if it has not
//! sent a first request (this covers a silent socket, a stalled h2 preface and a silent
//! client after the TLS handshake) and after `keepalive_timeout` between requests.
//!
//! Shutdown is driven by a [`Phase`] watch: `Draining` tells every connection to finish
//! its requests in flight and close; `Closing` drops what is left (their recorders finish
//! as `client_aborted`). Each connection task holds a clone of the `drained` sender, so
//! the caller knows all are gone when its receiver closes.

pub mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

/// How one listener serves.
#[derive(Clone)]
pub struct ListenOptions {
    /// Time allowed for request headers (and a TLS handshake), and for a new connection
    /// to start its first request.
    pub header_timeout: Duration,
    /// How long a connection may sit with no request in flight between requests.
    pub keepalive_timeout: Duration,
    /// TLS, if configured.
    pub tls: Option<TlsAcceptor>,
}

/// Where the server is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Accepting and serving.
    Serving,
    /// No new connections; requests in flight finish.
    Draining,
    /// Grace period over: remaining connections are dropped.
    Closing,
}

/// Requests in flight on one connection, and since when it has had none.
struct Activity {
    in_flight: AtomicUsize,
    idle_since: Mutex<Instant>,
    served: AtomicBool,
    changed: Notify,
}

/// Decrements [`Activity::in_flight`] when the response body is done (or dropped).
struct InFlight(Arc<Activity>);

pin_project_lite::pin_project! {
    /// A response body that keeps its connection's request counted until it is dropped.
    pub struct Tracked<B> {
        #[pin]
        inner: B,
        guard: InFlight,
    }
}

/// Accepts connections on `listener` and serves `handler` until `shutdown` turns true.
pub async fn serve<H, F, B>(
    listener: TcpListener,
    options: ListenOptions,
    handler: H,
    mut shutdown: watch::Receiver<Phase>,
    drained: mpsc::Sender<()>,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(options.header_timeout).keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = reached(&mut shutdown, Phase::Draining) => break,
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let builder = builder.clone();
        let shutdown = shutdown.clone();
        let drained = drained.clone();
        let options = options.clone();
        tokio::spawn(async move {
            let activity = Arc::new(Activity::new());
            let counted = activity.clone();
            let service = service_fn(move |req| {
                let guard = counted.start();
                // Boxed: hyper keeps a slot sized for the service future in every
                // connection, busy or idle; the handler's future is several KiB, a box
                // is a pointer (measured with massif at 1,000 idle-ish connections).
                let fut = Box::pin(handler(req));
                async move { Ok::<_, Infallible>(fut.await.map(|inner| Tracked { inner, guard })) }
            });
            match options.tls {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    drive(conn, &activity, &options, shutdown).await;
                }
                Some(ref tls) => {
                    if let Ok(Ok(tls_stream)) = tokio::time::timeout(options.header_timeout, tls.accept(stream)).await {
                        let conn = builder.serve_connection(TokioIo::new(tls_stream), service);
                        drive(conn, &activity, &options, shutdown).await;
                    }
                }
            }
            drop(drained);
        });
    }
}

/// Serves one connection: closes it when idle too long, drains it on `Draining`, drops it
/// on `Closing`.
async fn drive<I, S, B>(
    conn: auto::Connection<'_, I, S, TokioExecutor>,
    activity: &Activity,
    options: &ListenOptions,
    mut shutdown: watch::Receiver<Phase>,
) where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>>,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let mut conn = std::pin::pin!(conn);
    let mut draining = false;
    let mut closing = shutdown.clone();
    loop {
        tokio::select! {
            _ = conn.as_mut() => break,
            _ = reached(&mut shutdown, Phase::Draining), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = reached(&mut closing, Phase::Closing) => break,
            _ = activity.idle_for(options.header_timeout, options.keepalive_timeout) => break,
        }
    }
}

/// Resolves once `shutdown` is at `phase` or later (or its sender is gone).
async fn reached(shutdown: &mut watch::Receiver<Phase>, phase: Phase) {
    let _ = shutdown.wait_for(|p| *p >= phase).await;
}

// === impl Activity ===

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            served: AtomicBool::new(false),
            changed: Notify::new(),
        }
    }

    fn start(self: &Arc<Self>) -> InFlight {
        self.served.store(true, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_waiters();
        InFlight(self.clone())
    }

    /// Resolves once the connection has had no request in flight for `first` (before its
    /// first request) or `between` (after one).
    async fn idle_for(&self, first: Duration, between: Duration) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.in_flight.load(Ordering::Acquire) > 0 {
                changed.await;
                continue;
            }
            let limit = if self.served.load(Ordering::Relaxed) { between } else { first };
            let since = *self.idle_since.lock();
            tokio::select! {
                _ = tokio::time::sleep_until(since + limit) => {
                    if self.in_flight.load(Ordering::Acquire) == 0 {
                        return;
                    }
                }
                _ = changed => {}
            }
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self.0.idle_since.lock() = Instant::now();
        }
        self.0.changed.notify_waiters();
    }
}

// === impl Tracked ===

impl<B: http_body::Body> http_body::Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
