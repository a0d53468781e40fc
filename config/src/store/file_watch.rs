//! Reloads on file changes and `SIGHUP`: one task turns every event into
//! [`ConfigStore::reload`] calls, coalescing the burst of events one save produces.
//!
//! Invariant: only events that can change the config file reach the reload loop, and
//! nothing is logged for any other event — a log file in the config's directory under
//! `RUST_LOG=trace` would otherwise feed the watcher its own log lines forever.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

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

/// The config file's name in its (absolute) directory.
fn dir_and_name(path: &Path) -> io::Result<(PathBuf, std::ffi::OsString)> {
    let path = std::path::absolute(path)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    Ok((dir, name))
}

/// Watches the file's directory (editors replace files by rename) with inotify and sends
/// `false` for every event that can change the config file: a write closed on it, a file
/// renamed or created in its place, its deletion (and a queue overflow, which may hide
/// one). Writes still in progress (`IN_MODIFY`) and reads (`IN_OPEN`) are not watched at
/// all, and events for other files in the directory are dropped before anything is
/// logged — so a log file written beside the config, or the reload's own read of the
/// file, never wakes the watcher. The watch lives as long as the channel.
#[cfg(target_os = "linux")]
fn spawn_file_watch(path: &Path, tx: mpsc::Sender<bool>) -> io::Result<()> {
    use futures_util::StreamExt;
    use inotify::{EventMask, Inotify, WatchMask};

    let (dir, name) = dir_and_name(path)?;
    let inotify = Inotify::init()?;
    let changes =
        WatchMask::CLOSE_WRITE | WatchMask::MOVED_TO | WatchMask::MOVED_FROM | WatchMask::CREATE | WatchMask::DELETE;
    inotify.watches().add(&dir, changes)?;
    let mut events = inotify.into_event_stream([0u8; 4096])?;
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                _ = tx.closed() => break,
                event = events.next() => event,
            };
            match event {
                Some(Ok(e)) => {
                    let overflow = e.mask.contains(EventMask::Q_OVERFLOW);
                    if !overflow && e.name.as_deref() != Some(name.as_os_str()) {
                        continue;
                    }
                    tracing::trace!(file = ?name, mask = ?e.mask, "config file event");
                    let _ = tx.try_send(false);
                }
                Some(Err(error)) => {
                    tracing::warn!(dir = %dir.display(), %error, "config file watch stopped; SIGHUP still reloads");
                    break;
                }
                None => break,
            }
        }
    });
    Ok(())
}

/// Elsewhere: `notify` on the file's directory; events for other files and reads of the
/// config (access events) are dropped, so the reload's own read never wakes the watcher.
#[cfg(not(target_os = "linux"))]
fn spawn_file_watch(path: &Path, tx: mpsc::Sender<bool>) -> io::Result<()> {
    use notify::{EventKind, RecursiveMode, Watcher};

    let (dir, name) = dir_and_name(path)?;
    let event_tx = tx.clone();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res {
            let change = !matches!(event.kind, EventKind::Access(_));
            if change && event.paths.iter().any(|p| p.file_name() == Some(name.as_os_str())) {
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
