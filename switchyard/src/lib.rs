//! The `switchyard` binary's wiring, kept in a library so that tests start exactly what
//! the binary starts: the control plane (state store, leases) first, then the data plane
//! with the control API mounted on its admin listener, then this replica's heartbeat.
//! The command line itself is `main.rs`.

use std::num::NonZeroUsize;
use std::sync::Arc;

use prometheus::Registry;
use switchyard_config::{ConfigError, ConfigSource};
use switchyard_control_api::plane::PlaneError;
use switchyard_control_api::{ControlPlane, Mount};
use switchyard_gateway::{admin, Gateway, MountContext, StartError, Startup};
use switchyard_records::RetentionGate;
use switchyard_state::LeaseName;

/// A running gateway and its control plane.
pub struct Running {
    /// The data plane (and its admin listener with the control API).
    pub gateway: Gateway,
    /// The state store, leases and replica id.
    pub plane: Arc<ControlPlane>,
}

/// Why `serve` could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is invalid (exit status 64).
    #[error("{0}")]
    Config(ConfigError),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// Opens the control plane and starts the data plane on `source`, with one data-plane
/// worker per core.
pub async fn start(source: ConfigSource) -> Result<Running, ServeError> {
    start_with_workers(source, switchyard_gateway::listen::cores::default_workers()).await
}

/// [`start`] with `workers` data-plane worker threads.
pub async fn start_with_workers(source: ConfigSource, workers: NonZeroUsize) -> Result<Running, ServeError> {
    let registry = Registry::new();
    let plane = Arc::new(ControlPlane::open(&source, &registry).await.map_err(|e| match e {
        PlaneError::Config(c) => ServeError::Config(c),
        e => ServeError::Other(e.to_string()),
    })?);
    let gate = plane.clone();
    let retention_gate = RetentionGate::new(move || gate.holds(LeaseName::Retention));
    let startup = Startup { source, log: plane.log(), registry, retention_gate, workers };
    let mounted = plane.clone();
    let gateway = Gateway::start_with(startup, move |ctx: &MountContext| {
        let router = switchyard_control_api::mount(Mount {
            editor: ctx.store.clone(),
            plane: mounted,
            dataplane: ctx.dataplane.clone(),
            clickhouse: ctx.records.clickhouse.as_ref(),
            registry: &ctx.registry,
        });
        Some(admin::mountable(router))
    })
    .await
    .map_err(|e| match e {
        StartError::Config(c) => ServeError::Config(c),
        e => ServeError::Other(e.to_string()),
    })?;
    let store = gateway.store().clone();
    plane.spawn_heartbeat(gateway.admin_addr.to_string(), move || store.current().version);
    plane.spawn_retention();
    Ok(Running { gateway, plane })
}

// === impl Running ===

impl Running {
    /// Drains the data plane, then releases this replica's leases.
    pub async fn shutdown(self) {
        self.gateway.shutdown().await;
        self.plane.shutdown().await;
    }
}
