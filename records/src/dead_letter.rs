//! The dead-letter file: batches ClickHouse rejected as malformed, kept for an operator.
//!
//! One JSON object per line: `{"ts_ms", "table", "error", "entry"}` where `entry` is the
//! spooled entry (or `"payload"` with the raw bytes, lossily decoded, when the spool frame
//! itself did not decode). Every write is fsynced before the batch is acked, so a
//! dead-lettered record is never silently gone. The file is created 0600 (its directory
//! 0700): it holds records.
//!
//! Retention ([`DeadLetter::trim_older_than`], `retention.dead_letter_days`): lines whose
//! `ts_ms` is older are removed by writing the rest to a temporary file beside it, fsyncing
//! it and renaming it over the file — a crash leaves the old or the new file, never half
//! of one. A line that does not parse is kept (an operator should see it).

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use switchyard_core::unix_ms as now_ms;

use serde::Serialize;

use crate::entry::Entry;

/// Appends rejected records to a JSON-lines file.
#[derive(Debug)]
pub struct DeadLetter {
    path: PathBuf,
    file: Option<File>,
}

#[derive(Serialize)]
struct Line<'a> {
    ts_ms: i64,
    table: &'a str,
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    entry: Option<&'a Entry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<String>,
}

// === impl DeadLetter ===

impl DeadLetter {
    /// A dead-letter file at `path` (created on first use).
    pub fn new(path: &Path) -> Self {
        Self { path: path.to_path_buf(), file: None }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `entries` rejected by `table` with the server's `error`, then fsyncs.
    pub fn write_entries<'a>(
        &mut self,
        table: &str,
        error: &str,
        entries: impl IntoIterator<Item = &'a Entry>,
    ) -> io::Result<()> {
        let mut out = Vec::new();
        for entry in entries {
            let line = Line { ts_ms: now_ms(), table, error, entry: Some(entry), payload: None };
            serde_json::to_writer(&mut out, &line)?;
            out.push(b'\n');
        }
        self.append(&out)
    }

    /// Appends a spool payload that did not decode.
    pub fn write_payload(&mut self, error: &str, payload: &[u8]) -> io::Result<()> {
        let line = Line {
            ts_ms: now_ms(),
            table: "",
            error,
            entry: None,
            payload: Some(String::from_utf8_lossy(payload).into_owned()),
        };
        let mut out = serde_json::to_vec(&line)?;
        out.push(b'\n');
        self.append(&out)
    }

    /// Removes the lines older than `days` days before `now_ms`; returns how many.
    pub fn trim_older_than(&mut self, days: u32, now_ms: i64) -> io::Result<u64> {
        #[derive(serde::Deserialize)]
        struct Stamp {
            ts_ms: i64,
        }
        let text = match std::fs::read(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let cutoff = now_ms - i64::from(days) * 86_400_000;
        let mut kept = Vec::with_capacity(text.len());
        let mut removed = 0;
        for line in text.split_inclusive(|b| *b == b'\n') {
            let old = serde_json::from_slice::<Stamp>(line).is_ok_and(|s| s.ts_ms < cutoff);
            if old {
                removed += 1;
            } else {
                kept.extend_from_slice(line);
            }
        }
        if removed == 0 {
            return Ok(0);
        }
        let tmp = self.path.with_extension("jsonl.trim");
        let mut file = crate::private::options().create(true).write(true).truncate(true).open(&tmp)?;
        file.write_all(&kept)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        // Appends go to the new file from now on.
        self.file = None;
        Ok(removed)
    }

    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.file.is_none() {
            if let Some(parent) = self.path.parent() {
                crate::private::create_dir_all(parent)?;
            }
            let file = crate::private::options().create(true).append(true).open(&self.path)?;
            self.file = Some(file);
        }
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("dead-letter file not open"));
        };
        file.write_all(bytes)?;
        file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_keeps_recent_and_unparsable_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dead-letter.jsonl");
        let now = 100 * 86_400_000;
        let line = |ts: i64| format!("{{\"ts_ms\":{ts},\"table\":\"t\",\"error\":\"e\"}}\n");
        std::fs::write(
            &path,
            format!("{}{}not json\n{}", line(now - 10 * 86_400_000), line(now - 86_400_000), line(now)),
        )
        .expect("write");
        let mut dl = DeadLetter::new(&path);
        assert_eq!(dl.trim_older_than(5, now).expect("trim"), 1);
        let left = std::fs::read_to_string(&path).expect("read");
        assert_eq!(left, format!("{}not json\n{}", line(now - 86_400_000), line(now)));
        assert_eq!(dl.trim_older_than(5, now).expect("trim"), 0);
        dl.write_payload("e", b"x").expect("append after a trim");
        assert_eq!(std::fs::read_to_string(&path).expect("read").lines().count(), 4);
    }
}
