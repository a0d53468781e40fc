//! Reloads on file changes and `SIGHUP`: one task turns every event into
//! [`ConfigStore::reload`] calls, coalescing the burst of events one save produces.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};

use super::{ConfigSource, ConfigStore};

/// Debounce for bursts of file events from one save.
const WATCH_DEBOUNCE: Duration = Duration::from_millis(100);

// === impl ConfigStore ===

impl<P: Send + Sync + 'static> ConfigStore<P> {
    /// Watches the config file (file mode), the log (shared mode: versions stored by
    /// other replicas) and `SIGHUP`; reloads on any. Runs until the store is dropped. Must
    /// be called inside a tokio runtime.
    pub fn spawn_watchers(self: &Arc<Self>) -> io::Result<()> {
        let (tx, mut rx) = mpsc::channel::<bool>(16);
        match (&self.source, self.log.subscribe()) {
            (ConfigSource::File(path), _) if self.process.is_none() => spawn_file_watch(path, tx.clone())?,
            (_, Some(versions)) if self.process.is_some() => spawn_log_watch(versions, tx.clone()),
            _ => {}
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
                let _ = store.reload(force).await;
            }
        });
        Ok(())
    }
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

/// Sends `false` whenever the log announces a version (another replica stored one).
fn spawn_log_watch(mut versions: watch::Receiver<u64>, tx: mpsc::Sender<bool>) {
    tokio::spawn(async move {
        while versions.changed().await.is_ok() {
            if tx.send(false).await.is_err() {
                break;
            }
        }
    });
}
