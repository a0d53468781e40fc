//! Change notifications: a receiver of the newest stored config version.
//!
//! Two sources feed one `tokio::sync::watch` channel, which only ever moves forward:
//! - PostgreSQL `LISTEN switchyard_config_versions` (the append's transaction sends the
//!   `NOTIFY`), on its own connection; after the listener (re)connects it reads the newest
//!   version once, since notifications sent while it was away are lost;
//! - polling `MAX(version)` every `poll_interval` (default 1 s), which catches any missed
//!   notification and is the only source on SQLite.
//!
//! Invariant: a version stored by any replica reaches every watcher within
//! `poll_interval` plus one query, and normally within milliseconds on PostgreSQL.
//! Watchers see the newest version only; a consumer that needs each version reads them
//! from [`crate::ConfigVersions`]. Dropping the [`VersionWatch`] stops its tasks.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config_versions::{ConfigVersions, NOTIFY_CHANNEL};
use crate::db::Pool;
use crate::error::StateError;

/// How a [`VersionWatch`] learns of new versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchOptions {
    /// How often to read the newest version as a fallback (the only source on SQLite).
    /// Default 1 s.
    pub poll_interval: Duration,
    /// PostgreSQL: also `LISTEN` for notifications. Default true; ignored on SQLite.
    pub listen: bool,
}

/// The newest stored config version, kept current in the background.
#[derive(Debug)]
pub struct VersionWatch {
    rx: watch::Receiver<u64>,
    tasks: Vec<JoinHandle<()>>,
}

// === impl WatchOptions ===

impl Default for WatchOptions {
    fn default() -> Self {
        Self { poll_interval: Duration::from_secs(1), listen: true }
    }
}

// === impl VersionWatch ===

impl VersionWatch {
    /// Reads the current version (so the store must be reachable now) and starts the
    /// background sources.
    pub(crate) async fn start(versions: ConfigVersions, options: WatchOptions) -> Result<Self, StateError> {
        if options.poll_interval < Duration::from_millis(10) {
            return Err(StateError::invalid("poll_interval", "must be at least 10 ms"));
        }
        let current = versions.latest_version().await?;
        let (tx, rx) = watch::channel(current);
        let tx = Arc::new(tx);
        let mut tasks = vec![tokio::spawn(poll(versions.clone(), Arc::clone(&tx), options.poll_interval))];
        if let (Pool::Postgres(_), true) = (versions.pool(), options.listen) {
            tasks.push(tokio::spawn(listen(versions, tx, options.poll_interval)));
        }
        Ok(Self { rx, tasks })
    }

    /// The newest version seen (0: none stored).
    pub fn current(&self) -> u64 {
        *self.rx.borrow()
    }

    /// A receiver of its own; it reports the sender closed once this watch is dropped.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.rx.clone()
    }

    /// Waits until a version newer than the last one seen through this watch is stored,
    /// and returns it.
    pub async fn changed(&mut self) -> u64 {
        // The sender lives in our own tasks, which only end when this watch is dropped.
        let _ = self.rx.changed().await;
        *self.rx.borrow_and_update()
    }
}

impl Drop for VersionWatch {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Moves the channel forward to `version` (never back).
fn advance(tx: &watch::Sender<u64>, version: u64) {
    tx.send_if_modified(|current| {
        if version > *current {
            *current = version;
            true
        } else {
            false
        }
    });
}

async fn poll(versions: ConfigVersions, tx: Arc<watch::Sender<u64>>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        ticker.tick().await;
        match versions.latest_version().await {
            Ok(version) => {
                if failing {
                    tracing::info!("config version poll recovered");
                }
                failing = false;
                advance(&tx, version);
            }
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(%error, "config version poll failed; retrying every interval");
            }
            Err(_) => {}
        }
    }
}

async fn listen(versions: ConfigVersions, tx: Arc<watch::Sender<u64>>, retry: Duration) {
    let Pool::Postgres(pool) = versions.pool().clone() else { return };
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(error) => {
                tracing::debug!(%error, "config version listener cannot connect; polling meanwhile");
                tokio::time::sleep(retry).await;
                continue;
            }
        };
        if let Err(error) = listener.listen(NOTIFY_CHANNEL).await {
            tracing::debug!(%error, "LISTEN failed; polling meanwhile");
            tokio::time::sleep(retry).await;
            continue;
        }
        // Anything stored while we were not listening.
        if let Ok(version) = versions.latest_version().await {
            advance(&tx, version);
        }
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => match notification.payload().parse::<u64>() {
                    Ok(version) => advance(&tx, version),
                    Err(_) => tracing::warn!(payload = notification.payload(), "unexpected config notification"),
                },
                // Connection lost: notifications in the gap are gone; catch up, reconnect.
                Ok(None) => {
                    if let Ok(version) = versions.latest_version().await {
                        advance(&tx, version);
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, "config version listener failed; reconnecting");
                    tokio::time::sleep(retry).await;
                    break;
                }
            }
        }
    }
}
