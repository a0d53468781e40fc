//! Model test of the spool: random sequences of append / sync / read / ack / crash /
//! restart / corruption against an in-memory model.
//!
//! Property: a record acknowledged to the spool (covered by a `sync`) is delivered by the
//! reader, in order, until it is acked — across any number of crashes — and an acked
//! record is never delivered again. Records appended after the last sync may be lost by a
//! crash, but only as a suffix (never a hole). `spool_bytes` always equals what is on disk.
//! And the hand-off's contract: `SpoolWriter::last_frame` is exactly the position at which
//! `SpoolReader::next_frame` meets that record, so a record kept in memory is never read
//! from disk and never stands in for another.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use proptest::prelude::*;
use switchyard_records::spool::{self, Append, Frame, Position, SpoolConfig, SpoolReader, SpoolWriter};

#[derive(Debug, Clone)]
enum Op {
    Append(usize),
    Sync,
    Read(usize),
    Ack,
    /// Drop writer and reader without syncing; optionally leave a torn frame behind.
    Crash {
        torn: Vec<u8>,
    },
    /// Sync, then close and reopen.
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..120).prop_map(Op::Append),
        3 => Just(Op::Sync),
        3 => (1usize..8).prop_map(Op::Read),
        2 => Just(Op::Ack),
        1 => proptest::collection::vec(any::<u8>(), 0..12).prop_map(|torn| Op::Crash { torn }),
        1 => Just(Op::Restart),
    ]
}

struct Model {
    /// Every record that may still exist, in spool order; unique payloads.
    records: Vec<Vec<u8>>,
    /// `records[..acked]` are acknowledged (shipped).
    acked: usize,
    /// `records[..durable]` are acknowledged to the spool (synced).
    durable: usize,
    /// `records[..read]` were returned by the current reader.
    read: usize,
    next_id: u64,
}

fn open(config: &SpoolConfig) -> (SpoolWriter, SpoolReader) {
    let (w, r, _recovery) = spool::open(config, None).unwrap();
    (w, r)
}

fn disk_bytes(dir: &Path) -> u64 {
    spool::list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|id| fs::metadata(spool::segment_path(dir, id)).unwrap().len())
        .sum()
}

/// After a restart, the reader must deliver exactly `records[acked..durable]` followed by a
/// prefix of the undurable tail. Rebases the model onto what survived.
fn check_replay(m: &mut Model, reader: &mut SpoolReader) {
    let mut replayed = Vec::new();
    while let Some(p) = reader.next_record().unwrap() {
        replayed.push(p);
    }
    let must = &m.records[m.acked..m.durable];
    assert!(
        replayed.len() >= must.len(),
        "lost durable records: replayed {} < durable unacked {}",
        replayed.len(),
        must.len()
    );
    assert_eq!(&replayed[..must.len()], must, "durable records changed or reordered");
    let maybe = &m.records[m.durable..];
    let extra = &replayed[must.len()..];
    assert!(extra.len() <= maybe.len(), "replayed records never appended");
    assert_eq!(extra, &maybe[..extra.len()], "undurable tail replayed with a hole");
    m.records.truncate(m.acked);
    m.records.extend(replayed);
    m.durable = m.records.len();
    m.read = m.records.len();
}

fn run(ops: Vec<Op>, segment_bytes: u64, max_bytes: u64) {
    let dir = tempfile::tempdir().unwrap();
    let config = SpoolConfig { dir: dir.path().join("spool"), max_bytes, segment_bytes };
    let (mut writer, mut reader) = open(&config);
    let mut m = Model { records: Vec::new(), acked: 0, durable: 0, read: 0, next_id: 0 };
    // What the writer side handed over in memory, by frame position, as the pipeline's
    // hand-off does for every other record; a restart starts with nothing kept.
    let mut kept: HashMap<Position, (u32, Vec<u8>)> = HashMap::new();
    for op in ops {
        match op {
            Op::Append(len) => {
                let mut payload = m.next_id.to_le_bytes().to_vec();
                payload.resize(8 + len, (m.next_id % 251) as u8);
                m.next_id += 1;
                match writer.append(&payload).unwrap() {
                    Append::Buffered => {
                        if m.next_id.is_multiple_of(2) {
                            kept.insert(writer.last_frame(), (payload.len() as u32, payload.clone()));
                        }
                        m.records.push(payload);
                    }
                    Append::Full => {
                        assert!(writer.shared().bytes() + 16 + len as u64 > max_bytes);
                    }
                    Append::TooLarge => unreachable!("payloads are small"),
                }
                assert!(writer.shared().bytes() <= max_bytes);
                // Rotation syncs the finished segment: those records are durable now.
                m.durable = m.records.len() - writer.unsynced_records() as usize;
            }
            Op::Sync => {
                writer.sync().unwrap();
                m.durable = m.records.len();
                assert_eq!(writer.shared().bytes(), disk_bytes(&config.dir));
            }
            Op::Read(k) => {
                for _ in 0..k {
                    let frame = reader.next_frame(|at, len| {
                        kept.remove(&at).map(|(kept_len, p)| {
                            assert_eq!(kept_len, len, "the frame at a kept position is another record");
                            p
                        })
                    });
                    match frame.unwrap().map(|f| match f {
                        Frame::Payload(p) | Frame::Kept(p) => p,
                    }) {
                        Some(p) => {
                            assert!(m.read < m.durable, "reader passed the durable position");
                            assert_eq!(p, m.records[m.read]);
                            m.read += 1;
                        }
                        None => {
                            assert_eq!(m.read, m.durable, "reader stopped before durable end");
                            break;
                        }
                    }
                }
                let position = reader.position();
                assert!(
                    kept.keys().all(|at| *at >= position),
                    "a kept record was read from disk: its position was not its frame's"
                );
            }
            Op::Ack => {
                reader.ack(reader.position()).unwrap();
                m.acked = m.read;
            }
            Op::Crash { torn } => {
                kept.clear();
                drop(writer);
                drop(reader);
                if !torn.is_empty() {
                    if let Some(&last) = spool::list_segments(&config.dir).unwrap().last() {
                        let mut f =
                            OpenOptions::new().append(true).open(spool::segment_path(&config.dir, last)).unwrap();
                        f.write_all(&torn).unwrap();
                    }
                }
                (writer, reader) = open(&config);
                check_replay(&mut m, &mut reader);
            }
            Op::Restart => {
                kept.clear();
                writer.sync().unwrap();
                m.durable = m.records.len();
                drop(writer);
                drop(reader);
                (writer, reader) = open(&config);
                check_replay(&mut m, &mut reader);
            }
        }
    }
    // Final: everything durable and unacked is still there after one more restart.
    writer.sync().unwrap();
    m.durable = m.records.len();
    drop(writer);
    drop(reader);
    let (_writer, mut reader) = open(&config);
    check_replay(&mut m, &mut reader);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn acknowledged_records_are_never_lost_or_duplicated(
        ops in proptest::collection::vec(op(), 1..120),
        segment_bytes in prop_oneof![Just(64u64), Just(300), Just(4096), Just(1 << 20)],
    ) {
        run(ops, segment_bytes, u64::MAX);
    }

    #[test]
    fn bounded_spool_refuses_but_never_loses(
        ops in proptest::collection::vec(op(), 1..120),
        max_bytes in 200u64..2000,
    ) {
        run(ops, 256, max_bytes);
    }
}

#[test]
fn corrupt_middle_segment_skips_only_its_tail() {
    let dir = tempfile::tempdir().unwrap();
    let config = SpoolConfig { dir: dir.path().to_path_buf(), max_bytes: u64::MAX, segment_bytes: 100 };
    let (mut w, _r) = open(&config);
    for i in 0u8..20 {
        assert_eq!(w.append(&[i; 30]).unwrap(), Append::Buffered);
    }
    w.sync().unwrap();
    drop(w);
    // 38-byte frames, two per 100-byte segment: flip a payload byte of the second frame
    // of the third segment.
    let segments = spool::list_segments(&config.dir).unwrap();
    let victim = spool::segment_path(&config.dir, segments[2]);
    let mut bytes = fs::read(&victim).unwrap();
    bytes[38 + 10] ^= 0xff;
    fs::write(&victim, bytes).unwrap();

    let (_w, mut r, recovery) = spool::open(&config, None).unwrap();
    assert_eq!(recovery.corrupt_segments, 1);
    assert_eq!(recovery.corrupt_bytes, 38);
    assert_eq!(recovery.pending_records, 19);
    let mut seen = Vec::new();
    while let Some(p) = r.next_record().unwrap() {
        seen.push(p[0]);
    }
    let expected: Vec<u8> = (0u8..20).filter(|&i| i != 5).collect();
    assert_eq!(seen, expected);
}

#[test]
fn acked_segments_are_deleted_and_bytes_drop() {
    let dir = tempfile::tempdir().unwrap();
    let config = SpoolConfig { dir: dir.path().to_path_buf(), max_bytes: u64::MAX, segment_bytes: 1000 };
    let (mut w, mut r) = open(&config);
    for _ in 0..100 {
        w.append(&[1u8; 92]).unwrap();
    }
    w.sync().unwrap();
    assert_eq!(w.shared().bytes(), 100 * 100);
    assert_eq!(spool::list_segments(&config.dir).unwrap().len(), 10);
    let mut n = 0;
    while r.next_record().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 100);
    r.ack(r.position()).unwrap();
    // Only the segment holding the ack position (the last written one) remains.
    assert_eq!(spool::list_segments(&config.dir).unwrap().len(), 1);
    assert_eq!(w.shared().bytes(), disk_bytes(&config.dir));
    drop((w, r));
    let (_w, mut r, recovery) = spool::open(&config, None).unwrap();
    assert_eq!(recovery.pending_records, 0);
    assert!(r.next_record().unwrap().is_none());
}
