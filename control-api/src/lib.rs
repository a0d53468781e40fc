//! Switchyard's operator control API (SPEC §4), mounted by the binary on the admin
//! listener under `/api/v1` (plus `/openapi.json`).
//!
//! Every route needs an admin bearer token ([`auth`]); viewers read only. Every change
//! goes through [`switchyard_config::ConfigEditor`]: the same validator as the file, an
//! `If-Match` version check (412 when stale), an atomic write of the config file with the
//! previous version kept in history, and an immediate swap into the running data plane.
//! Each change is audited ([`audit`]). Experiment statistics ([`stats`], [`analytics`])
//! and the inference browser read ClickHouse.

pub mod analytics;
pub mod audit;
pub mod auth;
pub mod autopilot;
pub mod edit;
pub mod error;
pub mod extract;
pub mod groups;
pub mod openapi;
pub mod promotion;
pub mod routes;
pub mod stats;

use std::sync::Arc;

use axum::Router;
use switchyard_config::ConfigEditor;
use switchyard_core::DataPlane;

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
    /// The running data plane (live state such as the rate limiter's busiest keys).
    pub dataplane: Arc<dyn DataPlane>,
}

/// The control API's router (routes under `/api/v1`, and `/openapi.json`).
pub fn router(state: ControlState) -> Router {
    routes::router(state)
}

/// The router for a running gateway: edits go to `editor`, the audit trail lives beside
/// the config history, analytics read `clickhouse` when records are shipped there, and
/// live data-plane state comes through `dataplane`.
pub fn mount(
    editor: Arc<dyn ConfigEditor>,
    clickhouse: Option<&switchyard_records::ClickHouseOptions>,
    registry: &prometheus::Registry,
    dataplane: Arc<dyn DataPlane>,
) -> Router {
    let analytics =
        clickhouse.map(|o| Analytics { client: switchyard_records::schema::client(o), database: o.database.clone() });
    let audit = AuditLog::new(editor.history_dir(), analytics.as_ref().map(|a| (a.client.clone(), a.database.clone())));
    let state = ControlState { editor, audit, analytics, dataplane };
    if let Err(error) = autopilot::spawn(state.clone(), registry) {
        tracing::error!(%error, "auto-promotion metrics could not be registered; auto-promotion is off");
    }
    router(state)
}
