//! The record queue: the seam between the data plane and record storage.
//!
//! [`RecordQueue::offer`] / [`RecordQueue::offer_feedback`] are called on the request path
//! and never block: a push into a bounded [`crate::inbox`] that does not wake the writer per
//! record; a full queue is counted as `dropped` and logged at most once a second
//! ([`crate::drop_log`]).
//! One writer thread drains the inbox in batches into a sink — the durable spool (see
//! [`crate::start`]) — and flushes it (group commit) at most
//! `flush_interval` after the first unflushed record. Dropping every [`RecordQueue`] clone
//! and calling [`RecordQueueHandle::close`] drains and flushes what was queued.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use crate::metrics::RecordQueueMetrics;

use crate::metrics::Outcome;

use crate::drop_log::DropLog;
use crate::entry::Entry;
use crate::inbox::{self, Taken};
use crate::spool;
use crate::{ExplanationRecord, FeedbackRecord, GroupSpec, InferenceRecord, WhenFull};

/// At most one "queue full" line per this interval ([`DropLog`]).
const DROP_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Most records handed to a sink at once.
const MAX_BATCH: usize = 1024;

/// The writer thread's view of a sink. Implementations count their own outcomes.
pub(crate) trait Sink: Send + 'static {
    /// Takes a drained batch, oldest first.
    fn write(&mut self, batch: impl Iterator<Item = Entry>, metrics: &RecordQueueMetrics);
    /// Longest time written records may stay unflushed; `None` flushes after every batch.
    fn flush_interval(&self) -> Option<Duration>;
    /// Makes written records durable.
    fn flush(&mut self, metrics: &RecordQueueMetrics);
}

/// Admission state shared with the spool (for `when_full: reject`).
#[derive(Debug)]
pub(crate) struct Admission {
    pub(crate) spool: Arc<spool::Shared>,
    pub(crate) when_full: WhenFull,
}

/// The cheap, cloneable sending side used by the data plane.
#[derive(Clone)]
pub struct RecordQueue {
    tx: inbox::Sender<Entry>,
    metrics: RecordQueueMetrics,
    admission: Option<Arc<Admission>>,
    provision: Option<tokio::sync::mpsc::UnboundedSender<Vec<GroupSpec>>>,
    feedback_seq: Arc<AtomicU64>,
    drops: Arc<DropLog>,
}

/// Owns the writer thread; `close` waits for the queue to drain.
pub struct RecordQueueHandle {
    thread: Option<JoinHandle<()>>,
}

// === impl RecordQueue ===

impl RecordQueue {
    pub(crate) fn start_sink(
        capacity: usize,
        mut sink: impl Sink,
        metrics: RecordQueueMetrics,
        admission: Option<Arc<Admission>>,
        provision: Option<tokio::sync::mpsc::UnboundedSender<Vec<GroupSpec>>>,
    ) -> io::Result<(Self, RecordQueueHandle)> {
        let (tx, mut rx) = inbox::inbox::<Entry>(capacity);
        let thread_metrics = metrics.clone();
        let thread = std::thread::Builder::new().name("switchyard-records".into()).spawn(move || {
            rx.bind();
            writer_loop(&mut rx, &mut sink, &thread_metrics);
        })?;
        let drops = Arc::new(DropLog::new(DROP_LOG_INTERVAL));
        let queue = Self { tx, metrics, admission, provision, feedback_seq: Arc::new(AtomicU64::new(0)), drops };
        Ok((queue, RecordQueueHandle { thread: Some(thread) }))
    }

    /// Offers a record without waiting. Returns `false` (and counts `dropped`) when the
    /// queue is full or closed.
    pub fn offer(&self, record: InferenceRecord) -> bool {
        self.send(Entry::Inference(Box::new(record)))
    }

    /// Offers a feedback event without waiting (fills an empty `feedback_id`). Returns
    /// `false` (and counts `dropped`) when the queue is full or closed.
    pub fn offer_feedback(&self, mut feedback: FeedbackRecord) -> bool {
        if feedback.feedback_id.is_empty() {
            let seq = self.feedback_seq.fetch_add(1, Ordering::Relaxed);
            feedback.feedback_id = format!("{}-{:016x}-{seq}", feedback.timestamp_ms, rand::random::<u64>());
        }
        self.send(Entry::Feedback(feedback))
    }

    /// Offers an explainer's answer without waiting. Returns `false` (and counts
    /// `dropped`) when the queue is full or closed.
    pub fn offer_explanation(&self, explanation: ExplanationRecord) -> bool {
        self.send(Entry::Explanation(Box::new(explanation)))
    }

    /// Whether the data plane should accept requests that will produce records: `false`
    /// only with `when_full: reject` while the spool is at `max_bytes` (answer 503 with
    /// `Retry-After`). Two atomic loads; never blocks.
    pub fn accepting(&self) -> bool {
        match &self.admission {
            Some(a) => a.when_full != WhenFull::Reject || a.spool.has_room(),
            None => true,
        }
    }

    /// Asks the shipper to create the `inferences_<group>` tables of `groups` (and to use
    /// their `retention_days`) off the hot path. Never blocks; a no-op without ClickHouse.
    pub fn provision_groups(&self, groups: &[GroupSpec]) {
        if let Some(tx) = &self.provision {
            // The shipper gone means shutdown; nothing left to provision.
            let _ = tx.send(groups.to_vec());
        }
    }

    /// The metrics this queue counts into.
    pub fn metrics(&self) -> &RecordQueueMetrics {
        &self.metrics
    }

    fn send(&self, entry: Entry) -> bool {
        match self.tx.push(entry) {
            Ok(()) => {
                self.metrics.count(Outcome::Enqueued, 1);
                true
            }
            Err(inbox::Refused::Full) => {
                self.metrics.count(Outcome::Dropped, 1);
                if let Some(dropped) = self.drops.note() {
                    tracing::error!(dropped, "record queue full; records dropped since the last report");
                }
                false
            }
        }
    }
}

fn writer_loop(rx: &mut inbox::Receiver<Entry>, sink: &mut impl Sink, metrics: &RecordQueueMetrics) {
    let mut flush_due: Option<Instant> = None;
    loop {
        match rx.take(flush_due) {
            Taken::Items(items) => {
                if !items.is_empty() {
                    let mut drain = items.drain(..);
                    while drain.len() > 0 {
                        sink.write(drain.by_ref().take(MAX_BATCH), metrics);
                    }
                    if flush_due.is_none() {
                        flush_due = Some(Instant::now() + sink.flush_interval().unwrap_or_default());
                    }
                }
            }
            Taken::Closed => {
                sink.flush(metrics);
                return;
            }
        }
        if flush_due.is_some_and(|due| Instant::now() >= due) {
            sink.flush(metrics);
            flush_due = None;
        }
    }
}

// === impl RecordQueueHandle ===

impl RecordQueueHandle {
    /// Waits until every sender is dropped and the writer has drained the queue.
    pub fn close(mut self) {
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("record writer thread panicked");
            }
        }
    }
}
