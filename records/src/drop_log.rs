//! Throttled logging of dropped records. Under overload every drop is counted in
//! `switchyard_records_total{outcome="dropped"}`, but the log gets at most one ERROR line
//! per interval, naming how many records were dropped since the previous line — a full
//! queue must not turn into a log flood on top of the overload.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One line per interval at most; shared by every clone of a queue.
#[derive(Debug)]
pub(crate) struct DropLog {
    start: Instant,
    interval_ms: u64,
    /// When the next line may be written, ms since `start`.
    next_ms: AtomicU64,
    /// Drops not yet reported in a line.
    unreported: AtomicU64,
}

impl DropLog {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            start: Instant::now(),
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            next_ms: AtomicU64::new(0),
            unreported: AtomicU64::new(0),
        }
    }

    /// Notes one drop; `Some(n)` when a line is due now, `n` being the drops since the
    /// last line (this one included).
    pub(crate) fn note(&self) -> Option<u64> {
        self.note_at(u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    fn note_at(&self, now_ms: u64) -> Option<u64> {
        self.unreported.fetch_add(1, Ordering::Relaxed);
        let due = self.next_ms.load(Ordering::Relaxed);
        if now_ms < due {
            return None;
        }
        // One caller wins the line; the others' drops go into the next one.
        self.next_ms
            .compare_exchange(due, now_ms.saturating_add(self.interval_ms), Ordering::Relaxed, Ordering::Relaxed)
            .ok()?;
        Some(self.unreported.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_drops_is_one_line_per_interval_that_counts_them_all() {
        let log = DropLog::new(Duration::from_secs(1));
        assert_eq!(log.note_at(0), Some(1), "the first drop is logged at once");
        let lines: Vec<u64> = (1..10_000u64).filter_map(|i| log.note_at(i / 10)).collect();
        assert!(lines.is_empty(), "9,999 more drops within the second log nothing more: {lines:?}");
        assert_eq!(log.note_at(1_000), Some(10_000), "the next line names every drop since the last");
        assert_eq!(log.note_at(1_500), None);
        assert_eq!(log.note_at(2_000), Some(2));
    }
}
