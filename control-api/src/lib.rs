//! Switchyard's operator control API (SPEC §4), mounted by the binary on the admin
//! listener under `/api/v1` (plus `/openapi.json`).
//!
//! Every route needs an admin bearer token ([`auth`]); viewers read only. Every change
//! goes through [`switchyard_config::ConfigEditor`]: the same validator as the file, an
//! `If-Match` version check (412 when stale), an atomic write of the config file with the
//! previous version kept in history, and an immediate swap into the running data plane.
//! Each change is audited ([`audit`]). The model catalog ([`catalog`], SPEC §8) lives in
//! the state store, with a version per entry. Experiment statistics ([`stats`], [`analytics`])
//! and the inference browser read ClickHouse. Fine-tuning jobs ([`jobs`], SPEC §10) live in
//! the state store; their worker runs on the holder of the `jobs` lease. The operator
//! console ([`console`]) is served under `/ui/` and writes through these same routes.

pub mod analytics;
pub mod audit;
pub mod auth;
pub mod autopilot;
pub mod catalog;
pub mod console;
pub mod credentials;
pub mod edit;
pub mod error;
pub mod extract;
pub mod groups;
pub mod jobs;
pub mod openapi;
pub mod plane;
pub mod promotion;
pub mod redact;
pub mod routes;
pub mod stats;

use std::sync::Arc;

use axum::Router;
use switchyard_config::ConfigEditor;
use switchyard_core::DataPlane;

pub use plane::ControlPlane;

pub use audit::{AuditEntry, AuditLog};
pub use error::ApiError;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// ClickHouse as the control API reads it.
#[derive(Clone)]
pub struct Analytics {
    /// Client bound to the records database.
    pub client: clickhouse::Client,
    /// Database name.
    pub database: String,
}

/// Shared state of every route.
#[derive(Clone)]
pub struct ControlState {
    /// The running config and its edit path.
    pub editor: Arc<dyn ConfigEditor>,
    /// The audit trail.
    pub audit: AuditLog,
    /// ClickHouse, when records are shipped there.
    pub analytics: Option<Analytics>,
    /// The state store, this replica's id and leases.
    pub plane: Arc<ControlPlane>,
    /// The data plane, for requests through a group and its live state.
    pub dataplane: Arc<dyn DataPlane>,
    /// The operator console's per-process state (sign-in throttle).
    pub console: Arc<console::ConsoleState>,
}

/// The control API's router (routes under `/api/v1`, and `/openapi.json`).
pub fn router(state: ControlState) -> Router {
    routes::router(state)
}

/// What the control API is mounted on.
pub struct Mount<'a> {
    /// The running config and its edit path.
    pub editor: Arc<dyn ConfigEditor>,
    /// The control plane (state store, leases).
    pub plane: Arc<ControlPlane>,
    /// The data plane seam.
    pub dataplane: Arc<dyn DataPlane>,
    /// ClickHouse, when records are shipped there.
    pub clickhouse: Option<&'a switchyard_records::ClickHouseOptions>,
    /// Where the control API's metrics go.
    pub registry: &'a prometheus::Registry,
}

/// The router for a running gateway: edits go to `editor` and are audited in the state
/// store, and analytics read ClickHouse when records are shipped there.
pub fn mount(m: Mount<'_>) -> Router {
    let analytics =
        m.clickhouse.map(|o| Analytics { client: switchyard_records::schema::client(o), database: o.database.clone() });
    let mirror = analytics.as_ref().map(|a| (a.client.clone(), a.database.clone()));
    let audit = AuditLog::new(m.plane.store().audit(), mirror);
    let state = ControlState {
        editor: m.editor,
        audit,
        analytics,
        plane: m.plane,
        dataplane: m.dataplane,
        console: Arc::default(),
    };
    let registry = m.registry;
    let _sync = catalog::spawn_sync(state.clone());
    if let Err(error) = autopilot::spawn(state.clone(), registry) {
        tracing::error!(%error, "auto-promotion metrics could not be registered; auto-promotion is off");
    }
    if let Err(error) = jobs::worker::spawn(state.clone(), registry, state.plane.base_dir().to_path_buf()) {
        tracing::error!(%error, "job metrics could not be registered; the job worker is off");
    }
    router(state)
}
