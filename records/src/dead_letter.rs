//! The dead-letter file: batches ClickHouse rejected as malformed, kept for an operator.
//!
//! One JSON object per line: `{"ts_ms", "table", "error", "entry"}` where `entry` is the
//! spooled entry (or `"payload"` with the raw bytes, lossily decoded, when the spool frame
//! itself did not decode). Every write is fsynced before the batch is acked, so a
//! dead-lettered record is never silently gone. The file is created 0600 (its directory
//! 0700): it holds records.

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
