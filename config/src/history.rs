//! Config history: every version the gateway has run, kept next to the config file.
//!
//! For `switchyard.yaml` the history lives in `.switchyard.yaml.history/`, one file per
//! version (`v00000042.yaml`, the exact text that was applied). Versions are assigned by
//! the [`crate::ConfigStore`] and only grow: at start-up the store continues from the
//! newest version on disk (reusing it when the file is unchanged), so an `ETag` or a
//! record's `config_version` means the same config across restarts. Files are written
//! with temp file + fsync + rename, so a crash never leaves a torn entry.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// One stored version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VersionInfo {
    /// Version number.
    pub version: u64,
    /// When it was stored, Unix ms.
    pub stored_ms: i64,
    /// Size of the YAML text, bytes.
    pub bytes: u64,
}

/// The history directory of one config file.
#[derive(Debug, Clone)]
pub struct History {
    dir: PathBuf,
}

// === impl History ===

impl History {
    /// The history of `config_path` (the directory is created on first write).
    pub fn for_config(config_path: &Path) -> Self {
        let name = config_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let dir = config_path.parent().unwrap_or(Path::new(".")).join(format!(".{name}.history"));
        Self { dir }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, version: u64) -> PathBuf {
        self.dir.join(format!("v{version:08}.yaml"))
    }

    /// The newest stored version and its text.
    pub fn latest(&self) -> io::Result<Option<(u64, String)>> {
        let Some(info) = self.list()?.into_iter().next_back() else { return Ok(None) };
        Ok(Some((info.version, fs::read_to_string(self.path_of(info.version))?)))
    }

    /// Every stored version, oldest first.
    pub fn list(&self) -> io::Result<Vec<VersionInfo>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let Some(version) = name
                .to_str()
                .and_then(|n| n.strip_prefix('v'))
                .and_then(|n| n.strip_suffix(".yaml"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let meta = entry.metadata()?;
            let stored_ms = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            out.push(VersionInfo { version, stored_ms, bytes: meta.len() });
        }
        out.sort_by_key(|v| v.version);
        Ok(out)
    }

    /// The text of `version`, if stored.
    pub fn text(&self, version: u64) -> io::Result<Option<String>> {
        match fs::read_to_string(self.path_of(version)) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores `text` as `version`.
    pub fn store(&self, version: u64, text: &str) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        write_atomically(&self.path_of(version), text.as_bytes())
    }
}

/// Replaces `path` with `bytes` so that a crash at any point leaves either the old or the
/// new content: write a temp file in the same directory, fsync it, rename it over `path`,
/// fsync the directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}
