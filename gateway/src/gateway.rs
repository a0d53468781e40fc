//! A running gateway: start-up wiring and graceful shutdown.
//!
//! [`Gateway::start`] loads the config into a hot-swapped store, starts the record queue,
//! binds the data-plane and admin listeners and serves until [`Gateway::shutdown`], which
//! stops accepting, lets requests in flight finish (bounded by
//! `limits.shutdown_grace_ms`), exports the spans still queued and drains the record
//! queue.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use prometheus::Registry;
use switchyard_config::{ConfigError, ConfigSource, ConfigStore, MemoryLog, VersionLog};
use switchyard_core::DataPlane;
use switchyard_records::{RecordsHandle, RecordsOptions, RetentionGate};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::listen::tls_reload::{self, Listener, TlsMetrics};
use crate::listen::{tls, ListenOptions, Phase};
use crate::proxy::dispatch::Dispatcher;
use crate::proxy::{Shared, Store};
use crate::resilience::Resilience;
use crate::upstream::UpstreamClient;
use crate::{admin, explain, listen, metrics, providers, proxy, recording};

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
    /// The rate limiter could not be set up from `rate_limits`.
    #[error("rate limits: {0}")]
    RateLimits(#[from] switchyard_ratelimit::RateLimitError),
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

/// What a gateway starts from.
pub struct Startup {
    /// Where the config is read.
    pub source: ConfigSource,
    /// Where config versions are kept (the state store; in memory for [`Gateway::start`]).
    pub log: Arc<dyn VersionLog>,
    /// The metrics registry `/metrics` serves (shared with the control plane).
    pub registry: Registry,
    /// Whether this process runs records retention now (replicas: the `retention` lease).
    pub retention_gate: RetentionGate,
    /// Data-plane worker threads, each with its own runtime ([`listen::cores`]).
    pub workers: NonZeroUsize,
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
    /// Loads the config (versions kept in memory only) and starts serving, without a
    /// control API. Call inside a tokio runtime.
    pub async fn start(source: ConfigSource) -> Result<Self, StartError> {
        let startup = Startup {
            source,
            log: Arc::new(MemoryLog::default()),
            registry: Registry::new(),
            retention_gate: RetentionGate::default(),
            workers: listen::cores::default_workers(),
        };
        Self::start_with(startup, |_| None).await
    }

    /// Starts serving `startup`'s config, its versions appended to `startup.log`, with a
    /// service mounted on the admin listener (the binary mounts the control API this way)
    /// built from the running store, records setup and the data plane's [`DataPlane`] seam.
    pub async fn start_with(
        startup: Startup,
        mount: impl FnOnce(&MountContext) -> Option<admin::AdminService>,
    ) -> Result<Self, StartError> {
        let Startup { source, log, registry, retention_gate, workers } = startup;
        let base_dir = source.base_dir();
        let store = load_store(source, &registry, log).await?;
        let table = store.current();
        let cfg = &table.config;
        let records_options = RecordsOptions { retention_gate, ..recording::options(cfg, &base_dir)? };
        let tracing = crate::trace::Tracing::new(&cfg.tracing, &registry)?;
        tracing.warn_on_change(&store);
        let (queue, records) = switchyard_records::start(records_options.clone(), &registry)?;
        let shared = Arc::new(Shared {
            store: store.clone(),
            metrics: metrics::Metrics::new(&registry)?,
            resilience: Resilience::new(&registry)?,
            limits: Arc::new(proxy::limit::Limits::new(&table, &registry)?),
            records: queue,
            explainers: explain::Explainers::new(explain::ExplainMetrics::new(&registry)?),
            ready: false.into(),
            tracing,
            request_ids: request_id_signer(),
            feedback_repeats: proxy::feedback::Repeats::default(),
        });
        explain::metrics::keep_exported(&store, shared.explainers.metrics.clone());
        let mounted = mount(&MountContext {
            store: store.clone(),
            records: records_options,
            registry: registry.clone(),
            dataplane: Arc::new(Dispatcher::new(&shared)),
        });
        let data = bind(&cfg.listen, "listen").await?;
        let admin = bind(&cfg.admin_listen, "admin_listen").await?;
        let (data_addr, admin_addr) = (local_addr(&data)?, local_addr(&admin)?);
        let (shutdown, stop) = watch::channel(Phase::Serving);
        let tls_metrics = TlsMetrics::new(&registry)?;
        let data_tls = tls_reload::start(Listener::Data, &table, store.subscribe(), &tls_metrics, stop.clone())?;
        let admin_tls = tls_reload::start(Listener::Admin, &table, store.subscribe(), &tls_metrics, stop.clone())?;
        let options = ListenOptions::new(&cfg.limits, data_tls);
        recording::keep_groups_provisioned(&store, shared.records.clone(), stop.clone());
        proxy::limit::keep_current(&store, shared.limits.clone(), stop.clone());
        let (drained_tx, drained) = mpsc::channel(1);
        let data_shared = shared.clone();
        let data_stopped = listen::cores::spawn(
            workers,
            data,
            &options,
            move |req| proxy::handle(data_shared.clone(), req),
            &stop,
            &drained_tx,
        )
        .map_err(|source| StartError::Io { what: "data-plane workers".into(), source })?;
        let mut tasks: Vec<JoinHandle<()>> = data_stopped
            .into_iter()
            .map(|stopped| {
                tokio::spawn(async move {
                    let _ = stopped.await;
                })
            })
            .collect();
        let (admin_shared, admin_registry) = (shared.clone(), registry.clone());
        let admin_task = tokio::spawn(listen::serve(
            admin,
            ListenOptions { tls: admin_tls, peer_extension: true, ..options },
            move |req| admin::handle(admin_shared.clone(), admin_registry.clone(), mounted.clone(), req),
            stop,
            drained_tx,
        ));
        shared.ready.store(true, Ordering::Relaxed);
        tracing::info!(%data_addr, %admin_addr, version = table.version, groups = cfg.groups.len(), "switchyard serving");
        tasks.push(admin_task);
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

/// The config store with adapters built by the shared upstream client, watching its file
/// (or, with shared routing config, the log).
async fn load_store(
    source: ConfigSource,
    registry: &Registry,
    log: Arc<dyn VersionLog>,
) -> Result<Arc<Store>, StartError> {
    let client = UpstreamClient::new();
    let factory = Arc::new(move |spec: &switchyard_config::ProviderSpec| providers::build_adapter(&client, spec));
    let store = Arc::new(ConfigStore::load(source, factory, registry, log).await?);
    store.spawn_watchers().map_err(|source| StartError::Io { what: "config watch".into(), source })?;
    Ok(store)
}

async fn bind(addr: &str, what: &str) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr).await.map_err(|source| StartError::Io { what: format!("{what} {addr}"), source })
}

fn local_addr(l: &TcpListener) -> Result<SocketAddr, StartError> {
    l.local_addr().map_err(|source| StartError::Io { what: "local_addr".into(), source })
}

/// The request-id signer under the master key's subkey; without a master key a random
/// per-process key, said at WARN (feedback then verifies only on this process).
fn request_id_signer() -> switchyard_config::request_id::RequestIdSigner {
    let signer = switchyard_config::request_id::RequestIdSigner::from_env();
    if signer.is_ephemeral() {
        tracing::warn!(
            env = switchyard_config::secret::MASTER_KEY_ENV,
            "no usable master key: request ids are signed with a key random to this process, so \
             feedback is accepted only by this process and only until it restarts"
        );
    }
    signer
}
