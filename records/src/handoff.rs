//! The hand-off: entries the writer thread spooled, kept in memory for the shipper, so a
//! shipper that keeps up ships them without reading, checksumming and decoding their
//! frames again (the decode was two thirds of the shipper's cost per record).
//!
//! The spool stays the one source of truth. The shipper still walks the spool's frames in
//! order, only up to the durable position, and acks positions exactly as before; an entry
//! kept here only stands in for the payload of the frame it was encoded into.
//!
//! Invariants:
//! - an entry is tagged with its frame's start position and payload length and is taken
//!   only for the frame at that position with that length. Positions are never reused in a
//!   run (segment ids only grow, and a failed write abandons its segment), so a match is
//!   the same frame;
//! - entries behind the reader (records a failed write lost, the rest of a segment skipped
//!   as corrupt) are discarded as the reader passes them;
//! - the writer thread never waits on the hand-off (a batch the shipper's lock would hold
//!   up is simply not kept);
//! - bounded: at most `max_bytes` of payload are held. While the shipper is further behind
//!   (ClickHouse down or slow), new entries are not kept, and their frames are read and
//!   decoded from the spool as before. After a restart nothing is kept: the spool replays.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, TryLockError};

use crate::entry::Entry;
use crate::spool::Position;

/// One spooled entry and where its frame is.
#[derive(Debug)]
pub(crate) struct Kept {
    /// The frame's start.
    pub(crate) at: Position,
    /// The frame's payload length.
    pub(crate) len: u32,
    /// What the frame holds.
    pub(crate) entry: Entry,
}

#[derive(Debug)]
struct Shared {
    queue: Mutex<VecDeque<Kept>>,
    /// Payload bytes of the entries in `queue` and in the taker's own queue.
    held: AtomicUsize,
    max_bytes: usize,
}

/// The writer thread's side.
#[derive(Debug)]
pub(crate) struct Keeper {
    shared: Arc<Shared>,
}

/// The shipper's side.
#[derive(Debug)]
pub(crate) struct Taker {
    shared: Arc<Shared>,
    /// Entries moved out of `shared.queue` in one lock.
    local: VecDeque<Kept>,
}

/// A hand-off holding at most `max_bytes` of payload.
pub(crate) fn handoff(max_bytes: usize) -> (Keeper, Taker) {
    let shared = Arc::new(Shared { queue: Mutex::default(), held: AtomicUsize::new(0), max_bytes });
    (Keeper { shared: shared.clone() }, Taker { shared, local: VecDeque::new() })
}

// === impl Keeper ===

impl Keeper {
    /// Keeps what fits of `batch` (in spool order, oldest first) and drains it; entries
    /// past the budget are dropped here, and their frames are decoded instead.
    ///
    /// Never waits: while the shipper holds the queue (a swap), the batch is not kept. The
    /// shipper runs at idle priority ([`crate::priority`]) and may be descheduled inside
    /// that swap on a busy core; the writer thread must not wait for it.
    pub(crate) fn keep(&self, batch: &mut Vec<Kept>) {
        if batch.is_empty() {
            return;
        }
        let mut queue = match self.shared.queue.try_lock() {
            Ok(queue) => queue,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                batch.clear();
                return;
            }
        };
        for kept in batch.drain(..) {
            let len = kept.len as usize;
            if self.shared.held.load(Ordering::Relaxed) + len > self.shared.max_bytes {
                continue;
            }
            self.shared.held.fetch_add(len, Ordering::Relaxed);
            queue.push_back(kept);
        }
    }
}

// === impl Taker ===

impl Taker {
    /// The entry of the frame at `at` with a payload of `len` bytes, if it was kept.
    /// Discards entries before `at`: the reader never goes back.
    pub(crate) fn take(&mut self, at: Position, len: u32) -> Option<Entry> {
        loop {
            if self.local.is_empty() {
                let mut queue = self.shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
                std::mem::swap(&mut self.local, &mut queue);
            }
            let front = self.local.front()?;
            if front.at > at {
                return None;
            }
            if front.at == at && front.len != len {
                // Not the frame it was kept for; the reader checks the frame on disk.
                return None;
            }
            let kept = self.local.pop_front()?;
            self.shared.held.fetch_sub(kept.len as usize, Ordering::Relaxed);
            if kept.at == at {
                return Some(kept.entry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FeedbackRecord;

    fn kept(segment: u64, offset: u64, len: u32, metric: &str) -> Kept {
        let entry = Entry::Feedback(FeedbackRecord { metric: metric.into(), ..FeedbackRecord::default() });
        Kept { at: Position { segment, offset }, len, entry }
    }

    fn metric(entry: Option<Entry>) -> Option<String> {
        match entry? {
            Entry::Feedback(f) => Some(f.metric),
            other => panic!("unexpected entry {other:?}"),
        }
    }

    #[test]
    fn takes_by_position_skips_what_the_reader_passed_and_stays_in_budget() {
        let (keeper, mut taker) = handoff(100);
        let mut batch = vec![kept(1, 0, 40, "a"), kept(1, 48, 40, "b"), kept(1, 96, 40, "c")];
        keeper.keep(&mut batch);
        assert!(batch.is_empty());
        // "c" did not fit: 40 + 40 + 40 > 100.
        assert_eq!(metric(taker.take(Position { segment: 1, offset: 0 }, 40)), Some("a".into()));
        // A length that does not match is not that frame: read from disk, entry left.
        assert_eq!(metric(taker.take(Position { segment: 1, offset: 48 }, 41)), None);
        // The reader moved on to the next segment: "b" is discarded on the way.
        assert_eq!(metric(taker.take(Position { segment: 2, offset: 0 }, 40)), None);
        assert_eq!(taker.shared.held.load(Ordering::Relaxed), 0, "discarded entries free their budget");
        let mut batch = vec![kept(2, 48, 40, "d"), kept(2, 96, 40, "e")];
        keeper.keep(&mut batch);
        // A frame that was not kept (budget, or kept before a restart) is simply absent.
        assert_eq!(metric(taker.take(Position { segment: 2, offset: 8 }, 40)), None);
        assert_eq!(metric(taker.take(Position { segment: 2, offset: 48 }, 40)), Some("d".into()));
        assert_eq!(metric(taker.take(Position { segment: 2, offset: 96 }, 40)), Some("e".into()));
        assert_eq!(metric(taker.take(Position { segment: 2, offset: 144 }, 40)), None);
    }

    #[test]
    fn the_writer_never_waits_for_the_shipper() {
        let (keeper, mut taker) = handoff(1000);
        let shared = taker.shared.clone();
        let held = shared.queue.lock().expect("unpoisoned");
        let mut batch = vec![kept(1, 0, 40, "a")];
        keeper.keep(&mut batch);
        assert!(batch.is_empty(), "a batch that would wait is dropped from the hand-off");
        drop(held);
        assert_eq!(metric(taker.take(Position { segment: 1, offset: 0 }, 40)), None, "decoded from disk instead");
        assert_eq!(shared.held.load(Ordering::Relaxed), 0);
        let mut batch = vec![kept(1, 48, 40, "b")];
        keeper.keep(&mut batch);
        assert_eq!(metric(taker.take(Position { segment: 1, offset: 48 }, 40)), Some("b".into()));
    }
}
