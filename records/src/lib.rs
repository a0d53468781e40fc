//! Switchyard inference records: the record type, the durable spool, the ClickHouse
//! schema and migrations, the shipper and retention.
//!
//! ```text
//! data plane ──offer()──▶ RecordQueue ──writer thread──▶ spool (segments, fsync every
//!   (never waits)          (bounded, try_send)  │         fsync_interval_ms)
//!                                 hand-off: the │            │ durable frames, in order
//!                            entries in memory  ▼            ▼
//!                          ClickHouse ◀──RowBinary── shipper thread ──ack──▶ ledger,
//!                 inferences_<group>, explanations,  (batches, retries,      segments
//!                 feedback (ReplacingMergeTree)       dead-letter, janitor)  deleted
//! ```
//!
//! # API for the gateway
//!
//! ```ignore
//! let registry = prometheus::Registry::new();
//! // Start-up (also run by `switchyard migrate`, which just awaits it):
//! let report = switchyard_records::migrate(&clickhouse_opts).await?; // idempotent
//! let (queue, handle) = switchyard_records::start(RecordsOptions { .. }, &registry)?;
//! queue.provision_groups(&[GroupSpec { name: "support-bot".into(), retention_days: Some(30) }]);
//! // Per request (hot path, never blocks):
//! if !queue.accepting() { /* 503 + Retry-After (when_full: reject, spool full) */ }
//! queue.offer(record);                    // InferenceRecord
//! queue.offer_feedback(feedback);         // POST /v1/feedback
//! queue.offer_explanation(explanation);   // an explainer's answer, after the response
//! // Shutdown: drop every RecordQueue clone first, then
//! handle.close(Duration::from_secs(5));   // flush + fsync, ship what it can, stop
//! ```
//!
//! [`start`] registers the metrics (`switchyard_records_total{outcome}`,
//! `switchyard_spool_bytes`, `switchyard_records_ship_seconds`,
//! `switchyard_spool_corrupt_total`) in the registry given; do not also call
//! [`RecordQueueMetrics::new`] on it. Without `clickhouse` options records stay in the
//! spool (bounded by `max_bytes`) until a run with ClickHouse ships them.
//!
//! Delivery: a record offered and then covered by a spool fsync survives crashes and
//! outages and reaches ClickHouse at least once; the tables' ReplacingMergeTree keys and
//! `uniqExact(request_id)` / `FINAL` in queries make it count exactly once.

mod dead_letter;
mod drop_log;
mod entry;
mod error;
mod handoff;
mod inbox;
mod janitor;
mod metrics;
mod options;
mod priority;
mod private;
mod queue;
mod record;
pub mod rows;
pub mod schema;
mod shipper;
pub mod spool;
mod spool_sink;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use prometheus::Registry;
use tokio::sync::{mpsc, watch};

pub use dead_letter::DeadLetter;
pub use entry::Entry;
pub use error::{classify, clickhouse_exception_code, Failure, RecordsError};
pub use janitor::SharedRetention;
pub use janitor::{drop_expired_partitions, drop_expired_partitions_on};
pub use metrics::{Outcome, OUTCOMES};
pub use options::{
    BatchOptions, ClickHouseOptions, RecordsOptions, RetentionGate, RetryOptions, SpoolOptions, WhenFull,
};
pub use queue::{RecordQueue, RecordQueueHandle, RecordQueueMetrics};
pub use record::{
    Amount, AssignmentReason, Attributions, ErrorClass, ExplanationRecord, FeedbackRecord, InferenceRecord,
    LogprobSummary, Role,
};
pub use schema::{group_table, migrate, MigrationReport};
pub use spool::Recovery;
pub use switchyard_core::Blame;

/// A model group as the records pipeline needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    /// Group name (the `model` clients send).
    pub name: String,
    /// Drop daily partitions older than this; `None` keeps everything.
    pub retention_days: Option<u32>,
}

/// Owns the writer and shipper threads of a running pipeline.
pub struct RecordsHandle {
    queue: RecordQueueHandle,
    shipper: Option<JoinHandle<()>>,
    shutdown: watch::Sender<Option<Instant>>,
    spool: Arc<spool::Shared>,
    recovery: Recovery,
}

/// Opens the spool (replaying what a previous run left), starts the writer thread and —
/// with ClickHouse configured — the shipper thread.
pub fn start(opts: RecordsOptions, registry: &Registry) -> Result<(RecordQueue, RecordsHandle), RecordsError> {
    if let Some(ch) = &opts.clickhouse {
        schema::validate_database(&ch.database)?;
    }
    let metrics = RecordQueueMetrics::new(registry)?;
    let gauges = spool::SpoolGauges { bytes: metrics.spool_bytes.clone(), corrupt: metrics.spool_corrupt.clone() };
    let config = spool::SpoolConfig {
        dir: opts.spool.dir.clone(),
        max_bytes: opts.spool.max_bytes,
        segment_bytes: opts.spool.segment_bytes,
    };
    let (writer, reader, recovery) =
        spool::open(&config, Some(gauges)).map_err(|e| RecordsError::io("open spool", e))?;
    tracing::info!(
        dir = %config.dir.display(),
        pending_records = recovery.pending_records,
        bytes = recovery.bytes,
        corrupt_segments = recovery.corrupt_segments,
        "record spool opened"
    );
    let shared = writer.shared().clone();
    let admission = Arc::new(queue::Admission { spool: shared.clone(), when_full: opts.spool.when_full });
    let (shutdown, shutdown_rx) = watch::channel(None);
    let (provision_tx, provision_rx) = mpsc::unbounded_channel();
    let mut keeper = None;
    let shipper = match &opts.clickhouse {
        Some(ch) => {
            // At most one batch of payload waits in memory; the rest is decoded.
            let (keep, take) = handoff::handoff(opts.batch.max_bytes.max(1 << 20));
            keeper = Some(keep);
            let dead_letter_path =
                opts.dead_letter_path.clone().unwrap_or_else(|| opts.spool.dir.join("dead-letter.jsonl"));
            let shipper = shipper::Shipper {
                reader,
                handoff: take,
                client: schema::client(ch),
                opts: ch.clone(),
                batch: opts.batch.clone(),
                retry: opts.retry.clone(),
                metrics: metrics.clone(),
                dead_letter: DeadLetter::new(&dead_letter_path),
                provision_rx,
                shutdown: shutdown_rx,
                migrate_on_start: opts.migrate_on_start,
                janitor_interval: opts.janitor_interval,
                retention_gate: opts.retention_gate.clone(),
                shared_retention: opts.shared_retention,
                ready: Default::default(),
                retention: Default::default(),
                isolated: Default::default(),
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| RecordsError::io("shipper runtime", e))?;
            let thread = std::thread::Builder::new()
                .name("switchyard-shipper".into())
                .spawn(move || runtime.block_on(shipper.run()))
                .map_err(|e| RecordsError::io("spawn shipper", e))?;
            Some(thread)
        }
        None => None,
    };
    let sink = spool_sink::SpoolSink::new(writer, opts.spool.fsync_interval_ms, keeper);
    let (queue, queue_handle) = RecordQueue::start_sink(
        opts.spool.queue_capacity,
        sink,
        metrics,
        Some(admission),
        shipper.as_ref().map(|_| provision_tx),
    )
    .map_err(|e| RecordsError::io("spawn record writer", e))?;
    Ok((queue, RecordsHandle { queue: queue_handle, shipper, shutdown, spool: shared, recovery }))
}

// === impl RecordsHandle ===

impl RecordsHandle {
    /// What the spool held when it was opened.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Bytes the spool holds now.
    pub fn spool_bytes(&self) -> u64 {
        self.spool.bytes()
    }

    /// Whether every durable record has been acknowledged by ClickHouse.
    pub fn is_drained(&self) -> bool {
        self.spool.bytes() == 0 || self.spool.durable() == self.spool.acked()
    }

    /// Stops the pipeline: waits for the writer thread to flush and fsync the queue (drop
    /// every [`RecordQueue`] clone first), then lets the shipper ship what is spooled for
    /// up to `drain` before it stops. Records not shipped stay in the spool for next start.
    pub fn close(self, drain: Duration) {
        self.queue.close();
        self.shutdown.send_replace(Some(Instant::now() + drain));
        if let Some(thread) = self.shipper {
            if thread.join().is_err() {
                tracing::error!("record shipper thread panicked");
            }
        }
    }
}
