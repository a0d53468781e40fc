//! Schema migrations for both engines, run by [`crate::StateStore::migrate`].
//!
//! Each feature owns one numbered migration with one SQL file per engine under
//! `state/migrations/` (see its README). Applied versions are recorded in
//! `switchyard_schema_migrations` with the SHA-256 of the SQL that ran.
//!
//! Invariants:
//! - idempotent: a second run applies nothing;
//! - safe when replicas start together: on PostgreSQL a session advisory lock serialises
//!   runs (a lock held by a crashed replica dies with its connection); on SQLite the whole
//!   run is one `BEGIN IMMEDIATE` transaction, which takes the file's write lock first;
//! - all pending migrations apply in one transaction (both engines have transactional
//!   DDL), so a failure leaves the schema as it was;
//! - a recorded checksum that differs from the SQL this build carries is refused
//!   ([`StateError::Schema`]); versions newer than this build knows (a newer replica ran
//!   first during a rolling upgrade) are reported and left alone.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sqlx::{Connection, Executor};

use crate::db::Pool;
use crate::error::StateError;
use crate::options::Engine;

/// One migration: a version, a name and its SQL for each engine.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Applied in ascending order; never reused.
    pub version: i64,
    /// Short name, e.g. `config_versions`.
    pub name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied by this run, ascending.
    pub applied: Vec<i64>,
    /// Versions found in the database that this build does not know (applied by a newer
    /// Switchyard); left alone.
    pub unknown: Vec<i64>,
}

/// `migration!(version, "name", "file")`: `file` is `migrations/<engine>/<file>.sql`.
macro_rules! migration {
    ($version:literal, $name:literal, $file:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("../migrations/sqlite/", $file, ".sql")),
            postgres: include_str!(concat!("../migrations/postgres/", $file, ".sql")),
        }
    };
}

/// Every migration this build knows, in order.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "config_versions", "0001_config_versions"),
    migration!(2, "audit", "0002_audit"),
    migration!(3, "leases", "0003_leases"),
    migration!(4, "replicas", "0004_replicas"),
    migration!(5, "sessions", "0005_sessions"),
    migration!(6, "catalog", "0006_catalog"),
    migration!(7, "jobs", "0007_jobs"),
];

/// The bookkeeping table.
const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS switchyard_schema_migrations (
    version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)";
/// Key of the PostgreSQL advisory lock around migrations ("switchyard-migrate").
const ADVISORY_KEY: i64 = 0x5357_5944_4d49_4752;
/// How long a replica waits for another one's migration run.
const LOCK_WAIT: Duration = Duration::from_secs(60);

/// Defines `$name(conn, pool)`: within the open transaction `conn`, creates the
/// bookkeeping table, checks what was applied and applies what is pending. One concrete
/// function per engine keeps the futures `Send`.
macro_rules! apply_pending_fn {
    ($name:ident, $conn:ty, $engine:expr) => {
        async fn $name(conn: &mut $conn, pool: &Pool) -> Result<MigrationReport, StateError> {
            let err = |e| StateError::from_sqlx("migrate", e);
            (&mut *conn).execute(CREATE_TABLE).await.map_err(err)?;
            let done: Vec<(i64, String)> =
                sqlx::query_as("SELECT version, checksum FROM switchyard_schema_migrations ORDER BY version")
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(err)?;
            let mut report = check_applied(&done, $engine)?;
            let insert = pool.sql(
                "INSERT INTO switchyard_schema_migrations (version, name, checksum, applied_at_ms) \
                 VALUES ($1, $2, $3, {now_ms})",
            );
            for m in MIGRATIONS.iter().filter(|m| !done.iter().any(|(v, _)| *v == m.version)) {
                (&mut *conn).execute(m.sql($engine)).await.map_err(|e| StateError::Schema {
                    message: format!("migration {:04}_{} failed: {e}", m.version, m.name),
                })?;
                sqlx::query(&insert)
                    .bind(m.version)
                    .bind(m.name)
                    .bind(m.checksum($engine))
                    .execute(&mut *conn)
                    .await
                    .map_err(err)?;
                report.applied.push(m.version);
            }
            Ok(report)
        }
    };
}
apply_pending_fn!(apply_pending_sqlite, sqlx::SqliteConnection, Engine::Sqlite);
apply_pending_fn!(apply_pending_postgres, sqlx::PgConnection, Engine::Postgres);

// === impl Migration ===

impl Migration {
    /// The SQL for `engine`.
    pub fn sql(&self, engine: Engine) -> &'static str {
        match engine {
            Engine::Sqlite => self.sqlite,
            Engine::Postgres => self.postgres,
        }
    }

    fn checksum(&self, engine: Engine) -> String {
        hex::encode(Sha256::digest(self.sql(engine).as_bytes()))
    }
}

/// Runs the pending migrations (see the module doc).
pub(crate) async fn run(pool: &Pool) -> Result<MigrationReport, StateError> {
    let err = |e| StateError::from_sqlx("migrate", e);
    let report = match pool {
        Pool::Sqlite(p) => {
            let mut tx = p.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
            let report = apply_pending_sqlite(&mut tx, pool).await?;
            tx.commit().await.map_err(err)?;
            report
        }
        Pool::Postgres(p) => {
            let mut conn = p.acquire().await.map_err(err)?;
            lock_postgres(&mut conn).await?;
            let result = async {
                let mut tx = conn.begin().await.map_err(err)?;
                let report = apply_pending_postgres(&mut tx, pool).await?;
                tx.commit().await.map_err(err)?;
                Ok::<_, StateError>(report)
            }
            .await;
            let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)").bind(ADVISORY_KEY).execute(&mut *conn).await;
            if unlocked.is_err() {
                // The lock dies with the session: make sure this connection is not reused.
                drop(conn.detach());
            }
            result?
        }
    };
    if !report.applied.is_empty() || !report.unknown.is_empty() {
        tracing::info!(applied = ?report.applied, unknown = ?report.unknown, engine = ?pool.engine(), "state store migrated");
    }
    Ok(report)
}

/// Takes the advisory lock, polling so that a wait is bounded and a dead server is seen.
async fn lock_postgres(conn: &mut sqlx::PgConnection) -> Result<(), StateError> {
    let started = Instant::now();
    loop {
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(ADVISORY_KEY)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| StateError::from_sqlx("migrate lock", e))?;
        if locked {
            return Ok(());
        }
        if started.elapsed() > LOCK_WAIT {
            return Err(StateError::Unavailable {
                op: "migrate lock",
                source: sqlx::Error::Protocol(format!(
                    "another replica held the migration lock for {} s",
                    LOCK_WAIT.as_secs()
                )),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Compares what the database recorded with what this build carries.
fn check_applied(done: &[(i64, String)], engine: Engine) -> Result<MigrationReport, StateError> {
    let mut report = MigrationReport::default();
    for (version, checksum) in done {
        match MIGRATIONS.iter().find(|m| m.version == *version) {
            Some(m) if m.checksum(engine) != *checksum => {
                return Err(StateError::Schema {
                    message: format!(
                        "migration {:04}_{} was changed after it ran (recorded checksum {checksum})",
                        m.version, m.name
                    ),
                });
            }
            Some(_) => {}
            None => report.unknown.push(*version),
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_ascend_and_every_engine_has_sql() {
        for pair in MIGRATIONS.windows(2) {
            assert!(pair[0].version < pair[1].version);
        }
        for m in MIGRATIONS {
            for engine in [Engine::Sqlite, Engine::Postgres] {
                assert!(m.sql(engine).contains("CREATE TABLE"), "{} {engine:?}", m.name);
            }
        }
    }

    #[test]
    fn an_edited_migration_is_refused_and_a_newer_one_reported() {
        let edited = vec![(1, "0".repeat(64))];
        let e = check_applied(&edited, Engine::Sqlite).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("0001_config_versions was changed"), "{e}");
        let newer = vec![(1, MIGRATIONS[0].checksum(Engine::Postgres)), (999, "x".into())];
        let report = check_applied(&newer, Engine::Postgres).ok().unwrap_or_default();
        assert_eq!(report.unknown, vec![999]);
    }
}
