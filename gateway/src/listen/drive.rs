//! Serving one accepted connection: which protocol it speaks, hyper's connection for it,
//! parking it while it is idle, and draining it.
//!
//! **Protocol.** The first bytes decide: the h2 client preface (RFC 9113 §3.4; prior
//! knowledge, or after ALPN) is served by hyper's h2 server, anything else by its HTTP/1.1
//! server. The bytes read to decide are replayed to hyper ([`Watched::replay`]).
//!
//! **Parking.** hyper's HTTP/1.1 connection holds an 8 KiB read buffer and an 8 KiB write
//! buffer for its whole life, busy or idle. A plaintext keep-alive connection that is idle
//! ([`Activity::parkable`]: it has served a request, none is in flight, no byte of a next
//! one has arrived, its last response went out to the socket) is taken apart
//! (`into_parts`): hyper's connection and its buffers are dropped, and the connection waits
//! for its socket to become readable holding only the socket and the service. The next
//! request's first bytes (or the client's FIN) build a new hyper connection on the same
//! socket. A client that is not reading its response keeps hyper's connection (its bytes
//! are still in hyper's buffer), and so does a connection with bytes hyper read but did not
//! parse (they are replayed to the new connection at once). hyper is polled once more
//! before it is taken apart ([`poll_h1`]), so that a request body the service dropped unread
//! is drained, or the connection closed, first. TLS connections are not parked: rustls
//! keeps buffers of its own, and its plaintext is not the socket's readiness. Parking costs
//! a request on a parked connection ~4,400 instructions (hyper's connection built again);
//! `limits.park_idle_connections: false` turns it off.
//!
//! **Draining** (`Phase::Draining`), a connection
//! - with requests in flight, or speaking h2, shuts down gracefully: hyper finishes the
//!   requests it has (h2: `GOAWAY`, streams already opened are answered) and closes;
//! - that never sent a byte is closed at once;
//! - that is sending the head of its next HTTP/1.1 request is given up to
//!   `header_timeout` for it, and the request is answered (the data plane answers 503
//!   `not ready` with `Retry-After` while draining) with `connection: close`. hyper alone
//!   would close such a connection as idle and drop the request unanswered;
//! - that is idle between requests is closed (by hyper, after its last response is
//!   flushed; at once when parked).
//!
//! `Phase::Closing` and the idle watchdog ([`Activity::idle_for`]) close it in any state.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::task::Poll;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::conn::{Activity, Drain, Watched};
use super::{reached, ListenOptions, Phase};

/// The h2 client preface (RFC 9113 §3.4); no HTTP/1.1 request starts so.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// hyper's servers, configured once per listener.
pub(super) struct Protocols {
    pub(super) h1: http1::Builder,
    pub(super) h2: http2::Builder<TokioExecutor>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What hyper's servers need of a connection's service: requests in, responses out.
pub(super) trait ConnService:
    Service<Request<Incoming>, Response = Response<Self::Body>, Error: Into<BoxError>, Future: Send + 'static>
    + Send
    + 'static
{
    /// The responses' body.
    type Body: http_body::Body<Data: Send, Error: Into<BoxError>> + Send + 'static;
}

/// What hyper's servers need of a connection's stream.
pub(super) trait ConnIo: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static {}

/// A stream a connection can be parked on.
pub(super) trait Park {
    /// Whether it can: its readiness is the readiness of what hyper reads.
    const PARKABLE: bool;

    /// Resolves when the stream has something to read (or was closed).
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send + '_;
}

/// Which protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    H1,
    H2,
}

/// How serving with one hyper connection ended.
enum Served<P> {
    /// The connection is done (closed, or to be dropped).
    Done,
    /// The connection is idle: hyper's connection taken apart.
    Parked(P),
}

/// Where a connection is in draining, and the three futures that drain or end it. Each is
/// one future for the connection's whole life, polled in every phase (sniff, serve, park),
/// so that a request does not arm a timer or take a watch again.
struct Drainer<'a, D, C, W> {
    /// Resolves when shutdown reaches `Draining`.
    drain: Pin<&'a mut D>,
    /// Resolves when shutdown reaches `Closing`.
    closing: Pin<&'a mut C>,
    /// The idle watchdog ([`Activity::idle_for`]).
    watchdog: Pin<&'a mut W>,
    draining: bool,
    /// While a draining connection waits for the request it is reading: until when.
    awaiting: Option<Instant>,
}

/// Serves one connection: picks its protocol, parks it while idle (plaintext HTTP/1.1),
/// closes it when idle too long, drains it on `Draining`, drops it on `Closing`.
pub(super) async fn drive<S, Svc>(
    io: Watched<S>,
    protocols: &Protocols,
    service: Svc,
    activity: &Activity,
    options: &ListenOptions,
    shutdown: watch::Receiver<Phase>,
) where
    S: AsyncRead + AsyncWrite + Park + Unpin + Send + 'static,
    Svc: ConnService,
{
    let (mut shutdown, mut closing) = (shutdown.clone(), shutdown);
    let drain = reached(&mut shutdown, Phase::Draining);
    let closing = reached(&mut closing, Phase::Closing);
    let watchdog = activity.idle_for(options.header_timeout, options.keepalive_timeout);
    tokio::pin!(drain, closing, watchdog);
    let mut drainer = Drainer { drain, closing, watchdog, draining: false, awaiting: None };
    let mut io = io;
    let Some(version) = drainer.sniff(&mut io, activity, options).await else { return };
    if version == Version::H2 {
        activity.set_h2();
        let conn = Box::pin(protocols.h2.serve_connection(TokioIo::new(io), service));
        drainer.serve_h2(conn, activity, options).await;
        return;
    }
    let mut service = service;
    loop {
        let conn = Box::new(protocols.h1.serve_connection(TokioIo::new(io), service));
        let Served::Parked(parts) = drainer.serve_h1(conn, activity, options, S::PARKABLE && options.park).await else {
            return;
        };
        io = parts.io.into_inner();
        service = parts.service;
        if !parts.read_buf.is_empty() {
            // Bytes of a next request that hyper read but did not parse: to a new
            // connection at once, and the watchdog gives them `header_timeout`.
            activity.received();
            io.replay(parts.read_buf);
            continue;
        }
        // Empty, but it may still hold hyper's whole read buffer.
        drop(parts.read_buf);
        activity.parked();
        if !drainer.park(&io).await {
            return;
        }
    }
}

// === impl Drainer ===

impl<D, C, W> Drainer<'_, D, C, W>
where
    D: Future<Output = ()>,
    C: Future<Output = ()>,
    W: Future<Output = ()>,
{
    /// Reads until the h2 preface is seen or ruled out; the bytes read are left to replay.
    /// `None`: the connection is to be closed (silent too long, shutdown, read error).
    async fn sniff<S: AsyncRead + Unpin>(
        &mut self,
        io: &mut Watched<S>,
        activity: &Activity,
        options: &ListenOptions,
    ) -> Option<Version> {
        let mut buf = [0u8; H2_PREFACE.len()];
        let mut filled = 0;
        let version = {
            let read = poll_fn(|cx| {
                while filled < buf.len() {
                    let mut rb = ReadBuf::new(&mut buf[filled..]);
                    std::task::ready!(Pin::new(&mut *io).poll_read_stream(cx, &mut rb))?;
                    let n = rb.filled().len();
                    let matches = n > 0 && buf[filled..filled + n] == H2_PREFACE[filled..filled + n];
                    filled += n;
                    if !matches {
                        return Poll::Ready(Ok::<_, io::Error>(Version::H1));
                    }
                }
                Poll::Ready(Ok(Version::H2))
            });
            tokio::pin!(read);
            loop {
                tokio::select! {
                    biased;
                    version = &mut read => break version.ok()?,
                    _ = self.drain.as_mut(), if !self.draining => {
                        if self.start_draining(activity, options) {
                            return None;
                        }
                        // Bytes of a first request are arriving: `header_timeout` for it.
                    }
                    _ = self.closing.as_mut() => return None,
                    _ = self.watchdog.as_mut() => return None,
                }
            }
        };
        io.replay(Bytes::copy_from_slice(&buf[..filled]));
        Some(version)
    }

    /// Serves with hyper's HTTP/1.1 connection until it is done, or (if `parkable`) until
    /// it is idle ([`Activity::parkable`]), then returns it taken apart.
    async fn serve_h1<I: ConnIo, Svc: ConnService>(
        &mut self,
        conn: Box<http1::Connection<I, Svc>>,
        activity: &Activity,
        options: &ListenOptions,
        parkable: bool,
    ) -> Served<http1::Parts<I, Svc>> {
        // Some until hyper's connection is done or taken apart.
        let mut conn = Some(conn);
        loop {
            tokio::select! {
                biased;
                ended = poll_fn(|cx| poll_h1(&mut conn, activity, parkable, cx)) => return match ended {
                    Some(conn) => Served::Parked(conn.into_parts()),
                    None => Served::Done,
                },
                _ = self.drain.as_mut(), if !self.draining => {
                    if self.start_draining(activity, options) {
                        return Served::Done;
                    }
                    if self.awaiting.is_none() {
                        graceful_h1(&mut conn);
                    }
                }
                _ = activity.started_or(self.awaiting), if self.awaiting.is_some() => {
                    self.awaiting = None;
                    graceful_h1(&mut conn);
                }
                _ = self.closing.as_mut() => return Served::Done,
                _ = self.watchdog.as_mut() => return Served::Done,
            }
        }
    }

    /// Serves with hyper's h2 connection until it is done.
    async fn serve_h2<I: ConnIo, Svc: ConnService>(
        &mut self,
        mut conn: Pin<Box<http2::Connection<I, Svc, TokioExecutor>>>,
        activity: &Activity,
        options: &ListenOptions,
    ) {
        if self.draining {
            // Sniffed while draining: `GOAWAY` at once.
            self.awaiting = None;
            conn.as_mut().graceful_shutdown();
        }
        loop {
            tokio::select! {
                biased;
                _ = conn.as_mut() => return,
                _ = self.drain.as_mut(), if !self.draining => {
                    if self.start_draining(activity, options) {
                        return;
                    }
                    conn.as_mut().graceful_shutdown();
                }
                _ = self.closing.as_mut() => return,
                _ = self.watchdog.as_mut() => return,
            }
        }
    }

    /// Waits, parked, for the connection's next bytes: `true` to serve them, `false` to
    /// close it (shutdown, the keep-alive deadline, a socket error).
    async fn park<S: Park>(&mut self, io: &Watched<S>) -> bool {
        tokio::select! {
            biased;
            readable = io.get_ref().readable() => readable.is_ok(),
            // Idle between requests: closed, as hyper closes an idle connection it drains.
            _ = self.drain.as_mut(), if !self.draining => false,
            _ = self.closing.as_mut() => false,
            _ = self.watchdog.as_mut() => false,
        }
    }

    /// Shutdown reached `Draining`: marks the connection and decides what draining it
    /// means; `true` to close it at once.
    fn start_draining(&mut self, activity: &Activity, options: &ListenOptions) -> bool {
        self.draining = true;
        activity.set_draining();
        match activity.drain() {
            Drain::Graceful => false,
            Drain::Close => true,
            Drain::AwaitRequest => {
                self.awaiting = Some(Instant::now() + options.header_timeout);
                false
            }
        }
    }
}

/// Polls hyper's HTTP/1.1 connection: `Ready(None)` when it is done, `Ready(Some)` (taken
/// out of `conn`) when `parkable` and it waits for the socket with the connection idle
/// ([`Activity::parkable`]).
#[allow(clippy::type_complexity)]
fn poll_h1<I: ConnIo, Svc: ConnService>(
    conn: &mut Option<Box<http1::Connection<I, Svc>>>,
    activity: &Activity,
    parkable: bool,
    cx: &mut std::task::Context<'_>,
) -> Poll<Option<Box<http1::Connection<I, Svc>>>> {
    let Some(c) = conn.as_mut() else { return Poll::Ready(None) };
    match Pin::new(&mut **c).poll(cx) {
        Poll::Ready(_) => return Poll::Ready(None),
        Poll::Pending if parkable && activity.parkable() => {}
        Poll::Pending => return Poll::Pending,
    }
    // Idle by the activity, but hyper may still owe itself a poll: a request body the
    // service dropped unread is drained (or the connection closed) only when hyper next
    // reads. Taken apart before that, the rest of that body would be read as a request.
    match Pin::new(&mut **c).poll(cx) {
        Poll::Ready(_) => Poll::Ready(None),
        Poll::Pending if activity.parkable() => Poll::Ready(conn.take()),
        Poll::Pending => Poll::Pending,
    }
}

/// hyper's graceful shutdown of an HTTP/1.1 connection still being served.
fn graceful_h1<I: ConnIo, Svc: ConnService>(conn: &mut Option<Box<http1::Connection<I, Svc>>>) {
    if let Some(c) = conn.as_mut() {
        Pin::new(&mut **c).graceful_shutdown();
    }
}

// === impl ConnService, ConnIo ===

impl<S, B> ConnService for S
where
    S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Body = B;
}

impl<I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static> ConnIo for I {}

// === impl Park ===

impl Park for TcpStream {
    const PARKABLE: bool = true;

    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send + '_ {
        TcpStream::readable(self)
    }
}

impl<S: Send + Sync> Park for tokio_rustls::server::TlsStream<S> {
    const PARKABLE: bool = false;

    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send + '_ {
        std::future::pending()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
