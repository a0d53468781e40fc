//! The durable spool: an append-only log of records between the data plane and ClickHouse.
//!
//! Layout of a spool directory:
//!
//! ```text
//! 00000000000000000001.seg   segment files, frames of `u32 len | u32 crc32c | payload`
//! 00000000000000000002.seg   (ids strictly increase; a new run always opens a new one)
//! acked                      the ack ledger: position up to which everything is shipped
//! ```
//!
//! One [`SpoolWriter`] (the queue's writer thread) appends frames into an in-memory buffer
//! and makes them durable with [`SpoolWriter::sync`] (write + `fdatasync`, group commit every
//! `fsync_interval_ms`); only then is the new end published as the *durable* position. One
//! [`SpoolReader`] (the shipper) reads frames up to the durable position and, once
//! ClickHouse has accepted them, [`SpoolReader::ack`]s a position: the ledger is replaced
//! atomically and every segment wholly before that position is deleted.
//!
//! Invariants:
//! - a record is *acknowledged to the spool* once a `sync` that covers it returned; from
//!   then on it is delivered by the reader (in this run or, after a crash, the next) until
//!   acked, and never again after the ack is stored;
//! - the reader never reads past the durable position, so it never sees a torn frame of
//!   the live segment;
//! - on [`open`], every segment is scanned; a corrupt or torn tail is counted, logged and
//!   truncated away (records before it survive, later segments are unaffected) — never a
//!   crash;
//! - `bytes` (the `switchyard_spool_bytes` gauge) is the sum of the segment sizes plus
//!   buffered frames, and `max_bytes` bounds it: an append that would exceed it is refused.

/// Public for the fuzz targets (`fuzz/fuzz_targets/spool_frame.rs`).
#[doc(hidden)]
pub mod frame;
mod ledger;
mod reader;
mod writer;

use std::fs::{self, File};
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::watch;

pub use frame::{HEADER_LEN, MAX_PAYLOAD};
pub use reader::{Frame, SpoolReader};
pub use writer::{Append, SpoolWriter};

use ledger::Ledger;

/// Spool sizing (the `records.spool` config minus the policy knobs).
#[derive(Debug, Clone)]
pub struct SpoolConfig {
    /// The spool directory (created if missing).
    pub dir: PathBuf,
    /// Upper bound of segment bytes on disk, including buffered frames.
    pub max_bytes: u64,
    /// A segment is rotated once it would grow past this many bytes.
    pub segment_bytes: u64,
}

/// A byte position in the spool: segment id and offset within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Position {
    /// Segment id (the file name).
    pub segment: u64,
    /// Byte offset inside the segment.
    pub offset: u64,
}

/// What [`open`] found on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Segment files kept (not yet fully acknowledged).
    pub segments: u64,
    /// Bytes in those segments after truncation.
    pub bytes: u64,
    /// Records at or after the acknowledged position, to be replayed.
    pub pending_records: u64,
    /// Segments whose tail was corrupt or torn.
    pub corrupt_segments: u64,
    /// Bytes cut off those tails.
    pub corrupt_bytes: u64,
    /// Whether the ack ledger was unreadable (everything kept is replayed).
    pub ledger_corrupt: bool,
}

/// State shared by the writer, the reader and admission checks.
#[derive(Debug)]
pub struct Shared {
    bytes: AtomicU64,
    max_bytes: u64,
    /// Set when an append was refused for space; cleared when acked segments are freed.
    full: AtomicBool,
    corrupt_frames: AtomicU64,
    durable: watch::Sender<Position>,
    acked: watch::Sender<Position>,
    gauges: Option<SpoolGauges>,
}

/// Metrics the spool keeps current (`switchyard_spool_bytes`, `switchyard_spool_corrupt_total`).
#[derive(Debug, Clone)]
pub struct SpoolGauges {
    /// Bytes held.
    pub bytes: prometheus::IntGauge,
    /// Corrupt tails and frames skipped.
    pub corrupt: prometheus::IntCounter,
}

/// Opens (or creates, mode 0700) the spool in `config.dir`: recovers segments, truncates corrupt
/// tails, deletes fully acknowledged segments and starts a fresh segment for appends.
pub fn open(config: &SpoolConfig, gauges: Option<SpoolGauges>) -> io::Result<(SpoolWriter, SpoolReader, Recovery)> {
    crate::private::create_dir_all(&config.dir)?;
    let dir = config.dir.as_path();
    let ledger = Ledger::new(dir);
    let mut recovery = Recovery::default();
    let acked = match ledger.load() {
        Ok(pos) => pos.unwrap_or_default(),
        Err(error) if error.kind() == io::ErrorKind::InvalidData => {
            tracing::error!(dir = %dir.display(), "spool ack ledger corrupt; replaying every kept segment");
            recovery.ledger_corrupt = true;
            Position::default()
        }
        Err(error) => return Err(error),
    };
    let mut last_segment = acked.segment;
    for id in list_segments(dir)? {
        let path = segment_path(dir, id);
        if id < acked.segment {
            fs::remove_file(&path)?;
            continue;
        }
        last_segment = last_segment.max(id);
        let file_len = fs::metadata(&path)?.len();
        let scan = frame::scan(&mut BufReader::new(File::open(&path)?))?;
        if scan.valid_len < file_len {
            let cut = file_len - scan.valid_len;
            tracing::error!(
                segment = id,
                valid_bytes = scan.valid_len,
                corrupt_bytes = cut,
                reason = scan.corrupt.unwrap_or("trailing bytes"),
                "spool segment has a corrupt tail; skipping it"
            );
            let f = fs::OpenOptions::new().write(true).open(&path)?;
            f.set_len(scan.valid_len)?;
            f.sync_all()?;
            recovery.corrupt_segments += 1;
            recovery.corrupt_bytes += cut;
        }
        recovery.segments += 1;
        recovery.bytes += scan.valid_len;
        recovery.pending_records +=
            if id == acked.segment { count_frames_from(&path, acked.offset)? } else { scan.frames };
    }
    ledger::sync_dir(dir)?;
    let shared = Arc::new(Shared {
        bytes: AtomicU64::new(recovery.bytes),
        max_bytes: config.max_bytes,
        full: AtomicBool::new(false),
        corrupt_frames: AtomicU64::new(0),
        durable: watch::Sender::new(Position::default()),
        acked: watch::Sender::new(acked),
        gauges,
    });
    shared.publish_bytes();
    shared.note_corrupt(recovery.corrupt_segments);
    let writer = SpoolWriter::create(dir, last_segment + 1, config.segment_bytes, shared.clone())?;
    let reader = SpoolReader::new(dir, acked, ledger, shared);
    Ok((writer, reader, recovery))
}

// === impl Shared ===

impl Shared {
    /// Bytes currently held by the spool (segments plus buffered frames).
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The configured bound on [`Shared::bytes`].
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Whether the spool has room left below `max_bytes` (and refused nothing since space
    /// was last freed).
    pub fn has_room(&self) -> bool {
        !self.full.load(Ordering::Relaxed) && self.bytes() < self.max_bytes
    }

    fn mark_full(&self) {
        self.full.store(true, Ordering::Relaxed);
    }

    /// Frames or tails found corrupt since open (including recovery).
    pub fn corrupt_frames(&self) -> u64 {
        self.corrupt_frames.load(Ordering::Relaxed)
    }

    /// The newest durable position.
    pub fn durable(&self) -> Position {
        *self.durable.borrow()
    }

    /// The newest acknowledged (shipped) position.
    pub fn acked(&self) -> Position {
        *self.acked.borrow()
    }

    /// A receiver that changes whenever the durable position moves.
    pub fn subscribe(&self) -> watch::Receiver<Position> {
        self.durable.subscribe()
    }

    fn add_bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
        self.publish_bytes();
    }

    fn sub_bytes(&self, n: u64) {
        // Saturating: a concurrent external truncation must not wrap the gauge.
        let _ = self.bytes.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| Some(b.saturating_sub(n)));
        self.full.store(false, Ordering::Relaxed);
        self.publish_bytes();
    }

    fn publish_bytes(&self) {
        if let Some(g) = &self.gauges {
            g.bytes.set(i64::try_from(self.bytes()).unwrap_or(i64::MAX));
        }
    }

    fn note_corrupt(&self, n: u64) {
        self.corrupt_frames.fetch_add(n, Ordering::Relaxed);
        if let Some(g) = &self.gauges {
            g.corrupt.inc_by(n);
        }
    }
}

/// The path of segment `id` in `dir`.
pub fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

/// Segment ids present in `dir`, ascending.
pub fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut ids = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(id) = name.strip_suffix(".seg").and_then(|s| s.parse().ok()) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

fn count_frames_from(path: &Path, offset: u64) -> io::Result<u64> {
    use std::io::{Seek, SeekFrom};
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    Ok(frame::scan(&mut BufReader::new(f))?.frames)
}
