//! The queue's durable sink: encodes entries into the spool and group-commits them.
//!
//! Counts `spooled` only once a sync covering the records returned (acknowledged to the
//! spool), and `dropped` for records refused by `max_bytes`, too large, or lost to a
//! failed write. A full spool is logged at ERROR once per full period, not per record.

use std::time::Duration;

use crate::entry::Entry;
use crate::metrics::Outcome;
use crate::queue::{RecordQueueMetrics, Sink};
use crate::spool::{Append, SpoolWriter};

/// Writes queue batches into the spool.
pub(crate) struct SpoolSink {
    writer: SpoolWriter,
    interval: Duration,
    buf: Vec<u8>,
    full: bool,
}

// === impl SpoolSink ===

impl SpoolSink {
    pub(crate) fn new(writer: SpoolWriter, fsync_interval_ms: u64) -> Self {
        Self { writer, interval: Duration::from_millis(fsync_interval_ms), buf: Vec::with_capacity(4096), full: false }
    }
}

impl Sink for SpoolSink {
    fn write(&mut self, batch: &[Entry], metrics: &RecordQueueMetrics) {
        for entry in batch {
            self.buf.clear();
            if let Err(error) = entry.encode(&mut self.buf) {
                tracing::error!(%error, "cannot encode record; dropped");
                metrics.count(Outcome::Dropped, 1);
                continue;
            }
            match self.writer.append(&self.buf) {
                Ok(Append::Buffered) => {
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
