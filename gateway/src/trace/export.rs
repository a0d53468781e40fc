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
//! Invariant: spans are only ever dropped with a count; at shutdown what is queued gets
//! one last export within the grace given.

use std::sync::mpsc as std_mpsc;
use std::sync::Mutex;
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Spans in one export request at most.
pub const MAX_BATCH: usize = 512;
/// Longest a span waits for its batch to fill.
pub const BATCH_DELAY: Duration = Duration::from_millis(200);

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
    failing: bool,
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
        let worker = Worker { exporter, spans: rx, metrics: metrics.clone(), timeout, failing: false };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        std::thread::Builder::new().name("switchyard-trace-export".into()).spawn(move || {
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
        loop {
            tokio::select! {
                biased;
                grace = &mut stop => {
                    let until = Instant::now() + grace.unwrap_or_default();
                    self.spans.close();
                    while Instant::now() < until && self.spans.recv_many(&mut batch, MAX_BATCH).await > 0 {
                        let _ = tokio::time::timeout_at(until, self.export(&mut batch)).await;
                    }
                    return;
                }
                n = self.spans.recv_many(&mut batch, MAX_BATCH) => {
                    if n == 0 {
                        return;
                    }
                }
            }
            let deadline = Instant::now() + BATCH_DELAY;
            while batch.len() < MAX_BATCH {
                let room = MAX_BATCH - batch.len();
                match tokio::time::timeout_at(deadline, self.spans.recv_many(&mut batch, room)).await {
                    Ok(n) if n > 0 => {}
                    _ => break,
                }
            }
            self.export(&mut batch).await;
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
                if std::mem::take(&mut self.failing) {
                    tracing::info!("trace export recovered");
                }
            }
            Ok(Err(error)) => self.failed(n, &error.to_string()),
            Err(_) => self.failed(n, "timed out"),
        }
    }

    fn failed(&mut self, n: u64, error: &str) {
        self.metrics.dropped_export_failed.inc_by(n);
        if !std::mem::replace(&mut self.failing, true) {
            tracing::warn!(
                error,
                spans = n,
                "trace export failing; spans are dropped (counted) until the collector answers"
            );
        }
    }
}
