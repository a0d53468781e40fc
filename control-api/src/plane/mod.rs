//! The control plane's own state (SPEC §7): the state store, this replica's identity and
//! leases, and the background work that keeps them current.
//!
//! [`ControlPlane::open`] runs before the data plane starts: it reads the process's own
//! settings (`state:`) from the config, opens and migrates the store (SQLite by default,
//! PostgreSQL for replicas), imports the file era's config history and `audit.jsonl` once
//! (idempotent; the files are left as they were and no longer written — history and audit
//! live in the store from then on, so a read-only config directory works), starts the
//! [`LeaseKeeper`] (`autopilot`, `retention`, `jobs`) and, in shared mode, the version
//! watch. [`ControlPlane::log`] is the `VersionLog` the data plane's `ConfigStore` appends
//! to. [`ControlPlane::spawn_heartbeat`] registers this replica for `GET /api/v1/cluster`.
//!
//! Nothing here is on the data plane's request path; when the store is unreachable the
//! data plane keeps serving its last table, control-API writes get 503, and leases lapse.

mod log;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use prometheus::Registry;
use switchyard_config::atomic::file_era_history_dir;
use switchyard_config::{ConfigError, ConfigSource, VersionLog};
use switchyard_state::{
    LeaseHandle, LeaseKeeper, LeaseKeeperOptions, LeaseName, StateError, StateStore, StoreOptions, VersionWatch,
    WatchOptions,
};
use tokio::task::JoinHandle;

pub use log::{log_error, StateLog};

/// How often a replica says it is alive; a replica unseen for three periods is gone.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// Why the control plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum PlaneError {
    /// The config (its `state:` part) is invalid.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The store could not be opened, migrated or read.
    #[error("state store: {0}")]
    State(#[from] StateError),
}

/// The state store and this replica's place in the cluster.
pub struct ControlPlane {
    store: StateStore,
    keeper: Mutex<Option<LeaseKeeper>>,
    leases: LeaseHandle,
    replica_id: String,
    shared: bool,
    watch: Option<VersionWatch>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    base_dir: PathBuf,
    retention: switchyard_config::schema::RetentionConfig,
}

// === impl ControlPlane ===

impl ControlPlane {
    /// Opens the store named by `source`'s `state:` settings and starts the lease keeper.
    pub async fn open(source: &ConfigSource, registry: &Registry) -> Result<Self, PlaneError> {
        let (cfg, store) = open_store(source).await?;
        if let ConfigSource::File(path) = source {
            import_file_era(&store, path).await;
        }
        let replica_id = replica_id();
        let keeper = LeaseKeeper::start(store.leases(), LeaseKeeperOptions::new(&replica_id), registry)?;
        let shared = cfg.state.shared_config;
        let watch = if shared { Some(store.watch_versions(WatchOptions::default()).await?) } else { None };
        let leases = keeper.handle();
        let base_dir = base_dir(source);
        let retention = cfg.retention.clone();
        Ok(Self {
            store,
            keeper: Mutex::new(Some(keeper)),
            leases,
            replica_id,
            shared,
            watch,
            tasks: Mutex::default(),
            base_dir,
            retention,
        })
    }

    /// The config-version log for the data plane's `ConfigStore`.
    pub fn log(&self) -> Arc<dyn VersionLog> {
        Arc::new(StateLog::new(self.store.config_versions(), self.watch.as_ref().map(VersionWatch::subscribe)))
    }

    /// The store.
    pub fn store(&self) -> &StateStore {
        &self.store
    }

    /// This replica's leases.
    pub fn leases(&self) -> &LeaseHandle {
        &self.leases
    }

    /// Whether this replica holds `lease` now (one atomic load).
    pub fn holds(&self, lease: LeaseName) -> bool {
        self.leases.is_held(lease)
    }

    /// This replica's id (`<host>-<pid>-<random>`).
    pub fn replica_id(&self) -> &str {
        &self.replica_id
    }

    /// The directory relative paths of this process's settings resolve against (the
    /// config file's, else the working directory).
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// Whether routing config is shared through the store.
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// Registers this replica (its admin `address`) every [`HEARTBEAT`] with the config
    /// version `version` reports; a failed heartbeat is logged, never fatal.
    pub fn spawn_heartbeat(&self, address: String, version: impl Fn() -> u64 + Send + 'static) {
        let (replicas, id) = (self.store.replicas(), self.replica_id.clone());
        self.tasks.lock().push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT);
            loop {
                tick.tick().await;
                if let Err(error) = replicas.heartbeat(&id, &address, version()).await {
                    tracing::warn!(%error, "replica heartbeat not stored");
                }
            }
        }));
    }

    /// Trims the store's `audit` and `config_versions` tables every `retention.interval_s`
    /// (the file's `retention:`, read at start-up) while this replica holds the
    /// `retention` lease (SPEC §7); a failure is logged and retried next time.
    pub fn spawn_retention(&self) {
        let (store, leases, retention) = (self.store.clone(), self.leases.clone(), self.retention.clone());
        self.tasks.lock().push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(retention.interval_s.max(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if leases.is_held(LeaseName::Retention) {
                    trim_store(&store, &retention).await;
                }
            }
        }));
    }

    /// Stops the background work and releases the leases at once (a clean shutdown lets
    /// another replica take over without waiting for the ttl).
    pub async fn shutdown(&self) {
        for task in self.tasks.lock().drain(..) {
            task.abort();
        }
        let keeper = self.keeper.lock().take();
        if let Some(keeper) = keeper {
            keeper.shutdown().await;
        }
        let _ = self.store.replicas().remove(&self.replica_id).await;
    }
}

/// One retention pass over the store's tables.
async fn trim_store(store: &StateStore, retention: &switchyard_config::schema::RetentionConfig) {
    match store.audit().delete_older_than(retention.audit_days).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(entries = n, days = retention.audit_days, "expired audit entries deleted"),
        Err(error) => tracing::warn!(%error, "audit retention failed; will retry"),
    }
    let versions = store.config_versions();
    match versions.delete_older_than(retention.config_versions_days, retention.config_versions_keep).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(versions = n, days = retention.config_versions_days, "expired config versions deleted"),
        Err(error) => tracing::warn!(%error, "config version retention failed; will retry"),
    }
}

/// Opens and migrates the store `source`'s `state:` names (for `serve`, `migrate` and
/// `config push`); returns the file's config with it.
pub async fn open_store(source: &ConfigSource) -> Result<(switchyard_config::Config, StateStore), PlaneError> {
    let text = source.read()?;
    let cfg = switchyard_config::validate::parse(&text)?;
    switchyard_config::validate::validate(&cfg)?;
    let mut options = StoreOptions::new(cfg.state.url.clone());
    if let Some(p) = &cfg.state.password {
        let secret = p.resolve().map_err(|m| ConfigError::one("state.password", m))?;
        options = options.with_password(secret.expose());
    }
    let store = StateStore::open(&options.resolve_relative_to(&base_dir(source))?).await?;
    store.migrate().await?;
    Ok((cfg, store))
}

/// The directory relative paths of a config resolve against: the file's own, else the
/// working directory.
pub fn base_dir(source: &ConfigSource) -> PathBuf {
    source.base_dir()
}

/// Imports the file era's history directory and `audit.jsonl` (idempotent; problems are
/// logged, never fatal: the files stay where they are).
async fn import_file_era(store: &StateStore, config: &Path) {
    let dir = file_era_history_dir(config);
    if !dir.is_dir() {
        return;
    }
    match store.config_versions().import_history_dir(&dir).await {
        Ok(report) => tracing::info!(dir = %dir.display(), ?report, "file-era config history imported"),
        Err(error) => tracing::warn!(dir = %dir.display(), %error, "file-era config history not imported"),
    }
    let audit = dir.join("audit.jsonl");
    if audit.is_file() {
        match store.audit().import_jsonl_file(&audit).await {
            Ok(report) => tracing::info!(file = %audit.display(), ?report, "file-era audit imported"),
            Err(error) => tracing::warn!(file = %audit.display(), %error, "file-era audit not imported"),
        }
    }
}

fn replica_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host: String = host.trim().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(40).collect();
    format!(
        "{}-{}-{:04x}",
        if host.is_empty() { "switchyard" } else { &host },
        std::process::id(),
        rand::random::<u16>()
    )
}
