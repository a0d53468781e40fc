//! One-time, idempotent import of the file era: the config history directory
//! (`.<config>.history/vNNNNNNNN.yaml`, see `config/src/history.rs`) and `audit.jsonl`
//! (one `AuditEntry` JSON object per line, see `control-api/src/audit.rs`).
//!
//! Invariants:
//! - importing twice stores nothing new the second time: versions keep their numbers and
//!   are matched by number and SHA-256, audit entries by `audit_id`;
//! - nothing is overwritten: a stored version whose text differs from the file's is
//!   reported as a conflict and left alone;
//! - nothing is lost silently: every line that does not parse is reported with its number;
//! - the files are only read, never changed or removed.

use std::io::BufRead;
use std::path::Path;
use std::time::UNIX_EPOCH;

use crate::audit::{validate, Audit, AuditEntry};
use crate::config_versions::{notify, sha256_hex, ConfigVersions};
use crate::db::{on_pool, to_i64, BeginWrite, Pool};
use crate::error::StateError;

/// A file-era version to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedVersion {
    /// Its number in the file era (kept).
    pub version: u64,
    /// The YAML text.
    pub yaml: String,
    /// When it was stored, Unix ms (the file's mtime).
    pub created_at_ms: i64,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Items stored by this import.
    pub imported: u64,
    /// Items that were already stored, identical.
    pub already_present: u64,
    /// Versions stored with a different text (left alone).
    pub conflicts: Vec<u64>,
    /// Lines that did not parse: (1-based line number, why).
    pub malformed: Vec<(u64, String)>,
}

/// Entries per transaction when importing `audit.jsonl`.
const AUDIT_BATCH: usize = 500;

/// Reads a file-era history directory; a missing directory is an empty history. Files
/// whose names are not `vNNNNNNNN.yaml` are ignored, as `config` ignores them.
pub fn read_history_dir(dir: &Path) -> Result<Vec<ImportedVersion>, StateError> {
    let io = |op, source| StateError::Io { op, path: dir.display().to_string(), source };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("read history", e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io("read history", e))?;
        let name = entry.file_name();
        let Some(version) = name
            .to_str()
            .and_then(|n| n.strip_prefix('v'))
            .and_then(|n| n.strip_suffix(".yaml"))
            .and_then(|n| n.parse::<u64>().ok())
            .filter(|v| *v > 0)
        else {
            continue;
        };
        let path = entry.path();
        let yaml = std::fs::read_to_string(&path).map_err(|source| StateError::Io {
            op: "read",
            path: path.display().to_string(),
            source,
        })?;
        let created_at_ms = entry
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        out.push(ImportedVersion { version, yaml, created_at_ms });
    }
    out.sort_by_key(|v| v.version);
    Ok(out)
}

// === impl ConfigVersions ===

impl ConfigVersions {
    /// Stores file-era versions under their own numbers (actor `file-import`, source
    /// `import`) in one transaction; see the module doc for what is skipped.
    pub async fn import(&self, versions: &[ImportedVersion], origin: &str) -> Result<ImportReport, StateError> {
        let rows = versions
            .iter()
            .map(|v| Ok((to_i64(v.version, "version")?, v, sha256_hex(&v.yaml))))
            .collect::<Result<Vec<_>, StateError>>()?;
        let reason = format!("imported from {origin}");
        let err = |e| StateError::from_sqlx("config_versions.import", e);
        let insert = "INSERT INTO config_versions (version, created_at_ms, actor, reason, yaml, sha256, source) \
                      VALUES ($1, $2, 'file-import', $3, $4, $5, 'import') ON CONFLICT (version) DO NOTHING";
        let mut report = ImportReport::default();
        let pool = self.pool().clone();
        on_pool!(&pool, |p| {
            let mut tx = p.begin_write().await.map_err(err)?;
            for (version, v, sha) in &rows {
                let done = sqlx::query(insert)
                    .bind(*version)
                    .bind(v.created_at_ms)
                    .bind(&reason)
                    .bind(&v.yaml)
                    .bind(sha)
                    .execute(&mut *tx)
                    .await
                    .map_err(err)?;
                if done.rows_affected() == 1 {
                    report.imported += 1;
                    continue;
                }
                let stored: String = sqlx::query_scalar("SELECT sha256 FROM config_versions WHERE version = $1")
                    .bind(*version)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(err)?;
                if stored == *sha {
                    report.already_present += 1;
                } else {
                    report.conflicts.push(v.version);
                }
            }
            tx.commit().await.map_err(err)?;
            Ok::<_, StateError>(())
        })?;
        if let (Pool::Postgres(p), true) = (&pool, report.imported > 0) {
            let newest = to_i64(self.latest_version().await?, "version")?;
            let mut conn = p.acquire().await.map_err(err)?;
            notify(&mut conn, newest).await.map_err(err)?;
        }
        tracing::info!(origin, imported = report.imported, already = report.already_present,
            conflicts = ?report.conflicts, "config history imported");
        Ok(report)
    }

    /// [`read_history_dir`] then [`ConfigVersions::import`].
    pub async fn import_history_dir(&self, dir: &Path) -> Result<ImportReport, StateError> {
        let versions = read_history_dir(dir)?;
        self.import(&versions, &dir.display().to_string()).await
    }
}

// === impl Audit ===

impl Audit {
    /// Imports an `audit.jsonl` stream (file-era entries have no `tenant`); see the module
    /// doc. Blank lines are skipped.
    pub async fn import_jsonl(&self, reader: impl BufRead) -> Result<ImportReport, StateError> {
        let mut report = ImportReport::default();
        let mut batch = Vec::with_capacity(AUDIT_BATCH);
        for (index, line) in reader.lines().enumerate() {
            let number = index as u64 + 1;
            let line = line.map_err(|source| StateError::Io { op: "read", path: "audit.jsonl".into(), source })?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<AuditEntry>(&line) {
                Ok(entry) => match validate(&entry) {
                    Ok(()) => batch.push(entry),
                    Err(e) => report.malformed.push((number, e.to_string())),
                },
                Err(e) => report.malformed.push((number, e.to_string())),
            }
            if batch.len() == AUDIT_BATCH {
                self.import_batch(&mut batch, &mut report).await?;
            }
        }
        self.import_batch(&mut batch, &mut report).await?;
        tracing::info!(
            imported = report.imported,
            already = report.already_present,
            malformed = report.malformed.len(),
            "audit log imported"
        );
        Ok(report)
    }

    /// Opens `path` and imports it; a missing file is an empty log.
    pub async fn import_jsonl_file(&self, path: &Path) -> Result<ImportReport, StateError> {
        match std::fs::File::open(path) {
            Ok(f) => self.import_jsonl(std::io::BufReader::new(f)).await,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ImportReport::default()),
            Err(source) => Err(StateError::Io { op: "open", path: path.display().to_string(), source }),
        }
    }

    async fn import_batch(&self, batch: &mut Vec<AuditEntry>, report: &mut ImportReport) -> Result<(), StateError> {
        if batch.is_empty() {
            return Ok(());
        }
        let inserted = self.append_batch(batch).await?;
        report.imported += inserted;
        report.already_present += batch.len() as u64 - inserted;
        batch.clear();
        Ok(())
    }
}
