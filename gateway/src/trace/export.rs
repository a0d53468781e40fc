//! Span export off the request path: a bounded queue in front of the OTLP/HTTP exporter.
//!
//! [`QueueProcessor`] is the SDK's span processor. A finished span is handed to it on the
//! thread that ended it and offered to a bounded channel with `try_send` — when the
//! channel is full (the collector is slow or down) the span is dropped and counted in
//! `switchyard_trace_spans_dropped_total{reason="queue_full"}`; nothing on the request path
//! waits. One thread (`switchyard-trace-export`, its own single-threaded runtime) takes up
//! to [`MAX_BATCH`] spans, waiting at most [`BATCH_DELAY`] for a batch to fill, and posts it
//! with `opentelemetry-otlp`'s exporter (protobuf over HTTP/1.1), one export at a time; a
//! batch that fails is counted as `reason="export_failed"`. Failing and recovering are
//! logged once each, not per batch.
//!
//! A collector that is down costs the data plane as little as one that is up:
//! - the exporter's own retry loop is off (a refused connection would be retried three
//!   times per batch, each batch encoded and sent again); instead, after a failed export
//!   the worker sleeps ([`FAILURE_BACKOFF`], doubling, jittered) while the queue fills and
//!   overflows (`reason="queue_full"`, a failed `try_send` on the ending thread — the
//!   cheapest way to drop a span); the first batch after the wait is the probe, and one
//!   success ends the backoff;
//! - the export thread runs at a lower CPU priority ([`EXPORT_NICE`]) than the data
//!   plane's workers, so encoding a batch never delays a request on a busy core; when the
//!   core is saturated the queue fills and spans are dropped (counted), not requests.
//!
//! Invariant: spans are only ever dropped with a count; at shutdown what is queued gets
//! one last export within the grace given (backoff or not).

use std::sync::mpsc as std_mpsc;
use std::sync::Mutex;
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use switchyard_core::backoff::Backoff;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Spans in one export request at most.
pub const MAX_BATCH: usize = 512;
/// Longest a span waits for its batch to fill.
pub const BATCH_DELAY: Duration = Duration::from_millis(200);
/// Wait after a failed export before the next one is tried: 250 ms, doubling up to 10 s.
pub const FAILURE_BACKOFF: Backoff = Backoff { base: Duration::from_millis(250), max: Duration::from_secs(10) };
/// The export thread's nice value (the data plane's threads run at 0).
pub const EXPORT_NICE: i32 = 10;

/// The trace export metrics (registered whether or not export is on, so they read 0
/// from start-up).
#[derive(Clone)]
pub struct TraceMetrics {
    /// `switchyard_trace_spans_dropped_total{reason="queue_full"}`.
    pub dropped_queue_full: IntCounter,
    /// `switchyard_trace_spans_dropped_total{reason="export_failed"}`.
    pub dropped_export_failed: IntCounter,
    /// `switchyard_trace_spans_exported_total`.
    pub exported: IntCounter,
}

/// The SDK span processor: a bounded queue to the export thread.
pub struct QueueProcessor {
    spans: mpsc::Sender<SpanData>,
    stop: Mutex<Option<oneshot::Sender<Duration>>>,
    stopped: Mutex<std_mpsc::Receiver<()>>,
    metrics: TraceMetrics,
}

/// What the export thread works with.
struct Worker<E> {
    exporter: E,
    spans: mpsc::Receiver<SpanData>,
    metrics: TraceMetrics,
    timeout: Duration,
    /// Failed exports in a row (0: the collector answers).
    failures: u32,
    /// While failing: no export before this.
    retry_at: Option<Instant>,
}

// === impl TraceMetrics ===

impl TraceMetrics {
    /// Creates and registers the metrics.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let dropped = IntCounterVec::new(
            Opts::new(
                "switchyard_trace_spans_dropped_total",
                "Finished spans not exported: the export queue was full, or the collector refused or missed them.",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(dropped.clone()))?;
        let exported = IntCounter::new("switchyard_trace_spans_exported_total", "Spans the OTLP collector accepted.")?;
        registry.register(Box::new(exported.clone()))?;
        Ok(Self {
            dropped_queue_full: dropped.with_label_values(&["queue_full"]),
            dropped_export_failed: dropped.with_label_values(&["export_failed"]),
            exported,
        })
    }
}

// === impl QueueProcessor ===

impl QueueProcessor {
    /// Starts the export thread for `exporter` behind a queue of `capacity` spans.
    pub fn start<E: SpanExporter + 'static>(
        exporter: E,
        capacity: usize,
        timeout: Duration,
        metrics: TraceMetrics,
    ) -> std::io::Result<Self> {
        let (spans, rx) = mpsc::channel(capacity.max(1));
        let (stop, stop_rx) = oneshot::channel();
        let (stopped_tx, stopped) = std_mpsc::channel();
        let worker = Worker { exporter, spans: rx, metrics: metrics.clone(), timeout, failures: 0, retry_at: None };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        std::thread::Builder::new().name("switchyard-trace-export".into()).spawn(move || {
            lower_priority();
            runtime.block_on(worker.run(stop_rx));
            let _ = stopped_tx.send(());
        })?;
        Ok(Self { spans, stop: Mutex::new(Some(stop)), stopped: Mutex::new(stopped), metrics })
    }
}

impl std::fmt::Debug for QueueProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueProcessor").field("capacity", &self.spans.max_capacity()).finish()
    }
}

impl SpanProcessor for QueueProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if self.spans.try_send(span).is_err() {
            self.metrics.dropped_queue_full.inc();
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    /// Exports what is queued (within `timeout`) and stops the thread.
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let stop = self.stop.lock().map_err(|_| OTelSdkError::InternalFailure("stop lock poisoned".into()))?.take();
        let Some(stop) = stop else { return Err(OTelSdkError::AlreadyShutdown) };
        let _ = stop.send(timeout);
        let stopped = self.stopped.lock().map_err(|_| OTelSdkError::InternalFailure("lock poisoned".into()))?;
        match stopped.recv_timeout(timeout + Duration::from_millis(100)) {
            Ok(()) | Err(std_mpsc::RecvTimeoutError::Disconnected) => Ok(()),
            Err(std_mpsc::RecvTimeoutError::Timeout) => Err(OTelSdkError::Timeout(timeout)),
        }
    }
}

// === impl Worker ===

impl<E: SpanExporter> Worker<E> {
    /// Batches and exports until stopped (or every sender is gone).
    async fn run(mut self, mut stop: oneshot::Receiver<Duration>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        // The last batch was full: more are waiting, so don't wait for this one to fill.
        let mut backlog = false;
        loop {
            if let Some(at) = self.retry_at {
                if let Some(grace) = Self::pause_until(&mut stop, at).await {
                    return self.drain(grace, &mut batch).await;
                }
            }
            tokio::select! {
                biased;
                grace = &mut stop => return self.drain(grace.unwrap_or_default(), &mut batch).await,
                n = self.spans.recv_many(&mut batch, MAX_BATCH) => if n == 0 { return },
            }
            if !backlog && batch.len() < MAX_BATCH {
                if let Some(grace) = Self::pause_until(&mut stop, Instant::now() + BATCH_DELAY).await {
                    return self.drain(grace, &mut batch).await;
                }
            }
            while batch.len() < MAX_BATCH {
                match self.spans.try_recv() {
                    Ok(span) => batch.push(span),
                    Err(_) => break,
                }
            }
            backlog = batch.len() == MAX_BATCH;
            self.export(&mut batch).await;
        }
    }

    /// Sleeps until `at` without taking spans (senders don't wake a receiver that isn't
    /// waiting in `recv`, so a filling batch costs no wake-up per span); `Some(grace)` when
    /// stopped meanwhile.
    async fn pause_until(stop: &mut oneshot::Receiver<Duration>, at: Instant) -> Option<Duration> {
        tokio::select! {
            biased;
            grace = stop => Some(grace.unwrap_or_default()),
            () = tokio::time::sleep_until(at) => None,
        }
    }

    /// At shutdown: exports what is queued within `grace`, backing off or not.
    async fn drain(mut self, grace: Duration, batch: &mut Vec<SpanData>) {
        let until = Instant::now() + grace;
        self.spans.close();
        while Instant::now() < until && (!batch.is_empty() || self.spans.recv_many(batch, MAX_BATCH).await > 0) {
            let _ = tokio::time::timeout_at(until, self.export(batch)).await;
        }
    }

    /// Posts `batch` (emptying it) and counts the outcome.
    async fn export(&mut self, batch: &mut Vec<SpanData>) {
        let n = batch.len() as u64;
        let spans = std::mem::replace(batch, Vec::with_capacity(MAX_BATCH));
        // The exporter bounds its own requests by `timeout`; this guards the whole call.
        let result = tokio::time::timeout(self.timeout + Duration::from_millis(500), self.exporter.export(spans)).await;
        match result {
            Ok(Ok(())) => {
                self.metrics.exported.inc_by(n);
                self.retry_at = None;
                if std::mem::take(&mut self.failures) > 0 {
                    tracing::info!("trace export recovered");
                }
            }
            Ok(Err(error)) => self.failed(n, &error.to_string()),
            Err(_) => self.failed(n, "timed out"),
        }
    }

    fn failed(&mut self, n: u64, error: &str) {
        self.metrics.dropped_export_failed.inc_by(n);
        self.retry_at = Some(Instant::now() + FAILURE_BACKOFF.delay(self.failures));
        if self.failures == 0 {
            tracing::warn!(
                error,
                spans = n,
                "trace export failing; spans are dropped (counted) until the collector answers"
            );
        }
        self.failures = self.failures.saturating_add(1);
    }
}

/// Gives the calling thread [`EXPORT_NICE`] (Linux: a thread id names one thread for
/// `setpriority`). Failure (a sandbox without the right) is logged and harmless.
fn lower_priority() {
    let tid = rustix::thread::gettid();
    if let Err(error) = rustix::process::setpriority_process(Some(tid), EXPORT_NICE) {
        tracing::debug!(%error, "trace export thread keeps the default priority");
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::SystemTime;

    use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status};
    use opentelemetry::InstrumentationScope;

    use super::*;

    /// An exporter whose collector is up or down, counting the calls it gets.
    #[derive(Debug, Clone, Default)]
    struct Collector {
        up: Arc<AtomicBool>,
        calls: Arc<AtomicU32>,
    }

    impl SpanExporter for Collector {
        async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.up.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err(OTelSdkError::InternalFailure("connection refused".into()))
            }
        }
    }

    fn span() -> SpanData {
        SpanData {
            span_context: SpanContext::empty_context(),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Server,
            name: Cow::Borrowed("POST"),
            start_time: SystemTime::UNIX_EPOCH,
            end_time: SystemTime::UNIX_EPOCH,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("test").build(),
        }
    }

    /// A worker exporting to `collector` behind a queue of `capacity`: (its queue, its stop,
    /// its task, its metrics).
    fn start(
        collector: &Collector,
        capacity: usize,
    ) -> (mpsc::Sender<SpanData>, oneshot::Sender<Duration>, tokio::task::JoinHandle<()>, TraceMetrics) {
        let metrics = TraceMetrics::new(&Registry::new()).expect("metrics");
        let (tx, rx) = mpsc::channel(capacity);
        let (stop, stop_rx) = oneshot::channel();
        let worker = Worker {
            exporter: collector.clone(),
            spans: rx,
            metrics: metrics.clone(),
            timeout: Duration::from_millis(300),
            failures: 0,
            retry_at: None,
        };
        (tx, stop, tokio::spawn(worker.run(stop_rx)), metrics)
    }

    /// One span every 10 ms for `d`, offered as [`QueueProcessor::on_end`] does: (ended,
    /// dropped because the queue was full).
    async fn feed(tx: &mpsc::Sender<SpanData>, d: Duration) -> (u64, u64) {
        let (mut ended, mut full) = (0, 0);
        let until = Instant::now() + d;
        while Instant::now() < until {
            ended += 1;
            full += u64::from(tx.try_send(span()).is_err());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        (ended, full)
    }

    #[tokio::test(start_paused = true)]
    async fn a_down_collector_is_probed_with_backoff_and_what_it_misses_is_counted() {
        let collector = Collector::default();
        let (tx, stop, run, metrics) = start(&collector, 64);

        // Down for 20 s: a batch every 200 ms would be 100 exports; the backoff (250 ms
        // doubling to 10 s) makes it a handful of probes, and the queue overflows meanwhile.
        let (mut ended, mut full) = feed(&tx, Duration::from_secs(20)).await;
        let probes = collector.calls.load(Ordering::SeqCst);
        assert!((4..=8).contains(&probes), "{probes} exports while down");
        assert!(full > 0, "the queue overflowed while the worker waited");

        // Back up: within the longest wait (10 s) a probe succeeds and export resumes.
        collector.up.store(true, Ordering::SeqCst);
        let (e, f) = feed(&tx, Duration::from_secs(12)).await;
        (ended, full) = (ended + e, full + f);
        assert!(metrics.exported.get() > 0, "the probe after the collector came back exported");
        let calls = collector.calls.load(Ordering::SeqCst);
        let (e, f) = feed(&tx, Duration::from_secs(2)).await;
        (ended, full) = (ended + e, full + f);
        assert!(collector.calls.load(Ordering::SeqCst) >= calls + 5, "no backoff once it answers");
        assert_eq!(f, 0, "nothing dropped once it answers");

        stop.send(Duration::from_secs(1)).expect("stop");
        run.await.expect("worker ends");
        let counted = metrics.exported.get() + metrics.dropped_export_failed.get() + full;
        assert_eq!(counted, ended, "every span exported or dropped with a count");
    }

    #[tokio::test(start_paused = true)]
    async fn a_backlog_is_exported_in_full_batches_without_waiting_for_them_to_fill() {
        let collector = Collector { up: Arc::new(AtomicBool::new(true)), ..Collector::default() };
        let (tx, stop, run, metrics) = start(&collector, 2048);
        // 5,000 spans/s (2,500 requests/s at 100 %): more than one batch per BATCH_DELAY.
        let mut full = 0;
        for _ in 0..2_000 {
            for _ in 0..5 {
                full += u64::from(tx.try_send(span()).is_err());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(full, 0, "the worker kept up");
        stop.send(Duration::from_secs(1)).expect("stop");
        run.await.expect("worker ends");
        assert_eq!(metrics.exported.get(), 10_000);
        let calls = collector.calls.load(Ordering::SeqCst);
        assert!(calls <= 30, "{calls} exports: batches of up to {MAX_BATCH}, not one per wake-up");
    }
}
