//! Numbered versions of the routing config YAML.
//!
//! Invariants:
//! - versions are 1, 2, 3, … with no gaps and no duplicates, whichever replica appends
//!   (imported file-era history keeps its own numbers, gaps included);
//! - [`ConfigVersions::append`] is a compare-and-set on the newest version: one statement
//!   inserts `expected + 1` only while the newest version is `expected`, and the primary key
//!   makes two racing appends of the same number impossible, on one SQLite file and across
//!   PostgreSQL replicas alike. The loser gets [`StateError::Stale`] with the version that
//!   won;
//! - [`ConfigVersions::append_audited`] stores the version and its audit entry in one
//!   transaction, so a change is never stored without its entry or audited twice;
//! - on PostgreSQL the append sends `NOTIFY switchyard_config_versions, '<version>'` in the
//!   same transaction, so a notification is never seen for a version that did not commit
//!   (see `watch.rs` for the receiving side);
//! - `created_at_ms` is the database server's clock; stored text is never changed.

use sha2::{Digest, Sha256};

use crate::audit::{bind_entry, AuditEntry, Encoded, INSERT as INSERT_AUDIT};
use crate::db::{on_pool, to_i64, to_u64, BeginWrite, Pool};
use crate::error::StateError;

/// The PostgreSQL notification channel for new versions; the payload is the version.
pub const NOTIFY_CHANNEL: &str = "switchyard_config_versions";

/// One stored version with its text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigVersion {
    /// The version number (1, 2, …).
    pub version: u64,
    /// When it was stored, Unix ms (database server clock; file mtime for imports).
    pub created_at_ms: i64,
    /// Who stored it: an admin token's name, `auto-promotion`, `config-push`, `file-import`.
    pub actor: String,
    /// Why (a commit message, a rollback's reason); may be empty.
    pub reason: String,
    /// The YAML exactly as stored.
    pub yaml: String,
    /// Lowercase hex SHA-256 of `yaml`.
    pub sha256: String,
    /// `store` (appended) or `import` (file-era history).
    pub source: String,
}

/// A version without its text, for listings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VersionSummary {
    /// The version number.
    pub version: u64,
    /// When it was stored, Unix ms.
    pub created_at_ms: i64,
    /// Who stored it.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// Size of the YAML text, bytes.
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the YAML.
    pub sha256: String,
    /// `store` or `import`.
    pub source: String,
}

/// The config-versions repository of a [`crate::StateStore`].
#[derive(Debug, Clone)]
pub struct ConfigVersions {
    pool: Pool,
}

type VersionRow = (i64, i64, String, String, String, String, String);
type SummaryRow = (i64, i64, String, String, i64, String, String);

const COLUMNS: &str = "version, created_at_ms, actor, reason, yaml, sha256, source";
const APPEND: &str = "INSERT INTO config_versions (version, created_at_ms, actor, reason, yaml, sha256, source) \
     SELECT $1 + 1, {now_ms}, $2, $3, $4, $5, 'store' \
     WHERE COALESCE((SELECT MAX(version) FROM config_versions), 0) = $1 \
     ON CONFLICT (version) DO NOTHING \
     RETURNING version, created_at_ms";

/// Within the open transaction `$tx`: the compare-and-set insert, then the audit entry
/// when it won. Evaluates to `Result<Option<(version, created_at_ms)>, sqlx::Error>`.
macro_rules! append_in {
    ($tx:ident, $sql:expr, $binds:expr, $encoded:expr) => {
        async {
            let (expected, actor, reason, yaml, sha256) = $binds;
            let row: Option<(i64, i64)> = sqlx::query_as($sql)
                .bind(expected)
                .bind(actor)
                .bind(reason)
                .bind(yaml)
                .bind(sha256)
                .fetch_optional(&mut *$tx)
                .await?;
            if let (Some(_), Some(entry)) = (row, $encoded) {
                bind_entry(sqlx::query(INSERT_AUDIT), entry).execute(&mut *$tx).await?;
            }
            Ok::<_, sqlx::Error>(row)
        }
        .await
    };
}

// === impl ConfigVersions ===

impl ConfigVersions {
    pub(crate) fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// Stores `yaml` as version `expected + 1` if the newest version is still `expected`
    /// (0: the store has none yet); otherwise [`StateError::Stale`] with the current one.
    pub async fn append(
        &self,
        expected: u64,
        yaml: &str,
        actor: &str,
        reason: &str,
    ) -> Result<ConfigVersion, StateError> {
        self.append_with(expected, yaml, actor, reason, None).await
    }

    /// Like [`ConfigVersions::append`], and stores `audit` (its `config_version` set to
    /// the new version) in the same transaction: both are stored, or neither.
    pub async fn append_audited(
        &self,
        expected: u64,
        yaml: &str,
        actor: &str,
        reason: &str,
        audit: &AuditEntry,
    ) -> Result<ConfigVersion, StateError> {
        self.append_with(expected, yaml, actor, reason, Some(audit)).await
    }

    async fn append_with(
        &self,
        expected: u64,
        yaml: &str,
        actor: &str,
        reason: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<ConfigVersion, StateError> {
        if actor.is_empty() {
            return Err(StateError::invalid("actor", "must not be empty"));
        }
        let expected_i = to_i64(expected, "expected_version")?;
        // The version this append stores if it wins.
        let audit = audit.map(|a| AuditEntry { config_version: expected.saturating_add(1), ..a.clone() });
        let encoded = audit.as_ref().map(Encoded::new).transpose()?;
        let sha256 = sha256_hex(yaml);
        let sql = self.pool.sql(APPEND);
        let err = |e| StateError::from_sqlx("config_versions.append", e);
        let binds = (expected_i, actor, reason, yaml, sha256.as_str());
        let row = match &self.pool {
            Pool::Sqlite(p) => {
                let mut tx = p.begin_write().await.map_err(err)?;
                let row = append_in!(tx, &sql, binds, &encoded).map_err(err)?;
                tx.commit().await.map_err(err)?;
                row
            }
            Pool::Postgres(p) => {
                let mut tx = p.begin_write().await.map_err(err)?;
                let row = append_in!(tx, &sql, binds, &encoded).map_err(err)?;
                if let Some((version, _)) = row {
                    notify(&mut tx, version).await.map_err(err)?;
                }
                tx.commit().await.map_err(err)?;
                row
            }
        };
        let Some((version, created_at_ms)) = row else {
            return Err(StateError::Stale { current: self.latest_version().await? });
        };
        tracing::debug!(version, actor, "config version stored");
        Ok(ConfigVersion {
            version: to_u64(version, "config version")?,
            created_at_ms,
            actor: actor.to_owned(),
            reason: reason.to_owned(),
            yaml: yaml.to_owned(),
            sha256,
            source: "store".to_owned(),
        })
    }

    /// The newest version number; 0 when none is stored.
    pub async fn latest_version(&self) -> Result<u64, StateError> {
        let max: Option<i64> =
            on_pool!(&self.pool, |p| sqlx::query_scalar("SELECT MAX(version) FROM config_versions").fetch_one(p).await)
                .map_err(|e| StateError::from_sqlx("config_versions.latest_version", e))?;
        max.map_or(Ok(0), |v| to_u64(v, "config version"))
    }

    /// Deletes the versions stored more than `days` days ago (database server clock),
    /// except those numbered within `keep` of the newest (at least 1, so the running
    /// version stays and the next
    /// append still numbers from it); returns how many.
    pub async fn delete_older_than(&self, days: u32, keep: u32) -> Result<u64, StateError> {
        let horizon_ms = i64::from(days) * 86_400_000;
        let keep = i64::from(keep.max(1));
        let sql = self.pool.sql(
            "DELETE FROM config_versions WHERE created_at_ms < {now_ms} - $1 \
             AND version <= (SELECT MAX(version) FROM config_versions) - $2",
        );
        let done = on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(horizon_ms)
            .bind(keep)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StateError::from_sqlx("config_versions.delete_older_than", e))?;
        Ok(done)
    }

    /// The newest version with its text.
    pub async fn latest(&self) -> Result<Option<ConfigVersion>, StateError> {
        let sql = format!("SELECT {COLUMNS} FROM config_versions ORDER BY version DESC LIMIT 1");
        let row: Option<VersionRow> = on_pool!(&self.pool, |p| sqlx::query_as(&sql).fetch_optional(p).await)
            .map_err(|e| StateError::from_sqlx("config_versions.latest", e))?;
        row.map(from_row).transpose()
    }

    /// Version `version` with its text, if stored.
    pub async fn get(&self, version: u64) -> Result<Option<ConfigVersion>, StateError> {
        let v = to_i64(version, "version")?;
        let sql = format!("SELECT {COLUMNS} FROM config_versions WHERE version = $1");
        let row: Option<VersionRow> = on_pool!(&self.pool, |p| sqlx::query_as(&sql).bind(v).fetch_optional(p).await)
            .map_err(|e| StateError::from_sqlx("config_versions.get", e))?;
        row.map(from_row).transpose()
    }

    /// Up to `limit` (1..=1000) versions older than `before` (all when `None`), newest first.
    pub async fn list(&self, limit: u32, before: Option<u64>) -> Result<Vec<VersionSummary>, StateError> {
        if !(1..=1000).contains(&limit) {
            return Err(StateError::invalid("limit", "must be between 1 and 1000"));
        }
        let before = match before {
            Some(b) => to_i64(b, "before")?,
            None => i64::MAX,
        };
        let sql = "SELECT version, created_at_ms, actor, reason, CAST(OCTET_LENGTH(yaml) AS BIGINT), sha256, source \
                   FROM config_versions WHERE version < $1 ORDER BY version DESC LIMIT $2";
        let rows: Vec<SummaryRow> =
            on_pool!(&self.pool, |p| sqlx::query_as(sql).bind(before).bind(i64::from(limit)).fetch_all(p).await)
                .map_err(|e| StateError::from_sqlx("config_versions.list", e))?;
        rows.into_iter()
            .map(|(version, created_at_ms, actor, reason, bytes, sha256, source)| {
                Ok(VersionSummary {
                    version: to_u64(version, "config version")?,
                    created_at_ms,
                    actor,
                    reason,
                    bytes: to_u64(bytes, "config size")?,
                    sha256,
                    source,
                })
            })
            .collect()
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }
}

/// Sends the new-version notification inside the append's transaction (delivered on commit).
pub(crate) async fn notify(conn: &mut sqlx::PgConnection, version: i64) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)").bind(NOTIFY_CHANNEL).bind(version.to_string()).execute(conn).await?;
    Ok(())
}

/// Lowercase hex SHA-256 of `text`.
pub(crate) fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn from_row(
    (version, created_at_ms, actor, reason, yaml, sha256, source): VersionRow,
) -> Result<ConfigVersion, StateError> {
    let version = to_u64(version, "config version")?;
    if sha256_hex(&yaml) != sha256 {
        return Err(StateError::corrupt(format!("config version {version}: text does not match its SHA-256")));
    }
    Ok(ConfigVersion { version, created_at_ms, actor, reason, yaml, sha256, source })
}
