//! The spool's single consumer: reads durable frames in order, acks shipped prefixes.
//!
//! Invariants: the cursor never passes the durable position; [`SpoolReader::ack`] stores
//! the ledger before deleting anything, and deletes only segments wholly before the acked
//! position; a corrupt frame inside a finished segment skips the rest of that segment
//! (counted and logged), never the following ones.

use std::convert::Infallible;
use std::fs::{self, File};
use std::io::{self, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;

use super::frame::{self, FrameRead, HeaderRead};
use super::ledger::Ledger;
use super::{list_segments, segment_path, Position, Shared};

/// A frame [`SpoolReader::next_frame`] returned.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<T> {
    /// The frame's payload, read and checksummed.
    Payload(Vec<u8>),
    /// What the caller already held for this frame; its payload was skipped.
    Kept(T),
}

/// Reads records from the spool and acknowledges shipped ones.
#[derive(Debug)]
pub struct SpoolReader {
    dir: PathBuf,
    shared: Arc<Shared>,
    ledger: Ledger,
    cursor: Position,
    acked: Position,
    file: Option<BufReader<File>>,
    durable_rx: watch::Receiver<Position>,
}

// === impl SpoolReader ===

impl SpoolReader {
    pub(super) fn new(dir: &Path, acked: Position, ledger: Ledger, shared: Arc<Shared>) -> Self {
        let durable_rx = shared.subscribe();
        Self { dir: dir.to_path_buf(), shared, ledger, cursor: acked, acked, file: None, durable_rx }
    }

    /// Shared state (bytes, durable position) of this spool.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The position just after the last record returned by [`Self::next_record`].
    pub fn position(&self) -> Position {
        self.cursor
    }

    /// The last acknowledged position.
    pub fn acked(&self) -> Position {
        self.acked
    }

    /// Whether a durable record is waiting to be read.
    pub fn has_more(&self) -> bool {
        self.cursor < self.shared.durable()
    }

    /// Waits until the durable position moves (or the writer is gone: returns `false`).
    pub async fn changed(&mut self) -> bool {
        self.durable_rx.changed().await.is_ok()
    }

    /// The next durable record, or `None` when everything durable has been read.
    pub fn next_record(&mut self) -> io::Result<Option<Vec<u8>>> {
        Ok(self.next_frame(|_, _| None::<Infallible>)?.map(|frame| match frame {
            Frame::Payload(payload) => payload,
            Frame::Kept(never) => match never {},
        }))
    }

    /// The next durable frame, or `None` when everything durable has been read. For each
    /// frame, `kept(position, payload_len)` is asked first: when it returns what the frame
    /// holds (the hand-off's entry), the payload is skipped instead of read and checked.
    pub fn next_frame<T>(&mut self, mut kept: impl FnMut(Position, u32) -> Option<T>) -> io::Result<Option<Frame<T>>> {
        loop {
            let durable = self.shared.durable();
            if self.cursor >= durable {
                return Ok(None);
            }
            if self.file.is_none() && !self.open_cursor_segment(durable)? {
                return Ok(None);
            }
            let Some(file) = self.file.as_mut() else {
                return Ok(None);
            };
            let read = match frame::read_header(file)? {
                HeaderRead::Frame { len, crc } => match kept(self.cursor, len) {
                    Some(t) => {
                        file.seek_relative(i64::from(len))?;
                        self.cursor.offset += frame::frame_len(len as usize);
                        return Ok(Some(Frame::Kept(t)));
                    }
                    None => frame::read_payload(file, len, crc)?,
                },
                HeaderRead::End => FrameRead::End,
                HeaderRead::Corrupt(why) => FrameRead::Corrupt(why),
            };
            match read {
                FrameRead::Payload(payload) => {
                    self.cursor.offset += frame::frame_len(payload.len());
                    return Ok(Some(Frame::Payload(payload)));
                }
                FrameRead::End => {
                    if self.cursor.segment == durable.segment {
                        return Ok(None);
                    }
                    self.skip_segment();
                }
                FrameRead::Corrupt(reason) => {
                    self.shared.note_corrupt(1);
                    tracing::error!(
                        segment = self.cursor.segment,
                        offset = self.cursor.offset,
                        reason,
                        "corrupt spool frame; skipping the rest of the segment"
                    );
                    self.skip_segment();
                }
            }
        }
    }

    /// Durably acknowledges everything before `pos` and deletes segments wholly before it.
    pub fn ack(&mut self, pos: Position) -> io::Result<()> {
        if pos <= self.acked {
            return Ok(());
        }
        self.ledger.store(pos)?;
        self.acked = pos;
        self.shared.acked.send_replace(pos);
        for id in list_segments(&self.dir)? {
            if id >= pos.segment {
                break;
            }
            let path = segment_path(&self.dir, id);
            let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            match fs::remove_file(&path) {
                Ok(()) => self.shared.sub_bytes(len),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Opens the cursor's segment (or the next existing one); `false` if none is readable.
    fn open_cursor_segment(&mut self, durable: Position) -> io::Result<bool> {
        loop {
            match File::open(segment_path(&self.dir, self.cursor.segment)) {
                Ok(mut f) => {
                    f.seek(SeekFrom::Start(self.cursor.offset))?;
                    self.file = Some(BufReader::with_capacity(256 * 1024, f));
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let next = list_segments(&self.dir)?.into_iter().find(|&id| id > self.cursor.segment);
                    match next {
                        Some(id) if id <= durable.segment => {
                            self.cursor = Position { segment: id, offset: 0 };
                        }
                        _ => return Ok(false),
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn skip_segment(&mut self) {
        self.file = None;
        self.cursor = Position { segment: self.cursor.segment + 1, offset: 0 };
    }
}
