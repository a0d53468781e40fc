//! The on-disk frame: `u32 length (LE) | u32 CRC32C of payload (LE) | payload`.
//!
//! Owns encoding and validation of single frames and the scan that finds the valid
//! prefix of a segment file. Invariants: a frame is valid only when its whole payload is
//! present, its length is at most [`MAX_PAYLOAD`] and its checksum matches; the first
//! invalid frame ends the valid prefix of a segment (nothing after it is trusted, since a
//! bad length makes every later boundary unknowable).

use std::io::{self, Read};

/// Bytes of the frame header (length + checksum).
pub const HEADER_LEN: u64 = 8;

/// Largest payload accepted; a larger length in a header is treated as corruption.
pub const MAX_PAYLOAD: u32 = 16 * 1024 * 1024;

/// What reading one frame found.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameRead {
    /// A complete, checksummed payload.
    Payload(Vec<u8>),
    /// Clean end of data exactly at a frame boundary.
    End,
    /// A torn or corrupt frame (short header or payload, oversized length, CRC mismatch).
    Corrupt(&'static str),
}

/// Appends one frame holding `payload` to `buf`.
///
/// Callers must keep `payload.len() <= MAX_PAYLOAD` (checked by the spool writer).
pub fn encode(payload: &[u8], buf: &mut Vec<u8>) {
    // Invariant: payload length was checked against MAX_PAYLOAD (< u32::MAX) by the caller.
    let len = payload.len() as u32;
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    buf.extend_from_slice(payload);
}

/// Total bytes a frame with a payload of `payload_len` bytes takes on disk.
pub fn frame_len(payload_len: usize) -> u64 {
    HEADER_LEN + payload_len as u64
}

/// What reading one frame's header found.
#[derive(Debug, PartialEq, Eq)]
pub enum HeaderRead {
    /// A header whose length is in range; the payload follows.
    Frame {
        /// Payload bytes.
        len: u32,
        /// CRC32C the payload must have.
        crc: u32,
    },
    /// Clean end of data exactly at a frame boundary.
    End,
    /// A torn header or a length out of range.
    Corrupt(&'static str),
}

/// Reads one frame's header from `r`; the payload is left unread.
pub fn read_header(r: &mut impl Read) -> io::Result<HeaderRead> {
    let mut header = [0u8; HEADER_LEN as usize];
    let got = read_full(r, &mut header)?;
    if got == 0 {
        return Ok(HeaderRead::End);
    }
    if got < header.len() {
        return Ok(HeaderRead::Corrupt("short header"));
    }
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len > MAX_PAYLOAD {
        return Ok(HeaderRead::Corrupt("length out of range"));
    }
    Ok(HeaderRead::Frame { len, crc })
}

/// Reads one frame from `r`.
pub fn read(r: &mut impl Read) -> io::Result<FrameRead> {
    match read_header(r)? {
        HeaderRead::Frame { len, crc } => read_payload(r, len, crc),
        HeaderRead::End => Ok(FrameRead::End),
        HeaderRead::Corrupt(why) => Ok(FrameRead::Corrupt(why)),
    }
}

/// Reads and checks the payload of a frame whose header [`read_header`] returned.
pub fn read_payload(r: &mut impl Read, len: u32, crc: u32) -> io::Result<FrameRead> {
    let mut payload = vec![0u8; len as usize];
    if read_full(r, &mut payload)? < payload.len() {
        return Ok(FrameRead::Corrupt("short payload"));
    }
    if crc32c::crc32c(&payload) != crc {
        return Ok(FrameRead::Corrupt("checksum mismatch"));
    }
    Ok(FrameRead::Payload(payload))
}

/// Result of scanning a whole segment.
#[derive(Debug, PartialEq, Eq)]
pub struct Scan {
    /// Length of the valid prefix, in bytes.
    pub valid_len: u64,
    /// Complete frames in the valid prefix.
    pub frames: u64,
    /// Why the scan stopped before the end, if it did.
    pub corrupt: Option<&'static str>,
}

/// Scans frames from the start of `r` and reports the valid prefix.
pub fn scan(r: &mut impl Read) -> io::Result<Scan> {
    let mut scan = Scan { valid_len: 0, frames: 0, corrupt: None };
    loop {
        match read(r)? {
            FrameRead::Payload(p) => {
                scan.valid_len += frame_len(p.len());
                scan.frames += 1;
            }
            FrameRead::End => return Ok(scan),
            FrameRead::Corrupt(why) => {
                scan.corrupt = Some(why);
                return Ok(scan);
            }
        }
    }
}

/// Reads until `buf` is full or EOF; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_scan() {
        let mut buf = Vec::new();
        encode(b"hello", &mut buf);
        encode(b"", &mut buf);
        encode(&[7u8; 1000], &mut buf);
        let mut r = &buf[..];
        assert_eq!(read(&mut r).unwrap(), FrameRead::Payload(b"hello".to_vec()));
        assert_eq!(read(&mut r).unwrap(), FrameRead::Payload(Vec::new()));
        assert_eq!(read(&mut r).unwrap(), FrameRead::Payload(vec![7u8; 1000]));
        assert_eq!(read(&mut r).unwrap(), FrameRead::End);
        let s = scan(&mut &buf[..]).unwrap();
        assert_eq!((s.valid_len, s.frames, s.corrupt), (buf.len() as u64, 3, None));
    }

    #[test]
    fn torn_and_flipped_frames_are_corrupt() {
        let mut buf = Vec::new();
        encode(b"first", &mut buf);
        let good = buf.len() as u64;
        encode(b"second", &mut buf);
        for cut in good as usize + 1..buf.len() {
            let s = scan(&mut &buf[..cut]).unwrap();
            assert_eq!(s.valid_len, good);
            assert!(s.corrupt.is_some());
        }
        let mut flipped = buf.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x40;
        let s = scan(&mut &flipped[..]).unwrap();
        assert_eq!((s.valid_len, s.corrupt), (good, Some("checksum mismatch")));
        let mut huge = buf[..good as usize].to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        huge.extend_from_slice(&[0; 4]);
        assert_eq!(scan(&mut &huge[..]).unwrap().corrupt, Some("length out of range"));
    }
}
