//! The queue's durable sink: encodes entries into the spool and group-commits them, and
//! hands each spooled entry to the shipper in memory ([`crate::handoff`]).
//!
//! Counts `spooled` only once a sync covering the records returned (acknowledged to the
//! spool), and `dropped` for records refused by `max_bytes`, too large, or lost to a
//! failed write. A full spool is logged at ERROR once per full period, not per record.

use std::time::Duration;

use crate::entry::Entry;
use crate::handoff::{Keeper, Kept};
use crate::metrics::Outcome;
use crate::queue::{RecordQueueMetrics, Sink};
use crate::spool::{Append, SpoolWriter};

/// Writes queue batches into the spool.
pub(crate) struct SpoolSink {
    writer: SpoolWriter,
    interval: Duration,
    buf: Vec<u8>,
    full: bool,
    /// The shipper's side of the hand-off; `None` without ClickHouse.
    handoff: Option<Keeper>,
    /// This batch's spooled entries, for the hand-off.
    kept: Vec<Kept>,
}

// === impl SpoolSink ===

impl SpoolSink {
    pub(crate) fn new(writer: SpoolWriter, fsync_interval_ms: u64, handoff: Option<Keeper>) -> Self {
        Self {
            writer,
            interval: Duration::from_millis(fsync_interval_ms),
            buf: Vec::with_capacity(4096),
            full: false,
            handoff,
            kept: Vec::new(),
        }
    }
}

impl Sink for SpoolSink {
    fn write(&mut self, batch: impl Iterator<Item = Entry>, metrics: &RecordQueueMetrics) {
        for entry in batch {
            self.buf.clear();
            if let Err(error) = entry.encode(&mut self.buf) {
                tracing::error!(%error, "cannot encode record; dropped");
                metrics.count(Outcome::Dropped, 1);
                continue;
            }
            match self.writer.append(&self.buf) {
                Ok(Append::Buffered) => {
                    if self.handoff.is_some() {
                        // Invariant: `append` refuses payloads over MAX_PAYLOAD (a u32).
                        let len = self.buf.len() as u32;
                        self.kept.push(Kept { at: self.writer.last_frame(), len, entry });
                    }
                    if self.full && self.writer.shared().has_room() {
                        self.full = false;
                        tracing::warn!("record spool has room again");
                    }
                }
                Ok(Append::Full) => {
                    metrics.count(Outcome::Dropped, 1);
                    if !self.full {
                        self.full = true;
                        tracing::error!(
                            spool_bytes = self.writer.shared().bytes(),
                            "record spool full (max_bytes); dropping new records"
                        );
                    }
                }
                Ok(Append::TooLarge) => {
                    metrics.count(Outcome::Dropped, 1);
                    tracing::error!(bytes = self.buf.len(), "record larger than a spool frame; dropped");
                }
                Err(error) => {
                    metrics.count(Outcome::Dropped, error.lost);
                    tracing::error!(%error, "record spool write failed");
                }
            }
        }
        if let Some(handoff) = &self.handoff {
            handoff.keep(&mut self.kept);
        }
        // Segment rotations sync the finished segment.
        metrics.count(Outcome::Spooled, self.writer.take_newly_durable());
    }

    fn flush_interval(&self) -> Option<Duration> {
        Some(self.interval)
    }

    fn flush(&mut self, metrics: &RecordQueueMetrics) {
        match self.writer.sync() {
            Ok(_) => metrics.count(Outcome::Spooled, self.writer.take_newly_durable()),
            Err(error) => {
                metrics.count(Outcome::Dropped, error.lost);
                tracing::error!(%error, "record spool fsync failed");
            }
        }
    }
}
