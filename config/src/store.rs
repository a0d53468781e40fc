//! `ConfigStore`: the one place a running gateway's routing table lives.
//!
//! Holds an `ArcSwap<RoutingTable<P>>`. Readers take one `load_full()` per request and
//! keep that `Arc` for the request's life, so a swap never changes a request in flight.
//! Writers (file watch, `SIGHUP`, later the control API) go through [`ConfigStore::reload`]
//! / [`ConfigStore::apply`], which serialise on a mutex, validate and compile the *whole*
//! new table off to the side and publish it with one atomic store. A refused config is
//! logged, counted as `rejected`, and the last good table keeps serving.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use notify::{RecursiveMode, Watcher};
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use tokio::sync::{mpsc, watch};

use crate::error::ConfigError;
use crate::schema::Config;
use crate::table::{ProviderFactory, RoutingTable};
use crate::validate::parse;

/// The quick-start config compiled into the binary (`switchyard serve` without `--config`).
pub const QUICKSTART_YAML: &str = include_str!("quickstart.yaml");

/// Debounce for bursts of file events from one save.
const WATCH_DEBOUNCE: Duration = Duration::from_millis(100);

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
    /// Hash of the last source text a file-triggered reload looked at, applied or not:
    /// one save fires several file events, and a refused file is reported once.
    last_text: Mutex<u64>,
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
        let table = Arc::new(RoutingTable::build(parse(&text)?, 1, &*factory)?);
        metrics.version.set(1);
        metrics.reloads.with_label_values(&["applied"]).inc();
        let (published, _) = watch::channel(table.clone());
        Ok(Self {
            current: ArcSwap::new(table),
            source,
            factory,
            metrics,
            published,
            writer: Mutex::new(1),
            last_text: Mutex::new(text_hash(&text)),
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
        let text = match self.source.read() {
            Ok(t) => t,
            Err(e) => {
                let result = Err(e);
                self.account(&result);
                return result;
            }
        };
        {
            // Poisoning cannot leave a u64 half-written.
            let mut last = self.last_text.lock().unwrap_or_else(|p| p.into_inner());
            let hash = text_hash(&text);
            if !force && *last == hash {
                let version = *self.writer.lock().unwrap_or_else(|p| p.into_inner());
                return Ok(ReloadOutcome::Unchanged(version));
            }
            *last = hash;
        }
        let result = parse(&text).and_then(|cfg| self.publish(cfg, force));
        self.account(&result);
        result
    }

    /// Validates, compiles and publishes `config` (the control API's path).
    pub fn apply(&self, config: Config) -> Result<ReloadOutcome, ConfigError> {
        let result = self.publish(config, true);
        self.account(&result);
        result
    }

    fn publish(&self, config: Config, force: bool) -> Result<ReloadOutcome, ConfigError> {
        // A poisoned lock only means another writer panicked mid-build; the published
        // table is untouched, so continuing with its version is safe.
        let mut version = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let running = self.current.load();
        if !force && *running.config == config {
            return Ok(ReloadOutcome::Unchanged(*version));
        }
        let table = Arc::new(RoutingTable::build(config, *version + 1, &*self.factory)?);
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

    /// Watches the config file (if any) and `SIGHUP`; reloads on either. Runs until the
    /// store is dropped. Must be called inside a tokio runtime.
    pub fn spawn_watchers(self: &Arc<Self>) -> io::Result<()> {
        let (tx, mut rx) = mpsc::channel::<bool>(16);
        if let ConfigSource::File(path) = &self.source {
            spawn_file_watch(path, tx.clone())?;
        }
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        let hup_tx = tx;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                if hup_tx.send(true).await.is_err() {
                    break;
                }
            }
        });
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(mut force) = rx.recv().await {
                // Coalesce the burst of events one save produces.
                tokio::time::sleep(WATCH_DEBOUNCE).await;
                while let Ok(f) = rx.try_recv() {
                    force |= f;
                }
                let Some(store) = weak.upgrade() else { break };
                let _ = store.reload(force);
            }
        });
        Ok(())
    }
}

fn text_hash(text: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(text.as_bytes())
}

/// Watches the file's directory (editors replace files by rename) and sends `false` on
/// every event touching the file. The watcher lives as long as the channel.
fn spawn_file_watch(path: &Path, tx: mpsc::Sender<bool>) -> io::Result<()> {
    let path = std::path::absolute(path)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let name = path.file_name().map(|n| n.to_os_string());
    let event_tx = tx.clone();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res {
            if event.paths.iter().any(|p| p.file_name().map(|n| n.to_os_string()) == name) {
                let _ = event_tx.try_send(false);
            }
        }
    })
    .map_err(io::Error::other)?;
    watcher.watch(&dir, RecursiveMode::NonRecursive).map_err(io::Error::other)?;
    // Keep the watcher alive until the reload loop is gone.
    tokio::spawn(async move {
        tx.closed().await;
        drop(watcher);
    });
    Ok(())
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
