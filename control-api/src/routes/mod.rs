//! Route table of the control API. Handlers live in one module per resource.

pub mod clients;
pub mod config;
pub mod groups;
pub mod insights;
pub mod providers;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{middleware, Json, Router};
use serde::Serialize;

use crate::auth::require_token;
use crate::{ControlState, MAX_BODY_BYTES};

pub use clients::{ClientCreated, ClientView, NewClient};
pub use config::{RollbackRequest, VersionsView};
pub use groups::{GroupView, MemberName, NewGroup, WeightsRequest};
pub use providers::{ProviderView, SecretView};

/// Builds the router.
pub fn router(state: ControlState) -> Router {
    let api = Router::new()
        .route("/groups", get(groups::list).post(groups::create))
        .route("/groups/{group}", get(groups::get_one).put(groups::replace).delete(groups::remove))
        .route("/groups/{group}/weights", put(groups::weights))
        .route("/groups/{group}/promote", post(groups::promote))
        .route("/groups/{group}/pause", post(groups::pause))
        .route("/groups/{group}/members", post(groups::add_member))
        .route("/groups/{group}/members/{member}", delete(groups::remove_member))
        .route("/groups/{group}/experiment", get(insights::experiment))
        .route("/inferences", get(insights::list_inferences))
        .route("/inferences/{id}", get(insights::get_inference))
        .route("/config/versions", get(config::versions))
        .route("/config/versions/{version}", get(config::version_text))
        .route("/config/rollback", post(config::rollback))
        .route("/providers", get(providers::list))
        .route("/providers/{provider}", get(providers::get_one).put(providers::put).delete(providers::remove))
        .route("/clients", get(clients::list).post(clients::create))
        .route("/clients/{client}", delete(clients::revoke))
        .route("/audit", get(config::audit))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .nest("/api/v1", api)
        .route("/openapi.json", get(crate::openapi::document))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// A JSON response carrying `ETag: "<version>"`.
pub fn tagged<T: Serialize>(version: u64, body: T) -> Response {
    let mut resp = Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// Now, Unix ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A fresh audit id.
pub fn new_id() -> String {
    format!("{:012x}{:020x}", now_ms() & 0xffff_ffff_ffff, rand::random::<u128>() & ((1u128 << 80) - 1))
}

/// Applies `change` (based on `expected`) and audits it as `action` on `target`. The
/// closure may set `missing` to turn its refusal into a 404 instead of a 422.
pub(crate) fn apply(
    state: &ControlState,
    actor: &str,
    expected: u64,
    action: &str,
    target: &str,
    view: impl Fn(&switchyard_config::Config) -> serde_json::Value,
    change: impl FnMut(
        &mut switchyard_config::Config,
        &mut Option<crate::ApiError>,
    ) -> Result<(), switchyard_config::ConfigError>,
) -> Result<switchyard_config::Edited, crate::ApiError> {
    apply_because(state, actor, "", expected, action, target, view, change)
}

/// [`apply`] with the reason recorded in the audit entry (auto-promotion states its evidence).
#[allow(clippy::too_many_arguments)]
pub(crate) fn apply_because(
    state: &ControlState,
    actor: &str,
    reason: &str,
    expected: u64,
    action: &str,
    target: &str,
    view: impl Fn(&switchyard_config::Config) -> serde_json::Value,
    mut change: impl FnMut(
        &mut switchyard_config::Config,
        &mut Option<crate::ApiError>,
    ) -> Result<(), switchyard_config::ConfigError>,
) -> Result<switchyard_config::Edited, crate::ApiError> {
    let mut refusal: Option<crate::ApiError> = None;
    let result = state.editor.edit_with(expected, &mut |cfg| change(cfg, &mut refusal));
    if let Some(e) = refusal {
        return Err(e);
    }
    let edited = result?;
    let entry = crate::AuditEntry {
        audit_id: new_id(),
        timestamp_ms: now_ms(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        config_version: edited.version,
        before: view(&edited.before),
        after: view(&edited.after),
        reason: reason.to_owned(),
    };
    state.audit.record(entry).map_err(|e| crate::ApiError::Internal(format!("audit log: {e}")))?;
    Ok(edited)
}

/// A refusal inside an edit closure (the closure's error is replaced by `refusal`).
pub(crate) fn refuse(
    slot: &mut Option<crate::ApiError>,
    error: crate::ApiError,
) -> Result<(), switchyard_config::ConfigError> {
    let msg = error.to_string();
    *slot = Some(error);
    Err(switchyard_config::ConfigError::one("", msg))
}
