//! What the records pipeline creates on disk is private to the gateway's user (issue 11):
//! spool directories 0700, segment, ledger and dead-letter files 0600 — whatever the umask.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use switchyard_records::spool::{open, SpoolConfig};
use switchyard_records::DeadLetter;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir).expect("read_dir").map(|e| e.expect("entry").path()).collect()
}

#[test]
fn spool_and_dead_letter_files_are_private() {
    let root = tempfile::tempdir().expect("tempdir");
    // A permissive parent (as with a 022 umask) must not leak into what we create.
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let dir = root.path().join("data").join("spool");
    let config = SpoolConfig { dir: dir.clone(), max_bytes: 1 << 20, segment_bytes: 256 };
    let (mut writer, mut reader, _) = open(&config, None).expect("open");
    for i in 0..10u8 {
        writer.append(&[i; 100]).expect("append");
    }
    writer.sync().expect("sync");
    while reader.next_record().expect("read").is_some() {}
    reader.ack(reader.position()).expect("ack");

    assert_eq!(mode(&dir), 0o700, "spool dir");
    assert_eq!(mode(&root.path().join("data")), 0o700, "a parent the spool created");
    let created = files(&dir);
    assert!(created.len() >= 2, "segments and the ledger: {created:?}");
    for f in &created {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }

    let dead = root.path().join("dead").join("dead-letter.jsonl");
    let mut letters = DeadLetter::new(&dead);
    letters.write_payload("malformed", b"\x00\x01").expect("write");
    assert_eq!(mode(&dead), 0o600, "dead-letter file");
    assert_eq!(mode(dead.parent().expect("parent")), 0o700, "dead-letter dir");
}
