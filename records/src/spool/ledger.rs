//! The ack ledger: the durable position up to which every record has been shipped.
//!
//! A 20-byte file `acked` (`segment u64 LE | offset u64 LE | CRC32C u32 LE`) replaced
//! atomically (write `acked.tmp`, fsync, rename, fsync the directory). Invariant: the
//! position only moves forward; a missing ledger means nothing was acknowledged yet; an
//! unreadable one is reported and treated as missing (records are then re-shipped, which
//! the ReplacingMergeTree tables absorb — nothing is lost).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::Position;

const FILE: &str = "acked";
const TMP: &str = "acked.tmp";

/// Reads and writes the ack ledger in a spool directory.
#[derive(Debug)]
pub struct Ledger {
    dir: PathBuf,
}

// === impl Ledger ===

impl Ledger {
    /// The ledger of the spool in `dir`.
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf() }
    }

    /// The acknowledged position; `Ok(None)` when there is no ledger yet, `Err` with
    /// `InvalidData` when it is corrupt.
    pub fn load(&self) -> io::Result<Option<Position>> {
        let bytes = match fs::read(self.dir.join(FILE)) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let corrupt = || io::Error::new(io::ErrorKind::InvalidData, "corrupt ack ledger");
        let bytes: [u8; 20] = bytes.try_into().map_err(|_| corrupt())?;
        let (body, crc) = bytes.split_at(16);
        if crc32c::crc32c(body).to_le_bytes() != crc {
            return Err(corrupt());
        }
        let mut seg = [0u8; 8];
        let mut off = [0u8; 8];
        seg.copy_from_slice(&body[..8]);
        off.copy_from_slice(&body[8..]);
        Ok(Some(Position { segment: u64::from_le_bytes(seg), offset: u64::from_le_bytes(off) }))
    }

    /// Durably records `pos` as acknowledged.
    pub fn store(&self, pos: Position) -> io::Result<()> {
        let mut body = Vec::with_capacity(20);
        body.extend_from_slice(&pos.segment.to_le_bytes());
        body.extend_from_slice(&pos.offset.to_le_bytes());
        let crc = crc32c::crc32c(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        let tmp = self.dir.join(TMP);
        let mut f = crate::private::create(&tmp)?;
        f.write_all(&body)?;
        f.sync_data()?;
        drop(f);
        fs::rename(&tmp, self.dir.join(FILE))?;
        sync_dir(&self.dir)
    }
}

/// Makes directory entries (creates, renames, deletes) in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn store_load_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::new(dir.path());
        assert_eq!(ledger.load().unwrap(), None);
        let pos = Position { segment: 42, offset: 4096 };
        ledger.store(pos).unwrap();
        assert_eq!(ledger.load().unwrap(), Some(pos));
        let mut bytes = fs::read(dir.path().join(FILE)).unwrap();
        bytes[3] ^= 1;
        fs::write(dir.path().join(FILE), bytes).unwrap();
        assert_eq!(ledger.load().unwrap_err().kind(), io::ErrorKind::InvalidData);
    }
}
