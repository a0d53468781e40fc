//! Hot reload of a listener's certificate and key (`tls` for the data plane, `admin_tls`
//! for the admin listener).
//!
//! One task per TLS listener re-reads both files when anything changes in their
//! directories (editors and cert-manager replace files by rename; Kubernetes swaps a
//! `..data` symlink beside them), on `SIGHUP`, and when a reloaded config names other
//! files. A burst of events is coalesced ([`DEBOUNCE`]); files identical to the serving
//! pair change nothing. A usable new pair is swapped into the listener's [`CertResolver`]
//! — handshakes from then on present it, connections already open keep theirs — and is
//! counted `applied`. An unusable one (unreadable, not PEM, a key that is not the
//! certificate's) is logged with the config path and file, counted `rejected`, and the
//! last good pair keeps serving; the same bad files are reported once (again on each
//! `SIGHUP`). Turning TLS on or off for a listener needs a restart (logged).
//!
//! Metric: `switchyard_tls_reloads_total{listener,result}` (`data` | `admin`; `applied`
//! | `rejected`), exported at 0 from start-up for each listener with TLS.
//!
//! The task ends when the listener starts draining (it accepts no more handshakes).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use prometheus::{IntCounterVec, Opts, Registry};
use switchyard_config::schema::{Config, TlsConfig};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;

use super::tls::{self, CertResolver, TlsError};
use super::{reached, Phase};
use crate::proxy::Table;

/// Coalesces the burst of file events one rotation produces.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// Which listener a certificate belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// `listen`, with `tls`.
    Data,
    /// `admin_listen`, with `admin_tls`.
    Admin,
}

/// `switchyard_tls_reloads_total`.
#[derive(Clone)]
pub struct TlsMetrics {
    reloads: IntCounterVec,
}

/// The state of one listener's reloads.
struct Reloader {
    listener: Listener,
    cfg: TlsConfig,
    resolver: Arc<CertResolver>,
    /// Fingerprint of the files serving now.
    serving: u64,
    /// Fingerprint of the last files refused, reported once.
    refused: Option<u64>,
    metrics: TlsMetrics,
}

/// Why the reload task woke up.
enum Wake {
    /// A file event (`false`) or `SIGHUP` (`true`: report refused files again).
    Files(bool),
    /// A new routing table (maybe other files).
    Config,
    /// Stop.
    Stop,
}

/// The listener's acceptor, with its certificate reloaded in the background until `stop`
/// reaches `Draining`; `None` without TLS. Fails if the configured pair is unusable or
/// its directories cannot be watched.
pub fn start(
    listener: Listener,
    table: &Table,
    tables: watch::Receiver<Arc<Table>>,
    metrics: &TlsMetrics,
    stop: watch::Receiver<Phase>,
) -> Result<Option<TlsAcceptor>, TlsError> {
    let Some(cfg) = listener.select(&table.config) else { return Ok(None) };
    let loaded = tls::load(listener.section(), cfg)?;
    let resolver = Arc::new(CertResolver::new(loaded.key));
    let acceptor = tls::acceptor(resolver.clone())?;
    metrics.register(listener);
    let reloader = Reloader {
        listener,
        cfg: cfg.clone(),
        resolver,
        serving: loaded.fingerprint,
        refused: None,
        metrics: metrics.clone(),
    };
    let (events, watcher) = watch_dirs(listener, &reloader.cfg)?;
    let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|source| TlsError::Read { at: listener.section().into(), path: "SIGHUP handler".into(), source })?;
    tokio::spawn(reloader.run(events, watcher, hup, tables, stop));
    Ok(Some(acceptor))
}

/// A watcher of the directories holding `cfg`'s files, and where its events arrive.
fn watch_dirs(
    listener: Listener,
    cfg: &TlsConfig,
) -> Result<(mpsc::Receiver<()>, notify::RecommendedWatcher), TlsError> {
    use notify::Watcher;
    let (tx, rx) = mpsc::channel(1);
    let fail = |path: &Path, e: notify::Error| TlsError::Read {
        at: listener.section().into(),
        path: path.display().to_string(),
        source: std::io::Error::other(e),
    };
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        // Opening and reading files (a reload's own reads among them) changes nothing;
        // a file closed after writing does.
        use notify::event::{AccessKind, AccessMode, EventKind};
        let relevant = |kind: &EventKind| match kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
            EventKind::Access(_) => false,
            _ => true,
        };
        if res.is_ok_and(|event| relevant(&event.kind)) {
            // Full means a reload is already due; it will read the files as they are then.
            let _ = tx.try_send(());
        }
    })
    .map_err(|e| fail(Path::new(&cfg.cert), e))?;
    let mut dirs: Vec<PathBuf> = [&cfg.cert, &cfg.key].iter().map(|p| parent(p)).collect();
    dirs.dedup();
    for dir in dirs {
        watcher.watch(&dir, notify::RecursiveMode::NonRecursive).map_err(|e| fail(&dir, e))?;
    }
    Ok((rx, watcher))
}

/// The directory holding `file` (the working directory for a bare name).
fn parent(file: &str) -> PathBuf {
    match Path::new(file).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

// === impl Listener ===

impl Listener {
    /// The config key of its TLS section.
    pub fn section(self) -> &'static str {
        match self {
            Self::Data => "tls",
            Self::Admin => "admin_tls",
        }
    }

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Data => "data",
            Self::Admin => "admin",
        }
    }

    fn select(self, cfg: &Config) -> Option<&TlsConfig> {
        match self {
            Self::Data => cfg.tls.as_ref(),
            Self::Admin => cfg.admin_tls.as_ref(),
        }
    }
}

// === impl TlsMetrics ===

impl TlsMetrics {
    /// Registers `switchyard_tls_reloads_total` in `registry`.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let reloads = IntCounterVec::new(
            Opts::new(
                "switchyard_tls_reloads_total",
                "Certificate/key reloads by listener (data, admin) and result (applied, rejected).",
            ),
            &["listener", "result"],
        )?;
        registry.register(Box::new(reloads.clone()))?;
        Ok(Self { reloads })
    }

    fn register(&self, listener: Listener) {
        for result in ["applied", "rejected"] {
            self.reloads.with_label_values(&[listener.label(), result]);
        }
    }

    fn count(&self, listener: Listener, result: &str) {
        self.reloads.with_label_values(&[listener.label(), result]).inc();
    }
}

// === impl Reloader ===

impl Reloader {
    async fn run(
        mut self,
        mut events: mpsc::Receiver<()>,
        mut watcher: notify::RecommendedWatcher,
        mut hup: tokio::signal::unix::Signal,
        mut tables: watch::Receiver<Arc<Table>>,
        mut stop: watch::Receiver<Phase>,
    ) {
        loop {
            let wake = tokio::select! {
                Some(()) = events.recv() => Wake::Files(false),
                Some(()) = hup.recv() => Wake::Files(true),
                changed = tables.changed() => if changed.is_ok() { Wake::Config } else { Wake::Stop },
                _ = reached(&mut stop, Phase::Draining) => Wake::Stop,
            };
            let again = match wake {
                Wake::Stop => break,
                Wake::Files(again) => again,
                Wake::Config => {
                    let table = tables.borrow_and_update().clone();
                    if !self.follow(&table.config) {
                        continue;
                    }
                    true
                }
            };
            tokio::time::sleep(DEBOUNCE).await;
            while events.try_recv().is_ok() {}
            if self.reload(again) {
                // Watch afresh: the paths may resolve to other directories now (a
                // symlinked directory repointed, or other files configured).
                match watch_dirs(self.listener, &self.cfg) {
                    Ok((rx, w)) => (events, watcher) = (rx, w),
                    Err(error) => tracing::warn!(%error, "tls: cannot watch the new files; SIGHUP still reloads"),
                }
            }
        }
        drop(watcher);
    }

    /// Takes up the files a new config names; true if they changed.
    fn follow(&mut self, cfg: &Config) -> bool {
        match self.listener.select(cfg) {
            Some(new) if *new != self.cfg => {
                self.cfg = new.clone();
                true
            }
            Some(_) => false,
            None => {
                tracing::warn!(
                    section = self.listener.section(),
                    "tls cannot be turned off while running; the listener keeps TLS until a restart"
                );
                false
            }
        }
    }

    /// Re-reads the files; swaps a usable new pair in. True when a new pair was applied.
    /// `again`: report files refused before once more (`SIGHUP`).
    fn reload(&mut self, again: bool) -> bool {
        let section = self.listener.section();
        // A fingerprint of what was found, so the same refusal is reported once (a log
        // file written in a watched directory must not make a warning per write).
        let (found, fingerprint) = match tls::read(section, &self.cfg) {
            Err(e) => {
                let fp = tls::fingerprint(e.to_string().as_bytes(), b"");
                (Err(e), fp)
            }
            Ok((cert, key)) => {
                let fp = tls::fingerprint(&cert, &key);
                if fp == self.serving {
                    self.refused = None;
                    return false;
                }
                if !again && self.refused == Some(fp) {
                    return false;
                }
                (tls::parse(section, &self.cfg, &cert, &key), fp)
            }
        };
        if !again && self.refused == Some(fingerprint) {
            return false;
        }
        match found {
            Ok(loaded) => {
                self.resolver.swap(loaded.key);
                self.serving = loaded.fingerprint;
                self.refused = None;
                self.metrics.count(self.listener, "applied");
                tracing::info!(section, cert = %self.cfg.cert, key = %self.cfg.key, "tls certificate reloaded");
                true
            }
            Err(error) => {
                self.refused = Some(fingerprint);
                self.metrics.count(self.listener, "rejected");
                tracing::warn!(section, %error, "tls certificate change rejected; the last good one keeps serving");
                false
            }
        }
    }
}
