//! The connection pool over either engine, and the one seam where the engines differ.
//!
//! Every repository writes its SQL once: [`on_pool!`] expands the same body for the SQLite
//! and the PostgreSQL pool, so binds, row tuples and transactions are checked by the
//! compiler for both. The SQL itself is the subset both engines accept (`$N` placeholders,
//! `INSERT … ON CONFLICT … DO UPDATE … WHERE`, `RETURNING`, `BIGINT` milliseconds, JSON as
//! `TEXT`); the only dialect difference left is the database server's clock, written
//! `{now_ms}` in a template and filled in by [`Pool::sql`].
//!
//! Invariants:
//! - time that decides anything (lease expiry, session expiry, created_at) is the
//!   database server's clock, never a replica's;
//! - the SQLite file and the directories made for it are private (0600 / 0700) before
//!   SQLite opens it; the `-wal` and `-shm` files inherit the file's mode;
//! - opening never waits on the network: PostgreSQL pools connect lazily, so an
//!   unreachable server shows up as a retryable error of the first operation, bounded by
//!   `acquire_timeout`.

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};

use crate::error::StateError;
use crate::options::{Engine, StoreOptions, StoreUrl};

/// The placeholder for "now on the database server, Unix ms" in SQL templates.
const NOW_MS: &str = "{now_ms}";
/// The server clock in Unix ms: SQLite (the process that owns the file) …
const SQLITE_NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS BIGINT)";
/// … and PostgreSQL (the transaction's start on the server; one value per statement).
const POSTGRES_NOW_MS: &str = "CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)";

/// A pool on one of the two engines. Cloning shares the pool.
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    /// The embedded file.
    Sqlite(SqlitePool),
    /// The shared server.
    Postgres(PgPool),
}

/// Expands `$body` once per engine with `$p` bound to that engine's pool
/// (`&SqlitePool` or `&PgPool`); both arms must produce the same type.
macro_rules! on_pool {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            $crate::db::Pool::Sqlite($p) => $body,
            $crate::db::Pool::Postgres($p) => $body,
        }
    };
}
pub(crate) use on_pool;

// === impl Pool ===

impl Pool {
    /// Opens a pool for `options` (validated here; SQLite's file is created, PostgreSQL is
    /// not contacted).
    pub(crate) async fn open(options: &StoreOptions) -> Result<Self, StateError> {
        match options.validate()? {
            StoreUrl::Sqlite { path } => open_sqlite(&path, options).await.map(Self::Sqlite),
            StoreUrl::Postgres { url } => open_postgres(&url, options).map(Self::Postgres),
        }
    }

    /// The engine.
    pub(crate) fn engine(&self) -> Engine {
        match self {
            Self::Sqlite(_) => Engine::Sqlite,
            Self::Postgres(_) => Engine::Postgres,
        }
    }

    /// `template` with `{now_ms}` replaced by this engine's server-clock expression.
    pub(crate) fn sql<'a>(&self, template: &'a str) -> Cow<'a, str> {
        if !template.contains(NOW_MS) {
            return Cow::Borrowed(template);
        }
        let now = match self {
            Self::Sqlite(_) => SQLITE_NOW_MS,
            Self::Postgres(_) => POSTGRES_NOW_MS,
        };
        Cow::Owned(template.replace(NOW_MS, now))
    }

    /// Closes every connection (waits for checked-out ones to come back).
    pub(crate) async fn close(&self) {
        on_pool!(self, |p| p.close().await)
    }
}

/// Creates the directory (0700) and the file (0600) when missing, tightens an existing
/// file to 0600, switches the database to WAL once, then opens the pool.
async fn open_sqlite(path: &Path, options: &StoreOptions) -> Result<SqlitePool, StateError> {
    prepare_sqlite_file(path)?;
    let connect = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(options.busy_timeout)
        .foreign_keys(true)
        .disable_statement_logging();
    // Switching to WAL needs a lock that the busy timeout does not wait for; do it on one
    // connection before the pool opens several.
    let first = connect.connect().await.map_err(|e| StateError::from_sqlx("open sqlite", e))?;
    first.close().await.map_err(|e| StateError::from_sqlx("open sqlite", e))?;
    Ok(SqlitePoolOptions::new()
        .max_connections(options.max_connections.unwrap_or(4))
        .acquire_timeout(options.acquire_timeout)
        .connect_lazy_with(connect))
}

fn prepare_sqlite_file(path: &Path) -> Result<(), StateError> {
    use std::fs::{DirBuilder, OpenOptions, Permissions};
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

    let io = |op, source| StateError::Io { op, path: path.display().to_string(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| io("create directory for", e))?;
    }
    OpenOptions::new().create(true).append(true).mode(0o600).open(path).map_err(|e| io("create", e))?;
    std::fs::set_permissions(path, Permissions::from_mode(0o600)).map_err(|e| io("chmod 0600", e))
}

fn open_postgres(url: &str, options: &StoreOptions) -> Result<PgPool, StateError> {
    let mut connect = PgConnectOptions::from_str(url)
        .map_err(|e| StateError::invalid("state.url", format!("not a usable PostgreSQL URL: {e}")))?
        .application_name("switchyard")
        .options([("statement_timeout", format!("{}ms", options.statement_timeout.as_millis()))])
        .disable_statement_logging();
    if let Some(password) = &options.password {
        connect = connect.password(password);
    }
    Ok(PgPoolOptions::new()
        .max_connections(options.max_connections.unwrap_or(8))
        .acquire_timeout(options.acquire_timeout)
        .connect_lazy_with(connect))
}

/// Begins a transaction that writes: on SQLite `BEGIN IMMEDIATE` takes the file's write
/// lock up front (waiting up to the busy timeout), so a transaction that reads and then
/// writes never fails on upgrading its lock; on PostgreSQL a plain `BEGIN`.
pub(crate) trait BeginWrite {
    /// The engine.
    type Db: sqlx::Database;
    /// Starts the transaction.
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send {
        self.begin()
    }
}

/// An `i64` column or bind for a `u64` the API uses; negative values are corrupt data.
pub(crate) fn to_u64(value: i64, what: &str) -> Result<u64, StateError> {
    u64::try_from(value).map_err(|_| StateError::corrupt(format!("{what} is negative ({value})")))
}

/// A `u64` from the API as an `i64` bind; values past `i64::MAX` are the caller's error.
pub(crate) fn to_i64(value: u64, field: &'static str) -> Result<i64, StateError> {
    i64::try_from(value).map_err(|_| StateError::invalid(field, format!("{value} is out of range")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[tokio::test]
    async fn sqlite_file_and_directory_are_private_and_in_wal_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a/b/state.db");
        let options = StoreOptions::new(format!("sqlite://{}", path.display()));
        let pool = Pool::open(&options).await.unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&tmp.path().join("a/b")), 0o700);
        let Pool::Sqlite(p) = &pool else { panic!("sqlite") };
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(p).await.unwrap();
        assert_eq!(journal, "wal");
        let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(p).await.unwrap();
        assert_eq!(busy, 5000);
        sqlx::query("CREATE TABLE t (x INTEGER)").execute(p).await.unwrap();
        assert_eq!(mode(&tmp.path().join("a/b/state.db-wal")), 0o600);
        pool.close().await;
    }

    #[tokio::test]
    async fn an_existing_file_is_tightened_to_0600() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("state.db");
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let pool = Pool::open(&StoreOptions::new(format!("sqlite://{}", path.display()))).await.unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        pool.close().await;
    }

    #[tokio::test]
    async fn an_unusable_path_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        let url = format!("sqlite://{}/state.db", file.display());
        let e = Pool::open(&StoreOptions::new(url)).await.unwrap_err();
        assert!(e.to_string().starts_with("state store create directory for "), "{e}");
        assert!(e.to_string().contains("plain-file/state.db"), "{e}");
        assert_eq!(e.blame(), switchyard_core::Blame::Internal);
    }

    #[tokio::test]
    async fn templates_get_each_engines_clock() {
        let pg = Pool::Postgres(PgPoolOptions::new().connect_lazy_with(PgConnectOptions::new()));
        assert!(pg.sql("SELECT {now_ms}").contains("EXTRACT(EPOCH FROM now())"));
        assert!(matches!(pg.sql("SELECT 1"), Cow::Borrowed(_)));
    }
}
