//! Phase 1, **accept**: listeners, TLS ([`tls`]), HTTP/1.1 + h2, and graceful shutdown.
//!
//! [`serve`] accepts until its shutdown signal fires, sets `TCP_NODELAY`, optionally
//! completes a TLS handshake (bounded by the header timeout), and serves each connection
//! with hyper's HTTP/1.1 or h2 server, by the client's first bytes ([`drive`]; an idle
//! plaintext HTTP/1.1 connection is parked without hyper's buffers until its next request).
//!
//! Slow clients: HTTP/1 headers must arrive within `header_timeout` once they start, and a
//! connection with no request in flight is closed after `header_timeout` if it has not
//! sent a first request (this covers a silent socket, a stalled h2 preface and a silent
//! client after the TLS handshake) and after `keepalive_timeout` between requests.
//!
//! h2 is served within deliberate limits ([`H2Limits`], from `limits.h2_*`): streams per
//! connection, resets a client may provoke (rapid reset, CVE-2023-44487; protocol errors,
//! CVE-2025-8671), the header list (which also bounds CONTINUATION frames, CVE-2024-27316
//! class), the frame size, and keep-alive PINGs that close connections to dead peers.
//! SETTINGS and PINGs are acknowledged before h2 reads further, so a flood of them is
//! held back by the socket, not buffered.
//!
//! Shutdown is driven by a [`Phase`] watch: `Draining` tells every connection to finish
//! its requests in flight and close (how each kind of connection drains: [`drive`]);
//! `Closing` drops what is left (their recorders finish as `client_aborted`). Each
//! connection task holds a clone of the `drained` sender, so the caller knows all are
//! gone when its receiver closes.

mod conn;
pub mod cores;
mod drive;
pub mod tls;
pub mod tls_reload;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use switchyard_config::schema::LimitsConfig;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;

pub use conn::Tracked;
use conn::{Activity, Watched};
use drive::{drive, Protocols};

/// How one listener serves.
#[derive(Clone)]
pub struct ListenOptions {
    /// Time allowed for request headers (and a TLS handshake), and for a new connection
    /// to start its first request.
    pub header_timeout: Duration,
    /// How long a connection may sit with no request in flight between requests.
    pub keepalive_timeout: Duration,
    /// Whether idle plaintext HTTP/1.1 connections are parked ([`drive`]).
    pub park: bool,
    /// What one h2 connection may ask of the server.
    pub h2: H2Limits,
    /// TLS, if configured.
    pub tls: Option<TlsAcceptor>,
    /// Whether each request carries its connection's [`switchyard_core::PeerAddr`] in its
    /// extensions (the admin listener; the data plane skips the allocation).
    pub peer_extension: bool,
}

/// hyper's h2 server settings (`limits.h2_*`; README "Configuration reference").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H2Limits {
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`.
    pub max_concurrent_streams: u32,
    /// Streams reset by the client before they were taken up, at most (then `GOAWAY`).
    pub max_pending_accept_reset_streams: usize,
    /// Streams the server resets for protocol errors, at most (then `GOAWAY`).
    pub max_local_error_reset_streams: usize,
    /// `SETTINGS_MAX_HEADER_LIST_SIZE`, bytes.
    pub max_header_list_bytes: u32,
    /// `SETTINGS_MAX_FRAME_SIZE`, bytes.
    pub max_frame_bytes: u32,
    /// How often the server PINGs a connection (`None`: never).
    pub keepalive_interval: Option<Duration>,
    /// A PING unanswered this long closes the connection.
    pub keepalive_timeout: Duration,
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
    let protocols = Arc::new(protocols(&options));
    loop {
        let (stream, peer) = tokio::select! {
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
        let protocols = protocols.clone();
        let shutdown = shutdown.clone();
        let drained = drained.clone();
        let options = options.clone();
        tokio::spawn(async move {
            let activity = Arc::new(Activity::new());
            let counted = activity.clone();
            let tag_peer = options.peer_extension;
            let service = service_fn(move |mut req: Request<Incoming>| {
                if tag_peer {
                    req.extensions_mut().insert(switchyard_core::PeerAddr(peer));
                }
                let guard = counted.start();
                // Boxed: hyper keeps a slot sized for the service future in every
                // connection, busy or idle; the handler's future is several KiB, a box
                // is a pointer (measured with massif at 1,000 idle-ish connections).
                let fut = Box::pin(handler(req));
                async move {
                    let mut resp = fut.await;
                    guard.finish(&mut resp);
                    Ok::<_, Infallible>(resp.map(|inner| Tracked::new(inner, guard)))
                }
            });
            match options.tls {
                None => {
                    let io = Watched::new(stream, activity.clone());
                    boxed(drive(io, &protocols, service, &activity, &options, shutdown)).await;
                }
                Some(ref tls) => {
                    let accepted = boxed(tokio::time::timeout(options.header_timeout, tls.accept(stream))).await;
                    if let Ok(Ok(tls_stream)) = accepted {
                        let io = Watched::new(tls_stream, activity.clone());
                        boxed(drive(io, &protocols, service, &activity, &options, shutdown)).await;
                    }
                }
            }
            drop(drained);
        });
    }
}

/// A future on the heap, sized for what it is. A connection's task is allocated at the
/// size of its largest state for its whole life: with the TLS handshake and the TLS
/// stream's `drive` inline, every plaintext connection's task was 8,080 bytes; boxed, it
/// is 1,528 plus `drive` (~1.3 KiB; hyper's connections are boxed inside it, and dropped
/// while the connection is parked), measured with `size_of_val`. Memory per idle
/// keep-alive connection: 26.0 → 24.2 KiB, then ~4.5 KiB parked (`benches/idle-rss.sh`).
fn boxed<'a, T>(fut: impl Future<Output = T> + Send + 'a) -> Pin<Box<dyn Future<Output = T> + Send + 'a>> {
    Box::pin(fut)
}

/// hyper's servers: h1 with keep-alive (its header and idle deadlines are [`conn`]'s
/// watchdog's, so hyper's own header timer is off), h2 within [`H2Limits`].
fn protocols(options: &ListenOptions) -> Protocols {
    let mut h1 = http1::Builder::new();
    h1.timer(TokioTimer::new()).header_read_timeout(None).keep_alive(true);
    let mut builder = http2::Builder::new(TokioExecutor::new());
    let h2 = &options.h2;
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(h2.max_concurrent_streams)
        .max_pending_accept_reset_streams(h2.max_pending_accept_reset_streams)
        .max_local_error_reset_streams(h2.max_local_error_reset_streams)
        .max_header_list_size(h2.max_header_list_bytes)
        .max_frame_size(h2.max_frame_bytes)
        .keep_alive_interval(h2.keepalive_interval)
        .keep_alive_timeout(h2.keepalive_timeout);
    Protocols { h1, h2: builder }
}

/// Resolves once `shutdown` is at `phase` or later (or its sender is gone).
async fn reached(shutdown: &mut watch::Receiver<Phase>, phase: Phase) {
    let _ = shutdown.wait_for(|p| *p >= phase).await;
}

// === impl ListenOptions ===

impl ListenOptions {
    /// The options `limits` gives a listener, with `tls` if it has it.
    pub fn new(limits: &LimitsConfig, tls: Option<TlsAcceptor>) -> Self {
        Self {
            header_timeout: Duration::from_millis(limits.header_timeout_ms),
            keepalive_timeout: Duration::from_millis(limits.keepalive_timeout_ms),
            park: limits.park_idle_connections,
            h2: H2Limits::new(limits),
            tls,
            peer_extension: false,
        }
    }
}

// === impl H2Limits ===

impl H2Limits {
    /// The `limits.h2_*` keys.
    pub fn new(limits: &LimitsConfig) -> Self {
        Self {
            max_concurrent_streams: limits.h2_max_concurrent_streams,
            max_pending_accept_reset_streams: limits.h2_max_pending_accept_reset_streams as usize,
            max_local_error_reset_streams: limits.h2_max_local_error_reset_streams as usize,
            max_header_list_bytes: limits.h2_max_header_list_bytes,
            max_frame_bytes: limits.h2_max_frame_bytes,
            keepalive_interval: (limits.h2_keepalive_interval_ms > 0)
                .then(|| Duration::from_millis(limits.h2_keepalive_interval_ms)),
            keepalive_timeout: Duration::from_millis(limits.h2_keepalive_timeout_ms),
        }
    }
}
