//! The audit trail: who changed what, when, with the config before and after.
//!
//! Every mutation appends one [`AuditEntry`] to `audit.jsonl` beside the config history
//! (written and fsynced before the API answers, so the trail survives without ClickHouse),
//! logs it, and — when ClickHouse is configured — inserts it into `control_audit` off the
//! request path (a failed insert is logged; the file stays the source of truth).

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// One audited change.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Unique id.
    pub audit_id: String,
    /// When, Unix ms.
    pub timestamp_ms: i64,
    /// The admin token's name, or `auto-promotion`.
    pub actor: String,
    /// What was done, e.g. `group.weights`, `group.promote`, `config.rollback`.
    pub action: String,
    /// What it was done to, e.g. `groups.support-bot`.
    pub target: String,
    /// The config version it produced.
    pub config_version: u64,
    /// The target before (JSON; secrets as references or `enc:` only).
    #[schema(value_type = Object)]
    pub before: serde_json::Value,
    /// The target after.
    #[schema(value_type = Object)]
    pub after: serde_json::Value,
    /// Why (auto-promotion states its evidence here).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// Appends and reads audit entries.
#[derive(Clone)]
pub struct AuditLog {
    path: Option<PathBuf>,
    clickhouse: Option<(clickhouse::Client, String)>,
    lock: Arc<Mutex<()>>,
}

#[derive(clickhouse::Row, Serialize)]
struct AuditRow {
    audit_id: String,
    ts: u32,
    timestamp_ms: i64,
    actor: String,
    action: String,
    target: String,
    before_json: String,
    after_json: String,
    config_version: u64,
}

// === impl AuditLog ===

impl AuditLog {
    /// An audit log in `dir` (none for an embedded config), mirrored into ClickHouse.
    pub fn new(dir: Option<PathBuf>, clickhouse: Option<(clickhouse::Client, String)>) -> Self {
        Self { path: dir.map(|d| d.join("audit.jsonl")), clickhouse, lock: Arc::default() }
    }

    /// Records `entry`: file (fsynced), log line, then ClickHouse in the background.
    pub fn record(&self, entry: AuditEntry) -> std::io::Result<()> {
        if let Some(path) = &self.path {
            // Serialises appends; a poisoned lock guards no data.
            let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut f = OpenOptions::new().create(true).append(true).open(path)?;
            let mut line = serde_json::to_vec(&entry).map_err(std::io::Error::other)?;
            line.push(b'\n');
            f.write_all(&line)?;
            f.sync_data()?;
        }
        tracing::info!(
            actor = %entry.actor,
            action = %entry.action,
            target = %entry.target,
            config_version = entry.config_version,
            reason = %entry.reason,
            "control change"
        );
        if let Some((client, _db)) = &self.clickhouse {
            let client = client.clone();
            let row = AuditRow {
                audit_id: entry.audit_id.clone(),
                ts: u32::try_from(entry.timestamp_ms / 1000).unwrap_or(0),
                timestamp_ms: entry.timestamp_ms,
                actor: entry.actor.clone(),
                action: entry.action.clone(),
                target: entry.target.clone(),
                before_json: entry.before.to_string(),
                after_json: entry.after.to_string(),
                config_version: entry.config_version,
            };
            tokio::spawn(async move {
                let result = async {
                    let mut insert = client.insert::<AuditRow>("control_audit").await?;
                    insert.write(&row).await?;
                    insert.end().await
                }
                .await;
                if let Err(error) = result {
                    tracing::warn!(%error, "audit entry not mirrored to ClickHouse (kept in audit.jsonl)");
                }
            });
        }
        Ok(())
    }

    /// The newest `limit` entries, newest first.
    pub fn recent(&self, limit: usize) -> std::io::Result<Vec<AuditEntry>> {
        let Some(path) = &self.path else { return Ok(Vec::new()) };
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut all: Vec<AuditEntry> =
            BufReader::new(file).lines().map_while(Result::ok).filter_map(|l| serde_json::from_str(&l).ok()).collect();
        all.reverse();
        all.truncate(limit);
        Ok(all)
    }
}
