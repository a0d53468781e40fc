//! One accepted connection's state: its activity (requests in flight, bytes of a request
//! not yet taken up, whether its last response is still being written), the idle watchdog,
//! and what draining it means.
//!
//! The watchdog ([`Activity::idle_for`]) owns every idle and header deadline: before the
//! first request, `header_timeout` from accept; between requests, `keepalive_timeout` from
//! the end of the last one, or — once the first byte of a next HTTP/1.1 request head has
//! arrived — `header_timeout` from that byte. hyper's own `header_read_timeout` is off:
//! its timer starts as soon as a response is written, so it closed every idle keep-alive
//! connection at `header_timeout` instead of `keepalive_timeout`.
//!
//! [`Watched`] wraps the connection's (decrypted) stream: it tells its [`Activity`] when
//! bytes arrive while no request is in flight — the start of the next request — and when a
//! write could not go out (the client is not reading), and it replays bytes read before
//! hyper took the stream (the protocol sniff, a parked connection's unparsed bytes). The
//! service marks each request with [`Activity::start`]; the [`InFlight`] guard inside the
//! response body ([`Tracked`]) ends it. How a connection is served, parked and drained
//! with these: [`super::drive`].

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::Response;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

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
    /// The last write to the stream could not go out (the client is not reading): hyper
    /// still holds bytes of a response.
    write_blocked: AtomicBool,
    /// Times the connection was parked ([`super::drive`]).
    parks: AtomicUsize,
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
    /// A connection's stream that reports arriving bytes and blocked writes to its
    /// [`Activity`], and replays bytes read before hyper took it.
    pub(super) struct Watched<S> {
        #[pin]
        inner: S,
        activity: Arc<Activity>,
        // Read already (and reported), handed out again before the stream is read.
        replay: Bytes,
    }
}

/// What a draining connection does.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Drain {
    /// hyper's graceful shutdown.
    Graceful,
    /// Close now: nothing was ever asked on it.
    Close,
    /// Wait for the request being read to start (bounded), then shut down gracefully.
    AwaitRequest,
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
            write_blocked: AtomicBool::new(false),
            parks: AtomicUsize::new(0),
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
    pub(super) fn received(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 && !self.unread.load(Ordering::Relaxed) {
            *self.unread_since.lock() = Instant::now();
            self.unread.store(true, Ordering::Release);
        }
    }

    /// The client speaks h2.
    pub(super) fn set_h2(&self) {
        self.h2.store(true, Ordering::Relaxed);
    }

    /// Shutdown has started for this connection: it will not be parked, and its HTTP/1.1
    /// responses say `connection: close`.
    pub(super) fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether the connection is idle between requests with nothing left to write: it has
    /// served a request, none is in flight, no byte of a next one has arrived, its last
    /// write went out, and it is not draining.
    pub(super) fn parkable(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
            && self.served.load(Ordering::Relaxed)
            && !self.unread.load(Ordering::Acquire)
            && !self.write_blocked.load(Ordering::Relaxed)
            && !self.draining.load(Ordering::Relaxed)
    }

    /// The connection is parked: hyper's connection taken apart until its next bytes.
    pub(super) fn parked(&self) {
        self.parks.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether a request has started on the connection.
    #[cfg(test)]
    pub(super) fn has_served(&self) -> bool {
        self.served.load(Ordering::Relaxed)
    }

    /// Times the connection was parked.
    #[cfg(test)]
    pub(super) fn parks(&self) -> usize {
        self.parks.load(Ordering::Relaxed)
    }

    /// What draining this connection means now.
    pub(super) fn drain(&self) -> Drain {
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
    pub(super) async fn started_or(&self, until: Option<Instant>) {
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
    pub(super) async fn idle_for(&self, header: Duration, keepalive: Duration) {
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
        Self { inner, activity, replay: Bytes::new() }
    }

    /// The stream underneath.
    pub(super) fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Hands `bytes` out again, ahead of the stream, on the next reads.
    pub(super) fn replay(&mut self, bytes: Bytes) {
        debug_assert!(self.replay.is_empty(), "replayed bytes not read yet");
        self.replay = bytes;
    }

    /// Reads once from the stream itself (not the replay), reporting what arrived.
    pub(super) fn poll_read_stream(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>>
    where
        S: AsyncRead,
    {
        let this = self.project();
        let before = buf.filled().len();
        let polled = this.inner.poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.received();
        }
        polled
    }

    fn blocked<T>(activity: &Activity, polled: Poll<T>) -> Poll<T> {
        activity.write_blocked.store(polled.is_pending(), Ordering::Relaxed);
        polled
    }
}

impl<S: AsyncRead> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if !self.replay.is_empty() {
            let this = self.as_mut().project();
            let n = this.replay.len().min(buf.remaining());
            buf.put_slice(&this.replay[..n]);
            this.replay.advance(n);
            return Poll::Ready(Ok(()));
        }
        self.poll_read_stream(cx, buf)
    }
}

impl<S: AsyncWrite> AsyncWrite for Watched<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.project();
        Self::blocked(this.activity, this.inner.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.project();
        Self::blocked(this.activity, this.inner.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.project();
        Self::blocked(this.activity, this.inner.poll_flush(cx))
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
