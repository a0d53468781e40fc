//! Replicas that heartbeat into the store, and the cluster view of `GET /api/v1/cluster`.
//!
//! Invariants: one row per replica id; `last_seen_ms` and `started_at_ms` are the
//! database server's clock, so "seen in the last N seconds" means the same on every
//! replica. A replica that stops heartbeating stays listed (with its old `last_seen`)
//! until pruned; callers choose the age that counts as gone.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::db::{on_pool, to_i64, to_u64, Pool};
use crate::error::StateError;
use crate::leases::Leases;

/// One replica as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplicaInfo {
    /// The replica's id.
    pub id: String,
    /// Where its admin listener can be reached (`host:port`).
    pub address: String,
    /// The config version it serves.
    pub config_version: u64,
    /// When it first registered under this id, Unix ms (server clock).
    pub started_at_ms: i64,
    /// Its last heartbeat, Unix ms (server clock).
    pub last_seen_ms: i64,
}

/// The body of `GET /api/v1/cluster` (SPEC §7); times are Unix ms on the store's clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterView {
    /// The answering replica's id.
    #[serde(rename = "self")]
    pub self_id: String,
    /// Replicas seen recently, by id.
    pub replicas: Vec<ClusterReplica>,
    /// Every lease that has a live holder, by name.
    pub leases: BTreeMap<String, ClusterLease>,
}

/// A replica in [`ClusterView`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterReplica {
    /// The replica's id.
    pub id: String,
    /// Its admin address.
    pub address: String,
    /// The config version it serves.
    pub config_version: u64,
    /// Its last heartbeat, Unix ms.
    pub last_seen: i64,
}

/// A lease in [`ClusterView`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterLease {
    /// The holding replica's id.
    pub holder: String,
    /// When the holding ends unless renewed, Unix ms.
    pub expires_at: i64,
}

/// The replica repository of a [`crate::StateStore`].
#[derive(Debug, Clone)]
pub struct Replicas {
    pool: Pool,
}

type ReplicaRow = (String, String, i64, i64, i64);

const HEARTBEAT: &str = "INSERT INTO replicas (id, address, config_version, started_at_ms, last_seen_ms) \
     VALUES ($1, $2, $3, {now_ms}, {now_ms}) \
     ON CONFLICT (id) DO UPDATE SET address = excluded.address, config_version = excluded.config_version, \
     last_seen_ms = excluded.last_seen_ms";
const LIST: &str = "SELECT id, address, config_version, started_at_ms, last_seen_ms FROM replicas \
     WHERE last_seen_ms >= {now_ms} - $1 ORDER BY id";

// === impl Replicas ===

impl Replicas {
    pub(crate) fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// Registers `id` or refreshes its address, config version and `last_seen`.
    pub async fn heartbeat(&self, id: &str, address: &str, config_version: u64) -> Result<(), StateError> {
        if id.is_empty() {
            return Err(StateError::invalid("replica.id", "must not be empty"));
        }
        let version = to_i64(config_version, "config_version")?;
        let sql = self.pool.sql(HEARTBEAT);
        on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(id)
            .bind(address)
            .bind(version)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StateError::from_sqlx("replicas.heartbeat", e))?;
        Ok(())
    }

    /// Replicas whose last heartbeat is at most `max_age` old, by id.
    pub async fn list(&self, max_age: Duration) -> Result<Vec<ReplicaInfo>, StateError> {
        let age_ms = i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX / 2);
        let sql = self.pool.sql(LIST);
        let rows: Vec<ReplicaRow> = on_pool!(&self.pool, |p| sqlx::query_as(&sql).bind(age_ms).fetch_all(p).await)
            .map_err(|e| StateError::from_sqlx("replicas.list", e))?;
        rows.into_iter()
            .map(|(id, address, config_version, started_at_ms, last_seen_ms)| {
                Ok(ReplicaInfo {
                    id,
                    address,
                    config_version: to_u64(config_version, "replica config_version")?,
                    started_at_ms,
                    last_seen_ms,
                })
            })
            .collect()
    }

    /// Forgets `id` (a replica shutting down cleanly); `false` when it was not listed.
    pub async fn remove(&self, id: &str) -> Result<bool, StateError> {
        let done = on_pool!(&self.pool, |p| sqlx::query("DELETE FROM replicas WHERE id = $1")
            .bind(id)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StateError::from_sqlx("replicas.remove", e))?;
        Ok(done == 1)
    }

    /// Forgets replicas not seen for longer than `older_than`; returns how many.
    pub async fn prune(&self, older_than: Duration) -> Result<u64, StateError> {
        let age_ms = i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX / 2);
        let sql = self.pool.sql("DELETE FROM replicas WHERE last_seen_ms < {now_ms} - $1");
        let done = on_pool!(&self.pool, |p| sqlx::query(&sql).bind(age_ms).execute(p).await.map(|r| r.rows_affected()))
            .map_err(|e| StateError::from_sqlx("replicas.prune", e))?;
        Ok(done)
    }

    /// The cluster as `self_id` answers it: replicas seen within `max_age` and the leases
    /// with a live holder.
    pub async fn cluster(&self, self_id: &str, max_age: Duration, leases: &Leases) -> Result<ClusterView, StateError> {
        let replicas = self
            .list(max_age)
            .await?
            .into_iter()
            .map(|r| ClusterReplica {
                id: r.id,
                address: r.address,
                config_version: r.config_version,
                last_seen: r.last_seen_ms,
            })
            .collect();
        let leases = leases
            .list()
            .await?
            .into_iter()
            .filter(|l| !l.expired)
            .map(|l| (l.name, ClusterLease { holder: l.holder, expires_at: l.expires_at_ms }))
            .collect();
        Ok(ClusterView { self_id: self_id.to_owned(), replicas, leases })
    }
}
