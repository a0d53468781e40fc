//! Where a running config comes from — a watched file or the embedded quick start — and
//! the directory its relative paths resolve against.

use std::path::PathBuf;

use crate::error::ConfigError;

/// Where the config comes from.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// A YAML file, watched for changes.
    File(PathBuf),
    /// YAML compiled into the binary; reloads re-apply it.
    Embedded(&'static str),
}

// === impl ConfigSource ===

impl ConfigSource {
    /// The directory a relative path in this config resolves against: the file's own,
    /// else (embedded) the working directory.
    pub fn base_dir(&self) -> PathBuf {
        match self {
            Self::File(path) => match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            },
            Self::Embedded(_) => PathBuf::from("."),
        }
    }

    /// Reads the YAML text.
    pub fn read(&self) -> Result<String, ConfigError> {
        match self {
            Self::File(path) => std::fs::read_to_string(path)
                .map_err(|e| ConfigError::one("", format!("cannot read {}: {e}", path.display()))),
            Self::Embedded(text) => Ok((*text).to_owned()),
        }
    }
}
