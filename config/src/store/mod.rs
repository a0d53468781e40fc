//! `ConfigStore`: the one place a running gateway's routing table lives.
//!
//! Holds an `ArcSwap<RoutingTable<P>>`. Readers take one `load_full()` per request and
//! keep that `Arc` for the request's life, so a swap never changes a request in flight.
//! Writers (file watch, `SIGHUP`, the control API) go through [`ConfigStore::reload`] /
//! [`ConfigStore::edit`], which serialise on a mutex, validate and compile the *whole*
//! new table off to the side and publish it with one atomic store. A refused config is
//! logged, counted as `rejected`, and the last good table keeps serving.
//!
//! Versions only grow and survive restarts: every applied config is kept in the file's
//! [`History`]. An edit names the version it was based on (`If-Match`); a stale one is
//! refused, so two operators cannot overwrite each other. An edit is written to the
//! config file atomically (temp file, fsync, rename) before it is published.

mod file_watch;

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use tokio::sync::watch;

use crate::error::ConfigError;
use crate::history::{write_atomically, History, VersionInfo};
use crate::schema::Config;
use crate::table::{ProviderFactory, RoutingTable};
use crate::validate::parse;

/// The quick-start config compiled into the binary (`switchyard serve` without `--config`).
pub const QUICKSTART_YAML: &str = include_str!("../quickstart.yaml");

/// Where the config comes from.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// A YAML file, watched for changes.
    File(PathBuf),
    /// YAML compiled into the binary; reloads re-apply it.
    Embedded(&'static str),
}

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
    /// Serialises writers; holds the last published version.
    writer: Mutex<u64>,
    /// Hash of the last source text a file-triggered reload looked at, applied or not,
    /// and why it was refused if it was: one save fires several file events, and a
    /// refused file is counted and logged once — but every caller that reloads it is
    /// told it was refused (not `Unchanged`).
    last_text: Mutex<(u64, Option<ConfigError>)>,
    /// Serialises reloads (the file watcher, SIGHUP, callers), so a reload never sees
    /// another's text as "seen" before its outcome is known. Lock order: `reloading`,
    /// then `last_text` or `writer`; never taken while holding either.
    reloading: Mutex<()>,
    /// Where applied versions are kept (`None` for the embedded config).
    history: Option<History>,
}

/// Why an edit was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The edit was based on an older version (HTTP 412).
    #[error("config version {current} is current; the change was based on an older version")]
    Stale {
        /// The version now serving.
        current: u64,
    },
    /// The resulting config is invalid (HTTP 422).
    #[error("{0}")]
    Invalid(ConfigError),
    /// The running config is the embedded quick start; there is no file to write.
    #[error("the running config is embedded; start with --config FILE to edit it")]
    ReadOnly,
    /// No such version in the history.
    #[error("config version {0} is not in the history")]
    UnknownVersion(u64),
    /// Writing the file failed; nothing was applied.
    #[error("could not persist the config: {0}")]
    Io(String),
}

/// A successful edit.
#[derive(Debug, Clone)]
pub struct Edited {
    /// The new version.
    pub version: u64,
    /// The config before.
    pub before: Arc<Config>,
    /// The config after.
    pub after: Arc<Config>,
}

/// The store as the control API sees it: config text and versions, no runtime parts.
pub trait ConfigEditor: Send + Sync {
    /// The config serving now and its version.
    fn snapshot(&self) -> (Arc<Config>, u64);
    /// Applies `change` to a copy of the current config if `expected` is current.
    fn edit_with(
        &self,
        expected: u64,
        change: &mut dyn FnMut(&mut Config) -> Result<(), ConfigError>,
    ) -> Result<Edited, EditError>;
    /// Re-applies a stored version as a new version.
    fn rollback(&self, expected: u64, to: u64) -> Result<Edited, EditError>;
    /// Stored versions, oldest first.
    fn versions(&self) -> io::Result<Vec<VersionInfo>>;
    /// The YAML text of a stored version.
    fn version_text(&self, version: u64) -> io::Result<Option<String>>;
    /// The history directory (audit logs live beside it).
    fn history_dir(&self) -> Option<PathBuf>;
}

#[derive(Clone)]
struct ConfigMetrics {
    reloads: IntCounterVec,
    version: IntGauge,
}

// === impl ConfigSource ===

impl ConfigSource {
    /// Reads the YAML text.
    pub fn read(&self) -> Result<String, ConfigError> {
        match self {
            Self::File(path) => std::fs::read_to_string(path)
                .map_err(|e| ConfigError::one("", format!("cannot read {}: {e}", path.display()))),
            Self::Embedded(text) => Ok((*text).to_owned()),
        }
    }
}

/// Parses, validates and compiles `text` without publishing anything (`check-config`).
pub fn check<P>(text: &str, factory: &ProviderFactory<P>) -> Result<RoutingTable<P>, ConfigError> {
    RoutingTable::build(parse(text)?, 0, factory)
}

// === impl ConfigStore ===

impl<P: Send + Sync + 'static> ConfigStore<P> {
    /// Loads and compiles the initial table (version 1) and registers the config metrics.
    pub fn load(
        source: ConfigSource,
        factory: Arc<ProviderFactory<P>>,
        registry: &Registry,
    ) -> Result<Self, ConfigError> {
        let metrics = ConfigMetrics::new(registry).map_err(|e| ConfigError::one("", e.to_string()))?;
        let text = source.read()?;
        let history = match &source {
            ConfigSource::File(path) => Some(History::for_config(path)),
            ConfigSource::Embedded(_) => None,
        };
        let io = |e: io::Error| ConfigError::one("", format!("config history: {e}"));
        let latest = history.as_ref().map(History::latest).transpose().map_err(io)?.flatten();
        let version = match &latest {
            Some((v, t)) if *t == text => *v,
            Some((v, _)) => v + 1,
            None => 1,
        };
        let table = Arc::new(RoutingTable::build(parse(&text)?, version, &*factory)?);
        if let Some(h) = &history {
            if latest.as_ref().is_none_or(|(v, _)| *v != version) {
                h.store(version, &text).map_err(io)?;
            }
        }
        metrics.version.set(i64::try_from(version).unwrap_or(i64::MAX));
        metrics.reloads.with_label_values(&["applied"]).inc();
        let (published, _) = watch::channel(table.clone());
        Ok(Self {
            current: ArcSwap::new(table),
            source,
            factory,
            metrics,
            published,
            writer: Mutex::new(version),
            last_text: Mutex::new((text_hash(&text), None)),
            reloading: Mutex::new(()),
            history,
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

    /// A receiver that sees every published table (for provisioning and the like).
    pub fn subscribe(&self) -> watch::Receiver<Arc<RoutingTable<P>>> {
        self.published.subscribe()
    }

    /// Re-reads the source; publishes it when valid and different (`force`: even if equal).
    pub fn reload(&self, force: bool) -> Result<ReloadOutcome, ConfigError> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let text = match self.source.read() {
            Ok(t) => t,
            Err(e) => {
                let result = Err(e);
                self.account(&result);
                return result;
            }
        };
        // Lock order: `last_text` is never held while taking `writer` (`edit` takes them
        // the other way round). Poisoning cannot leave a u64 half-written.
        let hash = text_hash(&text);
        {
            let mut last = self.last_text.lock().unwrap_or_else(|p| p.into_inner());
            if !force && last.0 == hash {
                return match &last.1 {
                    Some(refused) => Err(refused.clone()),
                    None => Ok(ReloadOutcome::Unchanged(self.current.load().version)),
                };
            }
            *last = (hash, None);
        }
        let result = parse(&text).and_then(|cfg| self.publish(cfg, force, &text));
        self.account(&result);
        if let Err(refused) = &result {
            let mut last = self.last_text.lock().unwrap_or_else(|p| p.into_inner());
            if last.0 == hash {
                last.1 = Some(refused.clone());
            }
        }
        result
    }

    /// Applies `change` to a copy of the current config — only if `expected` is the
    /// current version — validates and compiles the result, writes it to the config file
    /// atomically, keeps it in the history and publishes it.
    pub fn edit(
        &self,
        expected: u64,
        change: impl FnOnce(&mut Config) -> Result<(), ConfigError>,
    ) -> Result<Edited, EditError> {
        let ConfigSource::File(path) = &self.source else { return Err(EditError::ReadOnly) };
        // A poisoned lock only means another writer panicked mid-build; the published
        // table is untouched, so continuing with its version is safe.
        let mut version = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if expected != *version {
            return Err(EditError::Stale { current: *version });
        }
        let before = self.current.load().config.clone();
        let mut config = (*before).clone();
        change(&mut config).map_err(EditError::Invalid)?;
        let table = RoutingTable::build(config, *version + 1, &*self.factory).map_err(|e| {
            self.account(&Err(e.clone()));
            EditError::Invalid(e)
        })?;
        let text = serde_yaml_ng::to_string(&*table.config).map_err(|e| EditError::Io(e.to_string()))?;
        write_atomically(path, text.as_bytes()).map_err(|e| EditError::Io(e.to_string()))?;
        if let Some(h) = &self.history {
            h.store(*version + 1, &text).map_err(|e| EditError::Io(e.to_string()))?;
        }
        // The watcher will see our own write; it is not a new change.
        *self.last_text.lock().unwrap_or_else(|p| p.into_inner()) = (text_hash(&text), None);
        *version += 1;
        let table = Arc::new(table);
        let after = table.config.clone();
        self.current.store(table.clone());
        self.published.send_replace(table);
        self.account(&Ok(ReloadOutcome::Applied(*version)));
        Ok(Edited { version: *version, before, after })
    }

    fn publish(&self, config: Config, force: bool, text: &str) -> Result<ReloadOutcome, ConfigError> {
        // See `edit` on poisoning.
        let mut version = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let running = self.current.load();
        if !force && *running.config == config {
            return Ok(ReloadOutcome::Unchanged(*version));
        }
        let table = Arc::new(RoutingTable::build(config, *version + 1, &*self.factory)?);
        if let Some(h) = &self.history {
            h.store(*version + 1, text).map_err(|e| ConfigError::one("", format!("config history: {e}")))?;
        }
        *version += 1;
        self.current.store(table.clone());
        self.published.send_replace(table);
        Ok(ReloadOutcome::Applied(*version))
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

impl<P: Send + Sync + 'static> ConfigEditor for ConfigStore<P> {
    fn snapshot(&self) -> (Arc<Config>, u64) {
        let t = self.current.load();
        (t.config.clone(), t.version)
    }

    fn edit_with(
        &self,
        expected: u64,
        change: &mut dyn FnMut(&mut Config) -> Result<(), ConfigError>,
    ) -> Result<Edited, EditError> {
        self.edit(expected, change)
    }

    fn rollback(&self, expected: u64, to: u64) -> Result<Edited, EditError> {
        let history = self.history.as_ref().ok_or(EditError::ReadOnly)?;
        let text = history.text(to).map_err(|e| EditError::Io(e.to_string()))?.ok_or(EditError::UnknownVersion(to))?;
        let target = parse(&text).map_err(EditError::Invalid)?;
        self.edit(expected, move |cfg| {
            *cfg = target;
            Ok(())
        })
    }

    fn versions(&self) -> io::Result<Vec<VersionInfo>> {
        self.history.as_ref().map_or(Ok(Vec::new()), History::list)
    }

    fn version_text(&self, version: u64) -> io::Result<Option<String>> {
        self.history.as_ref().map_or(Ok(None), |h| h.text(version))
    }

    fn history_dir(&self) -> Option<PathBuf> {
        self.history.as_ref().map(|h| h.dir().to_path_buf())
    }
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
