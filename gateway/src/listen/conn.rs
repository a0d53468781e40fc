//! One accepted connection: its activity (requests in flight, bytes of a request not yet
//! taken up), the idle watchdog, and how it drains.
//!
//! The watchdog ([`Activity::idle_for`]) owns every idle and header deadline: before the
//! first request, `header_timeout` from accept; between requests, `keepalive_timeout` from
//! the end of the last one, or — once the first byte of a next HTTP/1.1 request head has
//! arrived — `header_timeout` from that byte. hyper's own `header_read_timeout` is off:
//! its timer starts as soon as a response is written, so it closed every idle keep-alive
//! connection at `header_timeout` instead of `keepalive_timeout`.
//!
//! [`Watched`] wraps the connection's (decrypted) stream and tells its [`Activity`] when
//! bytes arrive while no request is in flight — the start of the next request — and
//! whether the connection speaks h2 (the client preface). The service marks each request
//! with [`Activity::start`]; the [`InFlight`] guard inside the response body ([`Tracked`])
//! ends it.
//!
//! Draining ([`drive`]), a connection
//! - with requests in flight, or speaking h2, shuts down gracefully: hyper finishes the
//!   requests it has (h2: `GOAWAY`, streams already opened are answered) and closes;
//! - that never sent a byte is closed at once;
//! - that is sending the head of its next HTTP/1.1 request is given up to
//!   `header_timeout` for it, and the request is answered (the data plane answers 503
//!   `not ready` with `Retry-After` while draining) with `connection: close`. hyper alone
//!   would close such a connection as idle and drop the request unanswered;
//! - that is idle between requests is closed by hyper (after its last response is flushed).

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::{reached, ListenOptions, Phase};

/// The h2 client preface's first bytes (RFC 9113 §3.4); no HTTP/1.1 method starts so.
const H2_PREFACE_START: &[u8; 4] = b"PRI ";

/// Requests in flight on one connection, since when it has had none, and whether bytes of
/// a next request have arrived.
pub(super) struct Activity {
    in_flight: AtomicUsize,
    idle_since: Mutex<Instant>,
    served: AtomicBool,
    /// Bytes arrived while no request was in flight, and no request has started since.
    unread: AtomicBool,
    /// When the first of those bytes arrived.
    unread_since: Mutex<Instant>,
    /// The client sent the h2 preface.
    h2: AtomicBool,
    /// Shutdown has started: HTTP/1.1 responses say `connection: close`.
    draining: AtomicBool,
    /// Signalled when a request starts, for a draining connection waiting for the request it
    /// is reading ([`Activity::started_or`]); the idle watchdog needs no signal.
    changed: Notify,
}

/// Decrements [`Activity::in_flight`] when the response body is done (or dropped).
pub(super) struct InFlight(Arc<Activity>);

pin_project_lite::pin_project! {
    /// A response body that keeps its connection's request counted until it is dropped.
    pub struct Tracked<B> {
        #[pin]
        inner: B,
        guard: InFlight,
    }
}

pin_project_lite::pin_project! {
    /// A connection's stream that reports arriving bytes to its [`Activity`].
    pub(super) struct Watched<S> {
        #[pin]
        inner: S,
        activity: Arc<Activity>,
        // The first bytes read, until it is known whether they are the h2 preface.
        sniff: [u8; 4],
        sniffed: usize,
    }
}

/// What a draining connection does.
#[derive(Debug, PartialEq, Eq)]
enum Drain {
    /// hyper's graceful shutdown.
    Graceful,
    /// Close now: nothing was ever asked on it.
    Close,
    /// Wait for the request being read to start (bounded), then shut down gracefully.
    AwaitRequest,
}

/// Serves one connection: closes it when idle too long, drains it on `Draining`, drops it
/// on `Closing`.
pub(super) async fn drive<I, S, B>(
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
    // While a draining connection waits for the request it is reading: until when.
    let mut awaiting: Option<Instant> = None;
    let mut closing = shutdown.clone();
    loop {
        tokio::select! {
            _ = conn.as_mut() => break,
            _ = reached(&mut shutdown, Phase::Draining), if !draining => {
                draining = true;
                activity.draining.store(true, Ordering::Relaxed);
                match activity.drain() {
                    Drain::Graceful => conn.as_mut().graceful_shutdown(),
                    Drain::Close => break,
                    Drain::AwaitRequest => awaiting = Some(Instant::now() + options.header_timeout),
                }
            }
            _ = activity.started_or(awaiting), if awaiting.is_some() => {
                awaiting = None;
                conn.as_mut().graceful_shutdown();
            }
            _ = reached(&mut closing, Phase::Closing) => break,
            _ = activity.idle_for(options.header_timeout, options.keepalive_timeout) => break,
        }
    }
}

// === impl Activity ===

impl Activity {
    pub(super) fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            served: AtomicBool::new(false),
            unread: AtomicBool::new(false),
            unread_since: Mutex::new(Instant::now()),
            h2: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            changed: Notify::new(),
        }
    }

    pub(super) fn start(self: &Arc<Self>) -> InFlight {
        self.served.store(true, Ordering::Relaxed);
        self.unread.store(false, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_waiters();
        InFlight(self.clone())
    }

    /// Bytes arrived on the connection. The deadline becomes `header` from now, which the
    /// watchdog looks at in time without being woken ([`Self::idle_for`]).
    fn received(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 && !self.unread.load(Ordering::Relaxed) {
            *self.unread_since.lock() = Instant::now();
            self.unread.store(true, Ordering::Release);
        }
    }

    /// What draining this connection means now.
    fn drain(&self) -> Drain {
        let in_flight = self.in_flight.load(Ordering::Acquire) > 0;
        let unread = self.unread.load(Ordering::Relaxed);
        if in_flight || self.h2.load(Ordering::Relaxed) {
            Drain::Graceful
        } else if unread {
            Drain::AwaitRequest
        } else if !self.served.load(Ordering::Relaxed) {
            Drain::Close
        } else {
            Drain::Graceful
        }
    }

    /// Resolves once a request is in flight, or at `until`.
    async fn started_or(&self, until: Option<Instant>) {
        let Some(until) = until else { return };
        let deadline = tokio::time::sleep_until(until);
        tokio::pin!(deadline);
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.in_flight.load(Ordering::Acquire) > 0 {
                return;
            }
            tokio::select! {
                _ = &mut deadline => return,
                _ = changed => {}
            }
        }
    }

    /// Resolves once the connection has been idle past its deadline ([`Self::deadline`]).
    ///
    /// Requests never wake it (three wake-ups of the connection's task per request, each
    /// polling hyper's connection again, cost more than the watchdog itself): it sleeps
    /// until the deadline but never longer than `min(header, keepalive)`, then looks again.
    /// Every deadline lies at least that far after the event that sets it (accept, a
    /// request's end, a next request's first byte), so an event can only move the deadline
    /// past the watchdog's next look, never before it: the connection still closes at its
    /// deadline, to the timer's precision.
    async fn idle_for(&self, header: Duration, keepalive: Duration) {
        let step = header.min(keepalive);
        loop {
            let now = Instant::now();
            let look = if self.in_flight.load(Ordering::Acquire) > 0 {
                now + step
            } else {
                let deadline = self.deadline(header, keepalive);
                if deadline <= now {
                    return;
                }
                deadline.min(now + step)
            };
            tokio::time::sleep_until(look).await;
        }
    }

    /// Until when a connection with no request in flight may stay open: `header` after it
    /// was accepted (no request yet) or after the first byte of a next HTTP/1.1 request
    /// head arrived; otherwise `keepalive` after its last request ended.
    fn deadline(&self, header: Duration, keepalive: Duration) -> Instant {
        if !self.served.load(Ordering::Relaxed) {
            *self.idle_since.lock() + header
        } else if self.unread.load(Ordering::Acquire) && !self.h2.load(Ordering::Relaxed) {
            *self.unread_since.lock() + header
        } else {
            *self.idle_since.lock() + keepalive
        }
    }
}

// === impl InFlight ===

impl InFlight {
    /// Marks an HTTP/1.1 response written while draining as the connection's last (hyper
    /// adds this itself only to responses it had not started writing when the drain began).
    pub(super) fn finish<B>(&self, resp: &mut Response<B>) {
        let activity = &self.0;
        if activity.draining.load(Ordering::Relaxed) && !activity.h2.load(Ordering::Relaxed) {
            resp.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self.0.idle_since.lock() = Instant::now();
        }
    }
}

// === impl Tracked ===

impl<B> Tracked<B> {
    pub(super) fn new(inner: B, guard: InFlight) -> Self {
        Self { inner, guard }
    }
}

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

// === impl Watched ===

impl<S> Watched<S> {
    pub(super) fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity, sniff: [0; 4], sniffed: 0 }
    }
}

impl<S: AsyncRead> AsyncRead for Watched<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let polled = this.inner.poll_read(cx, buf);
        let new = &buf.filled()[before..];
        if !new.is_empty() {
            this.activity.received();
            if *this.sniffed < H2_PREFACE_START.len() {
                let take = new.len().min(H2_PREFACE_START.len() - *this.sniffed);
                this.sniff[*this.sniffed..*this.sniffed + take].copy_from_slice(&new[..take]);
                *this.sniffed += take;
                if *this.sniffed == H2_PREFACE_START.len() && this.sniff == H2_PREFACE_START {
                    this.activity.h2.store(true, Ordering::Relaxed);
                }
            }
        }
        polled
    }
}

impl<S: AsyncWrite> AsyncWrite for Watched<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drain_decisions() {
        let a = Arc::new(Activity::new());
        assert_eq!(a.drain(), Drain::Close, "a connection that never sent a byte");
        a.received();
        assert_eq!(a.drain(), Drain::AwaitRequest, "the head of a first request is arriving");
        let guard = a.start();
        assert_eq!(a.drain(), Drain::Graceful, "a request in flight");
        a.received();
        drop(guard);
        assert_eq!(a.drain(), Drain::Graceful, "idle between requests (body bytes came while in flight)");
        a.received();
        assert_eq!(a.drain(), Drain::AwaitRequest, "the head of a next request is arriving");
        a.h2.store(true, Ordering::Relaxed);
        assert_eq!(a.drain(), Drain::Graceful, "h2 drains with GOAWAY");
    }
}
