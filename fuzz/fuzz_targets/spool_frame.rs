//! Spool frames on any bytes, in memory and on disk.
//!
//! In memory: `frame::scan` and `frame::read` never panic, agree with each other, report
//! a valid prefix no longer than the input made of whole frames of at most `MAX_PAYLOAD`
//! bytes (re-encoding them gives the prefix back), and a scan that stops early names why.
//! A payload that decodes as an `Entry` re-encodes to an equal `Entry`.
//!
//! On disk (a fresh spool directory per input): `spool::open` on a segment holding the
//! input (and an ack ledger from the header) recovers without error, truncates the
//! segment to the valid prefix, and the reader then returns exactly the frames counted
//! as pending (all of the valid prefix's frames when there is no ledger).
//!
//! Input: `[flags][ledger offset: u16 LE][segment bytes]`.
#![no_main]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;
use switchyard_records::spool::frame::{self, FrameRead};
use switchyard_records::spool::{self, SpoolConfig, MAX_PAYLOAD};
use switchyard_records::Entry;

fuzz_target!(|data: &[u8]| {
    let payloads = in_memory(data);
    for p in &payloads {
        if let Ok(entry) = Entry::decode(p) {
            let mut buf = Vec::new();
            entry.encode(&mut buf).expect("a decoded entry encodes");
            assert_eq!(Entry::decode(&buf).expect("an encoded entry decodes"), entry);
        }
    }
    if data.len() >= 3 {
        on_disk(data[0], u16::from_le_bytes([data[1], data[2]]), &data[3..]);
    }
});

/// The payloads of the valid prefix.
fn in_memory(data: &[u8]) -> Vec<Vec<u8>> {
    let scan = frame::scan(&mut &data[..]).expect("reading memory cannot fail");
    assert!(scan.valid_len <= data.len() as u64);
    assert_eq!(scan.corrupt.is_some(), scan.valid_len < data.len() as u64);
    let mut r = &data[..];
    let mut payloads = Vec::new();
    let mut reencoded = Vec::new();
    loop {
        match frame::read(&mut r).expect("reading memory cannot fail") {
            FrameRead::Payload(p) => {
                assert!(p.len() <= MAX_PAYLOAD as usize);
                frame::encode(&p, &mut reencoded);
                payloads.push(p);
            }
            FrameRead::End => break,
            FrameRead::Corrupt(why) => {
                assert_eq!(scan.corrupt, Some(why));
                break;
            }
        }
    }
    assert_eq!(payloads.len() as u64, scan.frames);
    assert_eq!(reencoded, data[..scan.valid_len as usize]);
    payloads
}

/// Flags: bit 0 — write a valid ledger at segment 1, `offset`; bit 1 — write the two
/// offset bytes alone as a (corrupt) ledger; bit 2 — put the segment at id 2 after an
/// empty segment 1.
fn on_disk(flags: u8, offset: u16, segment: &[u8]) {
    let dir = scratch_dir();
    let seg_id = if flags & 4 != 0 { 2 } else { 1 };
    if seg_id == 2 {
        std::fs::write(spool::segment_path(&dir, 1), b"").expect("write segment");
    }
    std::fs::write(spool::segment_path(&dir, seg_id), segment).expect("write segment");
    if flags & 1 != 0 {
        let mut ledger = Vec::new();
        ledger.extend_from_slice(&1u64.to_le_bytes());
        ledger.extend_from_slice(&u64::from(offset).to_le_bytes());
        let crc = crc32c(&ledger);
        ledger.extend_from_slice(&crc.to_le_bytes());
        std::fs::write(dir.join("acked"), ledger).expect("write ledger");
    } else if flags & 2 != 0 {
        std::fs::write(dir.join("acked"), offset.to_le_bytes()).expect("write ledger");
    }
    let config = SpoolConfig { dir: dir.clone(), max_bytes: 1 << 30, segment_bytes: 1 << 20 };
    let (writer, mut reader, recovery) = spool::open(&config, None).expect("open recovers any segment");
    let scan = frame::scan(&mut &segment[..]).expect("memory");
    let len = std::fs::metadata(spool::segment_path(&dir, seg_id)).expect("segment kept").len();
    assert_eq!(len, scan.valid_len, "the segment is truncated to its valid prefix");
    assert_eq!(recovery.ledger_corrupt, flags & 3 == 2);
    let mut read = 0u64;
    while let Some(p) = reader.next_record().expect("the reader reads what open kept") {
        assert!(p.len() <= MAX_PAYLOAD as usize);
        read += 1;
        assert!(read <= scan.frames);
    }
    if flags & 1 == 0 {
        assert_eq!(read, scan.frames);
    }
    assert_eq!(read, recovery.pending_records, "the reader returns what recovery counted");
    drop((writer, reader));
    std::fs::remove_dir_all(&dir).expect("remove scratch dir");
}

fn scratch_dir() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let base = if std::path::Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let dir = base.join(format!("switchyard-fuzz-spool-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// CRC32C (Castagnoli), bitwise: the ledger's checksum, without another dependency.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}
