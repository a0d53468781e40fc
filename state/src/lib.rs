//! `switchyard-state`: the control-plane store — SQLite embedded by default, PostgreSQL
//! when several replicas share state (SPEC §7).
//!
//! ```text
//! StateStore::open(&StoreOptions) ──▶ Pool::{Sqlite, Postgres}   (one SQL text, both engines)
//!   .migrate()            versioned migrations per engine (advisory lock / BEGIN IMMEDIATE)
//!   .config_versions()    append / append_audited (compare-and-set + NOTIFY), latest, get, list, import
//!   .audit()              append, list (filters, keyset cursor), retention, import_jsonl
//!   .leases()             try_acquire_or_renew / release / list on the server's clock
//!   .replicas()           heartbeat, list, cluster view
//!   .sessions()           console sessions (digests only), idle + absolute expiry
//!   .catalog()            model catalog entries: JSON documents, compare-and-set per entry version
//!   .jobs()               fine-tuning jobs: JSON documents, compare-and-set per job, events in order
//!   .watch_versions()     newest version: LISTEN/NOTIFY + polling (SQLite: polling)
//! LeaseKeeper::start(leases, options, &registry)  heartbeats every ttl/3; is_held() is atomic
//! ```
//!
//! # Wiring (for the binary and the control API)
//!
//! ```ignore
//! let options = StoreOptions { password: resolved_secret, ..StoreOptions::new(url) }
//!     .resolve_relative_to(config_dir)?;
//! let store = StateStore::open(&options).await?;
//! store.migrate().await?;                       // serve, migrate and config push
//! store.config_versions().import_history_dir(&history_dir).await?;   // once, idempotent
//! store.audit().import_jsonl_file(&dir.join("audit.jsonl")).await?;  // once, idempotent
//! let keeper = LeaseKeeper::start(store.leases(), LeaseKeeperOptions::new(replica_id), &registry)?;
//! if keeper.is_held(LeaseName::Autopilot) { /* act */ }
//! // A control-API edit with If-Match: V → 412 on StateError::Stale { current }.
//! store.config_versions().append_audited(v, &yaml, &actor, &reason, &audit_entry).await?;
//! let mut watch = store.watch_versions(WatchOptions::default()).await?;
//! loop { let v = watch.changed().await; /* get(v), validate, swap */ }
//! ```
//!
//! Errors know their blame and whether a retry can help ([`StateError::blame`],
//! [`StateError::retryable`]): an unreachable store is `Upstream` and retryable (503 in
//! the control API), a lost compare-and-set is [`StateError::Stale`] (412).
//!
//! Nothing here is on the data plane's request path: callers read the store from control
//! tasks and publish results into their own in-memory snapshots.

mod audit;
mod catalog;
mod config_versions;
mod db;
mod error;
mod import;
mod jobs;
mod lease_keeper;
mod leases;
mod migrate;
mod options;
mod replicas;
mod sessions;
mod store;
#[cfg(feature = "test-support")]
pub mod test_support;
mod watch;

pub use audit::{Audit, AuditEntry, AuditFilter, AuditPage};
pub use catalog::{Catalog, CatalogFilter, CatalogPage, CatalogRow, CatalogWrite, Expect};
pub use config_versions::{ConfigVersion, ConfigVersions, VersionSummary, NOTIFY_CHANNEL};
pub use error::StateError;
pub use import::{read_history_dir, ImportReport, ImportedVersion};
pub use jobs::{JobEventRow, JobFilter, JobPage, JobRow, JobWrite, Jobs};
pub use lease_keeper::{LeaseHandle, LeaseKeeper, LeaseKeeperOptions};
pub use leases::{LeaseInfo, LeaseName, LeaseState, Leases};
pub use migrate::{Migration, MigrationReport, MIGRATIONS};
pub use options::{Engine, StoreOptions, StoreUrl, DEFAULT_URL};
pub use replicas::{ClusterLease, ClusterReplica, ClusterView, ReplicaInfo, Replicas};
pub use sessions::{NewSession, Session, SessionSecrets, Sessions};
pub use store::StateStore;
pub use watch::{VersionWatch, WatchOptions};
