//! The spool's single appender: buffers frames, group-commits them, rotates segments.
//!
//! Invariants: frames reach the file only in [`SpoolWriter::sync`] or when the buffer
//! passes [`FLUSH_BYTES`], so dropping the writer without `sync` loses exactly the records
//! that were never acknowledged as durable; the durable position is published only after
//! `fdatasync` returned; after a failed write or fsync the segment is abandoned (best-effort
//! truncated to its durable length) and appends continue in a fresh segment, so bytes a
//! reader may have cached past the durable position are never rewritten.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{frame, ledger, segment_path, Position, Shared};

/// Buffered bytes that force a write (not an fsync) before the next sync.
const FLUSH_BYTES: usize = 1024 * 1024;

/// The outcome of [`SpoolWriter::append`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Append {
    /// Buffered; durable after the next successful [`SpoolWriter::sync`].
    Buffered,
    /// Refused: the spool holds `max_bytes` already.
    Full,
    /// Refused: the payload is larger than [`super::MAX_PAYLOAD`].
    TooLarge,
}

/// A failed sync and what it cost.
#[derive(Debug, thiserror::Error)]
#[error("spool sync failed, {lost} buffered records lost: {source}")]
pub struct SyncError {
    /// Records that were appended but never became durable.
    pub lost: u64,
    /// The I/O error.
    #[source]
    pub source: io::Error,
}

/// Appends frames to the newest segment.
#[derive(Debug)]
pub struct SpoolWriter {
    dir: PathBuf,
    segment: u64,
    file: Option<File>,
    /// Bytes written to the current segment file (durable or not).
    written: u64,
    /// Bytes of the current segment covered by the last fsync.
    synced: u64,
    buf: Vec<u8>,
    /// Records appended since the last successful sync.
    unsynced_records: u64,
    /// Records made durable since the last [`SpoolWriter::take_newly_durable`].
    newly_durable: u64,
    /// Where the last buffered frame starts.
    last_frame: Position,
    segment_bytes: u64,
    shared: Arc<Shared>,
}

// === impl SpoolWriter ===

impl SpoolWriter {
    pub(super) fn create(dir: &Path, segment: u64, segment_bytes: u64, shared: Arc<Shared>) -> io::Result<Self> {
        let mut w = Self {
            dir: dir.to_path_buf(),
            segment,
            file: None,
            written: 0,
            synced: 0,
            buf: Vec::with_capacity(64 * 1024),
            unsynced_records: 0,
            newly_durable: 0,
            last_frame: Position::default(),
            segment_bytes: segment_bytes.max(frame::HEADER_LEN * 2),
            shared,
        };
        w.open_segment(segment)?;
        Ok(w)
    }

    /// Shared state (bytes, durable position) of this spool.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Records appended but not yet covered by a sync.
    pub fn unsynced_records(&self) -> u64 {
        self.unsynced_records
    }

    /// Records that became durable (by `sync` or a rotation) since the last call.
    pub fn take_newly_durable(&mut self) -> u64 {
        std::mem::take(&mut self.newly_durable)
    }

    /// Where the frame of the last [`Append::Buffered`] record starts: the position the
    /// reader will be at when it reaches that record.
    pub fn last_frame(&self) -> Position {
        self.last_frame
    }

    /// Buffers one record. Durable (and visible to the reader) after the next `sync`.
    pub fn append(&mut self, payload: &[u8]) -> Result<Append, SyncError> {
        if payload.len() > super::MAX_PAYLOAD as usize {
            return Ok(Append::TooLarge);
        }
        let n = frame::frame_len(payload.len());
        if self.shared.bytes().saturating_add(n) > self.shared.max_bytes {
            self.shared.mark_full();
            return Ok(Append::Full);
        }
        let in_segment = self.written + self.buf.len() as u64;
        if in_segment > 0 && in_segment + n > self.segment_bytes {
            self.sync()?;
            self.rotate().map_err(|source| SyncError { lost: 0, source })?;
        }
        self.last_frame = Position { segment: self.segment, offset: self.written + self.buf.len() as u64 };
        frame::encode(payload, &mut self.buf);
        self.shared.add_bytes(n);
        self.unsynced_records += 1;
        if self.buf.len() >= FLUSH_BYTES {
            if let Err(source) = self.write_buf() {
                return Err(self.fail(source));
            }
        }
        Ok(Append::Buffered)
    }

    /// Writes buffered frames, `fdatasync`s the segment and publishes the durable
    /// position. Returns how many records became durable.
    pub fn sync(&mut self) -> Result<u64, SyncError> {
        if self.unsynced_records == 0 && self.buf.is_empty() && self.synced == self.written {
            return Ok(0);
        }
        let result = self.write_buf().and_then(|()| match &self.file {
            Some(f) => f.sync_data(),
            None => Err(io::Error::other("no open spool segment")),
        });
        if let Err(source) = result {
            return Err(self.fail(source));
        }
        self.synced = self.written;
        let n = self.unsynced_records;
        self.unsynced_records = 0;
        self.newly_durable += n;
        self.publish();
        Ok(n)
    }

    fn write_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("no open spool segment"));
        };
        file.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Abandons everything not yet durable and moves on to a fresh segment.
    fn fail(&mut self, source: io::Error) -> SyncError {
        let lost = self.unsynced_records;
        let undurable = (self.written - self.synced) + self.buf.len() as u64;
        tracing::error!(
            segment = self.segment,
            lost_records = lost,
            error = %source,
            "spool write failed; abandoning the segment tail"
        );
        if let Some(f) = &self.file {
            // Best effort: on restart the scan would find and cut a torn tail anyway.
            let _ = f.set_len(self.synced);
        }
        self.shared.sub_bytes(undurable);
        self.buf.clear();
        self.written = self.synced;
        self.unsynced_records = 0;
        if let Err(error) = self.rotate() {
            tracing::error!(%error, "cannot open a new spool segment; appends will fail");
            self.file = None;
        }
        SyncError { lost, source }
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.open_segment(self.segment + 1)
    }

    fn open_segment(&mut self, id: u64) -> io::Result<()> {
        let file = crate::private::options().create_new(true).append(true).open(segment_path(&self.dir, id))?;
        ledger::sync_dir(&self.dir)?;
        self.file = Some(file);
        self.segment = id;
        self.written = 0;
        self.synced = 0;
        self.publish();
        Ok(())
    }

    fn publish(&self) {
        self.shared.durable.send_replace(Position { segment: self.segment, offset: self.synced });
    }
}
