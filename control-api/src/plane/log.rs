//! The config-version log backed by the state store: the [`VersionLog`] the binary hands
//! to the data plane's `ConfigStore`. Appends are the store's compare-and-set; an edit's
//! audit entry is stored in the same transaction (`append_audited`); in shared mode the
//! store's version watch (PostgreSQL LISTEN/NOTIFY plus polling) tells the `ConfigStore`
//! when another replica stored a version.

use switchyard_config::{BoxFuture, ChangeNote, LogError, StoredVersion, VersionInfo, VersionLog};
use switchyard_state::{AuditEntry, ConfigVersions, StateError};
use tokio::sync::watch;

/// Config versions in the state store.
pub struct StateLog {
    versions: ConfigVersions,
    changes: Option<watch::Receiver<u64>>,
}

// === impl StateLog ===

impl StateLog {
    /// The log over `versions`; `changes` announces versions stored elsewhere.
    pub fn new(versions: ConfigVersions, changes: Option<watch::Receiver<u64>>) -> Self {
        Self { versions, changes }
    }
}

impl VersionLog for StateLog {
    fn latest(&self) -> BoxFuture<'_, Result<Option<StoredVersion>, LogError>> {
        Box::pin(async move {
            let v = self.versions.latest().await.map_err(log_error)?;
            Ok(v.map(|v| StoredVersion { version: v.version, text: v.yaml }))
        })
    }

    fn get(&self, version: u64) -> BoxFuture<'_, Result<Option<StoredVersion>, LogError>> {
        Box::pin(async move {
            let v = self.versions.get(version).await.map_err(log_error)?;
            Ok(v.map(|v| StoredVersion { version: v.version, text: v.yaml }))
        })
    }

    fn list(&self, limit: u32) -> BoxFuture<'_, Result<Vec<VersionInfo>, LogError>> {
        Box::pin(async move {
            let list = self.versions.list(limit, None).await.map_err(log_error)?;
            Ok(list
                .into_iter()
                .map(|v| VersionInfo {
                    version: v.version,
                    stored_ms: v.created_at_ms,
                    bytes: v.bytes,
                    actor: v.actor,
                    reason: v.reason,
                })
                .collect())
        })
    }

    fn append<'a>(
        &'a self,
        expected: u64,
        text: &'a str,
        note: &'a ChangeNote,
    ) -> BoxFuture<'a, Result<u64, LogError>> {
        Box::pin(async move {
            let stored = match &note.audit {
                Some(audit) => {
                    let entry: AuditEntry = serde_json::from_value(audit.clone())
                        .map_err(|e| LogError::Failed(format!("audit entry: {e}")))?;
                    self.versions.append_audited(expected, text, &note.actor, &note.reason, &entry).await
                }
                None => self.versions.append(expected, text, &note.actor, &note.reason).await,
            };
            Ok(stored.map_err(log_error)?.version)
        })
    }

    fn subscribe(&self) -> Option<watch::Receiver<u64>> {
        self.changes.clone()
    }
}

/// The log's view of a store error: stale, unavailable (retryable) or failed.
pub fn log_error(e: StateError) -> LogError {
    match e {
        StateError::Stale { current } => LogError::Stale { current },
        e if e.retryable() => LogError::Unavailable(e.to_string()),
        e => LogError::Failed(e.to_string()),
    }
}
