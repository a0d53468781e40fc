//! Where config versions are kept: the [`VersionLog`] seam between the [`crate::ConfigStore`]
//! and the control-plane store.
//!
//! Versions only grow. [`VersionLog::append`] is a compare-and-set: the new text becomes
//! version `expected + 1` only if `expected` is still the newest, so two writers — two
//! operators, or two replicas sharing one PostgreSQL — can never overwrite each other. An
//! edit's audit entry travels with it ([`ChangeNote::audit`]) and is stored in the same
//! transaction: a change is stored and audited, or neither.
//!
//! The binary wires a log backed by the state store (SQLite by default, PostgreSQL for
//! replicas); [`MemoryLog`] serves the embedded quick start without a store and tests.

use std::future::Future;
use std::pin::Pin;

use parking_lot::Mutex;
use tokio::sync::watch;

/// A boxed future, as trait objects need them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One stored version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    /// The version number (1, 2, …).
    pub version: u64,
    /// The YAML exactly as stored.
    pub text: String,
}

/// A stored version without its text, for listings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VersionInfo {
    /// Version number.
    pub version: u64,
    /// When it was stored, Unix ms.
    pub stored_ms: i64,
    /// Size of the YAML text, bytes.
    pub bytes: u64,
    /// Who stored it (an admin token's name, `auto-promotion`, `file`, `config-push`).
    pub actor: String,
    /// Why, when given.
    pub reason: String,
}

/// Who makes a change and why; `audit` is the audit entry (JSON) stored with it.
#[derive(Debug, Clone, Default)]
pub struct ChangeNote {
    /// An admin token's name, `auto-promotion`, `file` (a file reload), `config-push`.
    pub actor: String,
    /// Why; may be empty.
    pub reason: String,
    /// The audit entry (its `config_version` is set to the stored version).
    pub audit: Option<serde_json::Value>,
}

/// Why a log operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The compare-and-set lost: `current` is the newest version.
    #[error("config version {current} is current; the change was based on an older version")]
    Stale {
        /// The newest version.
        current: u64,
    },
    /// The store cannot be reached now; retrying later can succeed (HTTP 503).
    #[error("the state store is unavailable: {0}")]
    Unavailable(String),
    /// Anything else (corrupt data, a bug).
    #[error("the state store failed: {0}")]
    Failed(String),
}

/// Where config versions are kept.
pub trait VersionLog: Send + Sync + 'static {
    /// The newest version.
    fn latest(&self) -> BoxFuture<'_, Result<Option<StoredVersion>, LogError>>;
    /// One version.
    fn get(&self, version: u64) -> BoxFuture<'_, Result<Option<StoredVersion>, LogError>>;
    /// Up to `limit` versions, newest first.
    fn list(&self, limit: u32) -> BoxFuture<'_, Result<Vec<VersionInfo>, LogError>>;
    /// Stores `text` as version `expected + 1` (0: the log is empty) iff `expected` is the
    /// newest; returns the new version.
    fn append<'a>(&'a self, expected: u64, text: &'a str, note: &'a ChangeNote)
        -> BoxFuture<'a, Result<u64, LogError>>;
    /// Hints that a newer version may have been stored by someone else (replicas sharing
    /// a store); `None` when only this process writes.
    fn subscribe(&self) -> Option<watch::Receiver<u64>> {
        None
    }
}

/// A log in memory: versions last as long as the process.
#[derive(Debug, Default)]
pub struct MemoryLog {
    versions: Mutex<Vec<(VersionInfo, String)>>,
}

// === impl MemoryLog ===

impl VersionLog for MemoryLog {
    fn latest(&self) -> BoxFuture<'_, Result<Option<StoredVersion>, LogError>> {
        let latest = self.versions.lock().last().map(|(i, t)| StoredVersion { version: i.version, text: t.clone() });
        Box::pin(async move { Ok(latest) })
    }

    fn get(&self, version: u64) -> BoxFuture<'_, Result<Option<StoredVersion>, LogError>> {
        let found = self
            .versions
            .lock()
            .iter()
            .find(|(i, _)| i.version == version)
            .map(|(i, t)| StoredVersion { version: i.version, text: t.clone() });
        Box::pin(async move { Ok(found) })
    }

    fn list(&self, limit: u32) -> BoxFuture<'_, Result<Vec<VersionInfo>, LogError>> {
        let list = self.versions.lock().iter().rev().take(limit as usize).map(|(i, _)| i.clone()).collect();
        Box::pin(async move { Ok(list) })
    }

    fn append<'a>(
        &'a self,
        expected: u64,
        text: &'a str,
        note: &'a ChangeNote,
    ) -> BoxFuture<'a, Result<u64, LogError>> {
        let mut versions = self.versions.lock();
        let current = versions.last().map_or(0, |(i, _)| i.version);
        let result = if current == expected {
            let info = VersionInfo {
                version: current + 1,
                stored_ms: switchyard_core::unix_ms(),
                bytes: text.len() as u64,
                actor: note.actor.clone(),
                reason: note.reason.clone(),
            };
            versions.push((info, text.to_owned()));
            Ok(current + 1)
        } else {
            Err(LogError::Stale { current })
        };
        Box::pin(async move { result })
    }
}
