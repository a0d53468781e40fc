//! The data plane's runtimes: one single-threaded tokio runtime per worker thread, all
//! accepting on the same listening socket (the nginx and pingora model).
//!
//! A connection is accepted by whichever worker's `epoll` wakes first (a busy worker takes
//! fewer) and is served on that worker for its whole life: its request phases, the tasks it
//! spawns (shadows, explainer calls), its timers, and — through
//! [`switchyard_core::worker::current`] — the upstream connections it uses
//! ([`crate::upstream`] keeps one pool per worker) and the rate limiter's Redis connection. Nothing
//! on a request's way hands work to another thread, so a request costs no cross-thread
//! wake-up; a work-stealing runtime spent several per request (futex wake-ups as workers
//! parked and stole, measured in the issue 19 note).
//!
//! Each worker thread lives until the [`Phase`] sender is dropped: after its accept loop
//! stops it keeps running its connections (they drain with the rest) and the tasks they
//! spawned.
//!
//! Each worker also runs a one-second tick ([`keep_a_timer_due`]). tokio's timer driver
//! wakes its own thread (an `eventfd` write, then an extra `epoll_wait` return) whenever a
//! new timer is due before every timer it holds; on a worker whose other timers are
//! keep-alive deadlines, each request's first-byte timeout (30 s by default) was such a
//! timer, so every request paid those two system calls (found with `perf record -e
//! syscalls:sys_enter_write`). With a timer always due within a second, only a timeout
//! shorter than that wakes the driver.

use std::future::Future;
use std::io;
use std::num::NonZeroUsize;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

use super::{serve, ListenOptions, Phase};

/// How many data-plane workers to run when not told: one per core this process may use.
pub fn default_workers() -> NonZeroUsize {
    switchyard_core::worker::default_count()
}

/// Starts `workers` threads, each serving `listener` with `handler` on its own runtime.
/// Returns one receiver per worker that resolves when its accept loop has stopped.
pub fn spawn<H, F, B>(
    workers: NonZeroUsize,
    listener: TcpListener,
    options: &ListenOptions,
    handler: H,
    shutdown: &watch::Receiver<Phase>,
    drained: &mpsc::Sender<()>,
) -> io::Result<Vec<oneshot::Receiver<()>>>
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = listener.into_std()?;
    let mut stopped = Vec::with_capacity(workers.get());
    for index in 0..workers.get() {
        let socket = listener.try_clone()?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (options, handler, shutdown, drained) =
            (options.clone(), handler.clone(), shutdown.clone(), drained.clone());
        let (done, stopped_rx) = oneshot::channel();
        std::thread::Builder::new().name(format!("switchyard-worker-{index}")).spawn(move || {
            switchyard_core::worker::enter(index);
            runtime.block_on(async move {
                tokio::spawn(keep_a_timer_due());
                let Ok(listener) = TcpListener::from_std(socket) else {
                    tracing::error!(worker = index, "cannot register the listening socket");
                    return;
                };
                serve(listener, options, handler, shutdown.clone(), drained).await;
                let _ = done.send(());
                // Keep serving this worker's connections and tasks until the gateway is gone.
                let mut shutdown = shutdown;
                while shutdown.changed().await.is_ok() {}
            });
        })?;
        stopped.push(stopped_rx);
    }
    Ok(stopped)
}

/// How far ahead a worker always has a timer due.
const TIMER_FLOOR: Duration = Duration::from_secs(1);

/// Ticks every [`TIMER_FLOOR`] for the worker's life, so a request's timeouts are never the
/// earliest timer of its runtime and arming them never wakes the timer driver.
async fn keep_a_timer_due() {
    let mut tick = tokio::time::interval(TIMER_FLOOR);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
    }
}
