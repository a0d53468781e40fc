//! A running gateway: start-up wiring and graceful shutdown.
//!
//! [`Gateway::start`] loads the config into a hot-swapped store, starts the record queue,
//! binds the data-plane and admin listeners and serves until [`Gateway::shutdown`], which
//! stops accepting, lets requests in flight finish (bounded by
//! `limits.shutdown_grace_ms`), exports the spans still queued and drains the record
//! queue.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use prometheus::Registry;
use switchyard_config::{ConfigError, ConfigSource, ConfigStore};
use switchyard_core::DataPlane;
use switchyard_records::RecordsHandle;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::listen::{tls, ListenOptions, Phase};
use crate::proxy::dispatch::Dispatcher;
use crate::proxy::{Shared, Store};
use crate::resilience::Resilience;
use crate::upstream::UpstreamClient;
use crate::{admin, listen, metrics, providers, proxy, recording};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid (exit status 64).
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// TLS files are unusable.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// A listener could not bind, or the record store could not open.
    #[error("{what}: {source}")]
    Io {
        /// What failed.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// Metric registration failed (a bug).
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The record spool could not be opened.
    #[error("records: {0}")]
    Records(#[from] switchyard_records::RecordsError),
    /// Trace export could not start.
    #[error("{0}")]
    Tracing(#[from] crate::trace::TraceError),
}

/// What a mounted admin service is built from.
pub struct MountContext {
    /// The running config store.
    pub store: Arc<Store>,
    /// The records pipeline's options (ClickHouse connection for analytics).
    pub records: switchyard_records::RecordsOptions,
    /// The metrics registry.
    pub registry: Registry,
    /// The data plane, for requests the control plane makes through a group.
    pub dataplane: Arc<dyn DataPlane>,
}

/// A running gateway.
pub struct Gateway {
    /// Bound data-plane address.
    pub data_addr: SocketAddr,
    /// Bound admin address.
    pub admin_addr: SocketAddr,
    /// Shared request state (store, metrics, records).
    pub shared: Arc<Shared>,
    /// The metrics registry `/metrics` serves.
    pub registry: Registry,
    shutdown: watch::Sender<Phase>,
    drained: mpsc::Receiver<()>,
    tasks: Vec<JoinHandle<()>>,
    records: RecordsHandle,
}

// === impl Gateway ===

impl Gateway {
    /// Loads the config and starts serving. Call inside a tokio runtime.
    pub async fn start(source: ConfigSource) -> Result<Self, StartError> {
        Self::start_with(source, |_| None).await
    }

    /// Like [`Gateway::start`], with a service mounted on the admin listener (the binary
    /// mounts the control API this way) built from the running store, records setup and
    /// the data plane's [`DataPlane`] seam.
    pub async fn start_with(
        source: ConfigSource,
        mount: impl FnOnce(&MountContext) -> Option<admin::AdminService>,
    ) -> Result<Self, StartError> {
        let registry = Registry::new();
        let store = load_store(source, &registry)?;
        let table = store.current();
        let cfg = &table.config;
        let records_options = recording::options(cfg)?;
        let tracing = crate::trace::Tracing::new(&cfg.tracing, &registry)?;
        tracing.warn_on_change(&store);
        let (queue, records) = switchyard_records::start(records_options.clone(), &registry)?;
        let shared = Arc::new(Shared {
            store: store.clone(),
            metrics: metrics::Metrics::new(&registry)?,
            resilience: Resilience::new(&registry)?,
            records: queue,
            ready: false.into(),
            tracing,
        });
        let mounted = mount(&MountContext {
            store: store.clone(),
            records: records_options,
            registry: registry.clone(),
            dataplane: Arc::new(Dispatcher::new(&shared)),
        });
        let data = bind(&cfg.listen, "listen").await?;
        let admin = bind(&cfg.admin_listen, "admin_listen").await?;
        let (data_addr, admin_addr) = (local_addr(&data)?, local_addr(&admin)?);
        let options = ListenOptions {
            header_timeout: Duration::from_millis(cfg.limits.header_timeout_ms),
            keepalive_timeout: Duration::from_millis(cfg.limits.keepalive_timeout_ms),
            tls: cfg.tls.as_ref().map(tls::acceptor).transpose()?,
        };
        let (shutdown, stop) = watch::channel(Phase::Serving);
        recording::keep_groups_provisioned(&store, shared.records.clone(), stop.clone());
        let (drained_tx, drained) = mpsc::channel(1);
        let data_shared = shared.clone();
        let data_task = tokio::spawn(listen::serve(
            data,
            options.clone(),
            move |req| proxy::handle(data_shared.clone(), req),
            stop.clone(),
            drained_tx.clone(),
        ));
        let (admin_shared, admin_registry) = (shared.clone(), registry.clone());
        let admin_task = tokio::spawn(listen::serve(
            admin,
            ListenOptions { tls: None, ..options },
            move |req| admin::handle(admin_shared.clone(), admin_registry.clone(), mounted.clone(), req),
            stop,
            drained_tx,
        ));
        shared.ready.store(true, Ordering::Relaxed);
        tracing::info!(%data_addr, %admin_addr, version = table.version, groups = cfg.groups.len(), "switchyard serving");
        let tasks = vec![data_task, admin_task];
        Ok(Self { data_addr, admin_addr, shared, registry, shutdown, drained, tasks, records })
    }

    /// The config store (for reload hooks and tests).
    pub fn store(&self) -> &Arc<Store> {
        &self.shared.store
    }

    /// Stops accepting, lets requests in flight finish within the configured grace
    /// period, then drains the record queue.
    pub async fn shutdown(mut self) {
        let grace = Duration::from_millis(self.shared.store.current().limits.shutdown_grace_ms);
        self.shared.ready.store(false, Ordering::Relaxed);
        let _ = self.shutdown.send(Phase::Draining);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        if tokio::time::timeout(grace, self.drained.recv()).await.is_err() {
            tracing::warn!(
                grace_ms = grace.as_millis() as u64,
                "shutdown grace period over; closing remaining connections"
            );
            // Dropping a connection drops its requests; their recorders finish them as
            // `client_aborted`, so nothing is lost from the records.
            let _ = self.shutdown.send(Phase::Closing);
            let _ = tokio::time::timeout(Duration::from_secs(1), self.drained.recv()).await;
        }
        // Every record is offered by now (or its request was cut off); close the queue.
        let Self { shared, records, .. } = self;
        let traces = shared.clone();
        let _ = tokio::task::spawn_blocking(move || traces.tracing.shutdown(recording::SHIP_ON_SHUTDOWN)).await;
        drop(shared);
        let _ = tokio::task::spawn_blocking(move || records.close(recording::SHIP_ON_SHUTDOWN)).await;
        tracing::info!("switchyard stopped");
    }
}

/// The config store with adapters built by the shared upstream client, watching its file.
fn load_store(source: ConfigSource, registry: &Registry) -> Result<Arc<Store>, StartError> {
    let client = UpstreamClient::new();
    let factory = Arc::new(move |spec: &switchyard_config::ProviderSpec| providers::build_adapter(&client, spec));
    let store = Arc::new(ConfigStore::load(source, factory, registry)?);
    store.spawn_watchers().map_err(|source| StartError::Io { what: "config watch".into(), source })?;
    Ok(store)
}

async fn bind(addr: &str, what: &str) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr).await.map_err(|source| StartError::Io { what: format!("{what} {addr}"), source })
}

fn local_addr(l: &TcpListener) -> Result<SocketAddr, StartError> {
    l.local_addr().map_err(|source| StartError::Io { what: "local_addr".into(), source })
}
