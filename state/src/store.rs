//! [`StateStore`]: one handle over the pool, from which every repository is taken.
//!
//! Cloning a store shares its pool. Opening validates the options and, for SQLite,
//! creates the file; PostgreSQL is first contacted by the first operation, so an
//! unreachable server is a retryable [`StateError::Unavailable`] from that operation
//! (bounded by `acquire_timeout`), never a hang and never a panic.

use crate::audit::Audit;
use crate::catalog::Catalog;
use crate::config_versions::ConfigVersions;
use crate::db::{on_pool, Pool};
use crate::error::StateError;
use crate::jobs::Jobs;
use crate::leases::Leases;
use crate::migrate::{self, MigrationReport};
use crate::options::{Engine, StoreOptions};
use crate::replicas::Replicas;
use crate::sessions::Sessions;
use crate::watch::{VersionWatch, WatchOptions};

/// The control-plane state store.
#[derive(Debug, Clone)]
pub struct StateStore {
    pool: Pool,
}

// === impl StateStore ===

impl StateStore {
    /// Opens the store `options` name (does not migrate; call [`StateStore::migrate`]).
    pub async fn open(options: &StoreOptions) -> Result<Self, StateError> {
        let pool = Pool::open(options).await?;
        Ok(Self { pool })
    }

    /// Which engine the store runs on (shared routing config needs PostgreSQL).
    pub fn engine(&self) -> Engine {
        self.pool.engine()
    }

    /// Creates or upgrades the schema; idempotent and safe when replicas run it at once.
    pub async fn migrate(&self) -> Result<MigrationReport, StateError> {
        migrate::run(&self.pool).await
    }

    /// Succeeds when the store answers a trivial query (readiness).
    pub async fn ping(&self) -> Result<(), StateError> {
        on_pool!(&self.pool, |p| sqlx::query("SELECT 1").execute(p).await.map(|r| r.rows_affected()))
            .map_err(|e| StateError::from_sqlx("ping", e))?;
        Ok(())
    }

    /// The database server's clock, Unix ms (the clock leases and sessions use).
    pub async fn server_now_ms(&self) -> Result<i64, StateError> {
        let sql = self.pool.sql("SELECT {now_ms}");
        on_pool!(&self.pool, |p| sqlx::query_scalar(&sql).fetch_one(p).await)
            .map_err(|e| StateError::from_sqlx("server_now_ms", e))
    }

    /// Config versions.
    pub fn config_versions(&self) -> ConfigVersions {
        ConfigVersions::new(self.pool.clone())
    }

    /// The audit trail.
    pub fn audit(&self) -> Audit {
        Audit::new(self.pool.clone())
    }

    /// Leases.
    pub fn leases(&self) -> Leases {
        Leases::new(self.pool.clone())
    }

    /// Replicas.
    pub fn replicas(&self) -> Replicas {
        Replicas::new(self.pool.clone())
    }

    /// The model catalog.
    pub fn catalog(&self) -> Catalog {
        Catalog::new(self.pool.clone())
    }

    /// Fine-tuning jobs.
    pub fn jobs(&self) -> Jobs {
        Jobs::new(self.pool.clone())
    }

    /// Console sessions.
    pub fn sessions(&self) -> Sessions {
        Sessions::new(self.pool.clone())
    }

    /// A receiver of the newest config version (see `watch.rs`); fails when the store
    /// cannot be read now.
    pub async fn watch_versions(&self, options: WatchOptions) -> Result<VersionWatch, StateError> {
        VersionWatch::start(self.config_versions(), options).await
    }

    /// Closes the pool (waits for connections in use to come back).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
