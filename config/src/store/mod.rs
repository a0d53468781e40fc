//! `ConfigStore`: the one place a running gateway's routing table lives.
//!
//! Holds an `ArcSwap<RoutingTable<P>>`. Readers take one `load_full()` per request and
//! keep that `Arc` for the request's life, so a swap never changes a request in flight.
//! Writers (file watch, `SIGHUP`, the control API, a version stored by another replica)
//! go through [`ConfigStore::reload`] / [`ConfigStore::edit`], which serialise on one
//! lock, validate and compile the *whole* new table off to the side and publish it with
//! one atomic store. A refused config is logged, counted as `rejected`, and the last good
//! table keeps serving.
//!
//! Versions only grow and survive restarts: every applied config is appended to the
//! [`VersionLog`] (the state store) with a compare-and-set, and an edit's audit entry is
//! stored in the same transaction. An edit names the version it was based on
//! (`If-Match`); a stale one is refused, so two operators — or two replicas — cannot
//! overwrite each other.
//!
//! Two modes ([`edit`](ConfigStore::edit) explains each write):
//! - **file** (default): the file holds everything; an edit rewrites it atomically (temp
//!   file, fsync, rename) and appends it to the log; the file watcher applies saves.
//! - **shared** (`state.shared_config: true`): the file holds the process's own settings;
//!   the routing config is the newest version in the log ([`crate::split`]), which every
//!   replica applies when the log says a newer one exists.

mod edit_api;
mod editor;
mod file_watch;
mod source;
mod start;

use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use tokio::sync::watch;

use crate::atomic::write_atomically;
use crate::catalog::CatalogView;
use crate::error::ConfigError;
use crate::log::{ChangeNote, LogError, VersionLog};
use crate::schema::Config;
use crate::split::{compose, routing_text};
use crate::table::{ProviderFactory, RoutingTable};
use crate::validate::parse;

pub use crate::log::BoxFuture;
pub use edit_api::{Change, ConfigEditor, Describe, EditError, Edited};
pub use source::ConfigSource;

/// The quick-start config compiled into the binary (`switchyard serve` without `--config`).
pub const QUICKSTART_YAML: &str = include_str!("../quickstart.yaml");

/// The `expected` version of an edit that applies to whatever version is current
/// (`If-Match: *`): the check against the running version is skipped, the store's own
/// compare-and-set still holds (a version stored meanwhile by another replica wins).
pub const ANY_VERSION: u64 = u64::MAX;

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// A new table was published with this version.
    Applied(u64),
    /// The config was identical to the running one; nothing changed.
    Unchanged(u64),
}

/// The hot-swapped routing table and its update paths.
pub struct ConfigStore<P> {
    current: ArcSwap<RoutingTable<P>>,
    source: ConfigSource,
    factory: Arc<ProviderFactory<P>>,
    metrics: ConfigMetrics,
    published: watch::Sender<Arc<RoutingTable<P>>>,
    log: Arc<dyn VersionLog>,
    /// The process's own settings when the routing config is shared (`None`: file mode).
    process: Option<Config>,
    /// Serialises writers; holds the last published version.
    writer: tokio::sync::Mutex<u64>,
    /// Hash of the last source text a file-triggered reload looked at, applied or not,
    /// and why it was refused if it was: one save fires several file events, and a
    /// refused file is counted and logged once — but every caller that reloads it is
    /// told it was refused (not `Unchanged`). Never held across an `.await`.
    last_text: Mutex<(u64, Option<ConfigError>)>,
    /// Serialises reloads (the file watcher, SIGHUP, the log watch, callers), so a reload
    /// never sees another's text as "seen" before its outcome is known. Lock order:
    /// `reloading`, then `writer`.
    reloading: tokio::sync::Mutex<()>,
    /// The model catalog the tables are built with (`None` until the control plane sets
    /// it; then its problems refuse configs). Read only when a table is built.
    catalog: Mutex<Option<Arc<CatalogView>>>,
}

#[derive(Clone)]
struct ConfigMetrics {
    reloads: IntCounterVec,
    version: IntGauge,
}

/// Parses, validates and compiles `text` without publishing anything (`check-config`).
pub fn check<P>(text: &str, factory: &ProviderFactory<P>) -> Result<RoutingTable<P>, ConfigError> {
    RoutingTable::build(parse(text)?, 0, factory)
}

/// [`check`] on a machine without the config's secrets: secrets that do not resolve are
/// returned as warnings instead of failing (`check-config` without `--strict`).
pub fn check_offline<P>(
    text: &str,
    factory: &ProviderFactory<P>,
) -> Result<(RoutingTable<P>, Vec<crate::Problem>), ConfigError> {
    RoutingTable::build_offline(parse(text)?, factory)
}

// === impl ConfigStore ===

impl<P: Send + Sync + 'static> ConfigStore<P> {
    /// Loads and compiles the initial table, continuing the log's versions, and registers
    /// the config metrics.
    pub async fn load(
        source: ConfigSource,
        factory: Arc<ProviderFactory<P>>,
        registry: &Registry,
        log: Arc<dyn VersionLog>,
    ) -> Result<Self, ConfigError> {
        let metrics = ConfigMetrics::new(registry).map_err(|e| ConfigError::one("", e.to_string()))?;
        let text = source.read()?;
        let file = parse(&text)?;
        let process = file.state.shared_config.then(|| file.clone());
        let table = match &process {
            Some(process) => start::initial_shared(process, &text, &*log, &*factory).await?,
            None => start::initial_file(file, &text, &*log, &*factory).await?,
        };
        let table = Arc::new(table);
        let version = table.version;
        metrics.version.set(i64::try_from(version).unwrap_or(i64::MAX));
        metrics.reloads.with_label_values(&["applied"]).inc();
        let (published, _) = watch::channel(table.clone());
        Ok(Self {
            current: ArcSwap::new(table),
            source,
            factory,
            metrics,
            published,
            log,
            process,
            writer: tokio::sync::Mutex::new(version),
            last_text: Mutex::new((text_hash(&text), None)),
            reloading: tokio::sync::Mutex::new(()),
            catalog: Mutex::new(None),
        })
    }

    /// The table to use for one request. Keep the `Arc` for the request's life.
    #[inline]
    pub fn current(&self) -> Arc<RoutingTable<P>> {
        self.current.load_full()
    }

    /// Where the config is read from.
    pub fn source(&self) -> &ConfigSource {
        &self.source
    }

    /// Whether the routing config is shared through the state store.
    pub fn is_shared(&self) -> bool {
        self.process.is_some()
    }

    /// A receiver that sees every published table (for provisioning and the like).
    pub fn subscribe(&self) -> watch::Receiver<Arc<RoutingTable<P>>> {
        self.published.subscribe()
    }

    /// Re-reads the source (file mode) or the log's newest version (shared mode);
    /// publishes it when valid and different (`force`: even if equal).
    pub async fn reload(&self, force: bool) -> Result<ReloadOutcome, ConfigError> {
        let _one_at_a_time = self.reloading.lock().await;
        if self.process.is_some() {
            let result = self.sync_from_log().await;
            self.account(&result);
            return result;
        }
        let text = match self.source.read() {
            Ok(t) => t,
            Err(e) => {
                let result = Err(e);
                self.account(&result);
                return result;
            }
        };
        let hash = text_hash(&text);
        {
            let mut last = self.last_text.lock();
            if !force && last.0 == hash {
                return match &last.1 {
                    Some(refused) => Err(refused.clone()),
                    None => Ok(ReloadOutcome::Unchanged(self.current.load().version)),
                };
            }
            *last = (hash, None);
        }
        let result = match parse(&text) {
            Ok(cfg) => self.publish_file(cfg, force, &text).await,
            Err(e) => Err(e),
        };
        self.account(&result);
        if let Err(refused) = &result {
            let mut last = self.last_text.lock();
            if last.0 == hash {
                last.1 = Some(refused.clone());
            }
        }
        result
    }

    /// Applies `change` to a copy of the current config — only if `expected` is the
    /// current version ([`ANY_VERSION`]: whichever is) — validates and compiles the result, stores it (with the note
    /// `describe` makes from the config before and after) and publishes it.
    ///
    /// File mode: the file is rewritten atomically, then the version appended; if the
    /// append fails the file is put back, so a change is persisted and audited or nothing
    /// changes. Shared mode: the routing document is appended with a compare-and-set that
    /// holds across replicas.
    pub async fn edit(
        &self,
        expected: u64,
        change: impl FnOnce(&mut Config) -> Result<(), ConfigError>,
        describe: impl FnOnce(&Config, &Config) -> ChangeNote,
    ) -> Result<Edited, EditError> {
        if matches!(self.source, ConfigSource::Embedded(_)) {
            return Err(EditError::ReadOnly);
        }
        let mut version = self.writer.lock().await;
        let expected = if expected == ANY_VERSION { *version } else { expected };
        if expected != *version {
            return Err(EditError::Stale { current: *version });
        }
        let before = self.current.load().config.clone();
        let mut config = (*before).clone();
        change(&mut config).map_err(EditError::Invalid)?;
        let mut table = self.build(config).map_err(|e| {
            self.account(&Err(e.clone()));
            EditError::Invalid(e)
        })?;
        let note = describe(&before, &table.config);
        table.version = match &self.source {
            ConfigSource::File(path) if self.process.is_none() => {
                self.store_file_edit(path, expected, &table.config, &note).await?
            }
            _ => {
                let text = routing_text(&table.config).map_err(EditError::Invalid)?;
                self.log.append(expected, &text, &note).await.map_err(edit_error)?
            }
        };
        *version = table.version;
        let table = Arc::new(table);
        let after = table.config.clone();
        self.current.store(table.clone());
        self.published.send_replace(table);
        self.account(&Ok(ReloadOutcome::Applied(*version)));
        Ok(Edited { version: *version, before, after })
    }

    /// File mode's write: the file, then the log; the file is restored when the log
    /// refuses. The watcher is told the new text is not a change of its own.
    async fn store_file_edit(
        &self,
        path: &std::path::Path,
        expected: u64,
        config: &Config,
        note: &ChangeNote,
    ) -> Result<u64, EditError> {
        let text = serde_yaml_ng::to_string(config).map_err(|e| EditError::Io(e.to_string()))?;
        let old = std::fs::read(path).map_err(|e| EditError::Io(format!("{}: {e}", path.display())))?;
        write_atomically(path, text.as_bytes()).map_err(|e| EditError::Io(format!("{}: {e}", path.display())))?;
        *self.last_text.lock() = (text_hash(&text), None);
        match self.log.append(expected, &text, note).await {
            Ok(v) => Ok(v),
            Err(e) => {
                if let Err(io) = write_atomically(path, &old) {
                    tracing::error!(path = %path.display(), error = %io, "config edit not stored and the file could not be restored; it holds the refused edit");
                }
                *self.last_text.lock() = (xxhash_rust::xxh3::xxh3_64(&old), None);
                Err(edit_error(e))
            }
        }
    }

    /// Publishes a reloaded file's config (file mode) as a new logged version.
    async fn publish_file(&self, config: Config, force: bool, text: &str) -> Result<ReloadOutcome, ConfigError> {
        let mut version = self.writer.lock().await;
        let running = self.current.load();
        if !force && *running.config == config {
            return Ok(ReloadOutcome::Unchanged(*version));
        }
        let mut table = self.build(config)?;
        let note = ChangeNote { actor: "file".into(), reason: "the config file changed".into(), audit: None };
        table.version = self.log.append(*version, text, &note).await.map_err(log_problem)?;
        *version = table.version;
        self.current.store(Arc::new(table));
        self.published.send_replace(self.current.load_full());
        Ok(ReloadOutcome::Applied(*version))
    }

    /// Shared mode: applies the log's newest version when it is newer than the running one.
    async fn sync_from_log(&self) -> Result<ReloadOutcome, ConfigError> {
        let Some(process) = &self.process else { return Ok(ReloadOutcome::Unchanged(self.current.load().version)) };
        let latest = self.log.latest().await.map_err(log_problem)?;
        let mut version = self.writer.lock().await;
        let Some(latest) = latest.filter(|l| l.version > *version) else {
            return Ok(ReloadOutcome::Unchanged(*version));
        };
        let mut table = self.build(compose(process, &latest.text)?)?;
        table.version = latest.version;
        *version = latest.version;
        self.current.store(Arc::new(table));
        self.published.send_replace(self.current.load_full());
        Ok(ReloadOutcome::Applied(latest.version))
    }

    /// Compiles `config` with the catalog, once one is set (its problems refuse it).
    fn build(&self, config: Config) -> Result<RoutingTable<P>, ConfigError> {
        let catalog = self.catalog.lock().clone();
        match catalog {
            None => RoutingTable::build(config, 0, &*self.factory),
            Some(view) => RoutingTable::build_with_catalog(config, 0, &*self.factory, &view, true).map(|(t, _)| t),
        }
    }

    /// Takes a new catalog snapshot (SPEC §8): the running config is compiled again with
    /// it, at the same version, and published, so the data plane prices requests with the
    /// new entries from its next decision on. The catalog's problems with the running
    /// config are logged, not refused (a catalog change must not stop new prices);
    /// later config changes are checked against this catalog.
    pub async fn set_catalog(&self, view: Arc<CatalogView>) {
        let version = self.writer.lock().await;
        *self.catalog.lock() = Some(view.clone());
        let running = self.current.load_full();
        if *running.catalog == *view {
            return; // the table already has these entries: no rebuild (its pools stay)
        }
        match RoutingTable::build_with_catalog((*running.config).clone(), *version, &*self.factory, &view, false) {
            Ok((table, warnings)) => {
                for p in &warnings {
                    tracing::warn!(problem = %p, "the catalog does not fit the running config; it keeps serving");
                }
                let table = Arc::new(table);
                self.current.store(table.clone());
                self.published.send_replace(table);
                tracing::debug!(entries = view.len(), version = *version, "catalog applied to the routing table");
            }
            Err(e) => {
                for p in &e.problems {
                    tracing::warn!(problem = %p, "routing table not rebuilt with the new catalog; the last one keeps serving");
                }
            }
        }
    }

    fn account(&self, result: &Result<ReloadOutcome, ConfigError>) {
        match result {
            Ok(ReloadOutcome::Applied(v)) => {
                self.metrics.reloads.with_label_values(&["applied"]).inc();
                self.metrics.version.set(i64::try_from(*v).unwrap_or(i64::MAX));
                tracing::info!(version = v, "config applied");
            }
            Ok(ReloadOutcome::Unchanged(_)) => {
                self.metrics.reloads.with_label_values(&["unchanged"]).inc();
            }
            Err(err) => {
                self.metrics.reloads.with_label_values(&["rejected"]).inc();
                for p in &err.problems {
                    tracing::warn!(problem = %p, "config change rejected; last good config keeps serving");
                }
            }
        }
    }
}

fn text_hash(text: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(text.as_bytes())
}

pub(crate) fn edit_error(e: LogError) -> EditError {
    match e {
        LogError::Stale { current } => EditError::Stale { current },
        LogError::Unavailable(m) => EditError::Unavailable(m),
        LogError::Failed(m) => EditError::Io(m),
    }
}

pub(crate) fn log_problem(e: LogError) -> ConfigError {
    ConfigError::one("state", e.to_string())
}

// === impl ConfigMetrics ===

impl ConfigMetrics {
    fn new(registry: &Registry) -> prometheus::Result<Self> {
        let reloads = IntCounterVec::new(
            Opts::new("switchyard_config_reloads_total", "Config loads by result (applied, unchanged, rejected)."),
            &["result"],
        )?;
        let version = IntGauge::new("switchyard_config_version", "Version of the routing table serving requests.")?;
        registry.register(Box::new(reloads.clone()))?;
        registry.register(Box::new(version.clone()))?;
        for r in ["applied", "unchanged", "rejected"] {
            reloads.with_label_values(&[r]);
        }
        Ok(Self { reloads, version })
    }
}
