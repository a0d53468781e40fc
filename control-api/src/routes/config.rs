//! `/api/v1/config/…` and `/api/v1/audit`: version history, a version's text, rollback,
//! and the audit trail.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use switchyard_config::history::VersionInfo;

use super::tagged;
use crate::audit::AuditEntry;
use crate::auth::{Operator, Writer};
use crate::edit::{apply, Edit};
use crate::error::ApiError;
use crate::extract::{Body, IfMatch};
use crate::ControlState;

/// `GET /config/versions` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VersionsView {
    /// The version serving now.
    pub current: u64,
    /// Stored versions, oldest first: `{version, stored_ms, bytes}`.
    #[schema(value_type = Vec<Object>)]
    pub versions: Vec<VersionInfo>,
}

/// `POST /config/rollback` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The version to bring back (re-applied as a new version).
    pub version: u64,
}

/// `?limit=` for the audit trail.
#[derive(Debug, Deserialize)]
pub struct Limit {
    limit: Option<usize>,
}

/// `GET /api/v1/config/versions`
#[utoipa::path(get, path = "/api/v1/config/versions", tag = "config", responses((status = 200, body = VersionsView)))]
pub async fn versions(State(state): State<ControlState>, _: Operator) -> Result<Response, ApiError> {
    let (_, current) = state.editor.snapshot();
    let versions = state.editor.versions().map_err(|e| ApiError::Internal(format!("config history: {e}")))?;
    Ok(tagged(current, VersionsView { current, versions }))
}

/// `GET /api/v1/config/versions/{version}`: that version's YAML.
#[utoipa::path(get, path = "/api/v1/config/versions/{version}", tag = "config",
    responses((status = 200, content_type = "application/yaml"), (status = 404)))]
pub async fn version_text(
    State(state): State<ControlState>,
    _: Operator,
    Path(version): Path<u64>,
) -> Result<Response, ApiError> {
    let text = state
        .editor
        .version_text(version)
        .map_err(|e| ApiError::Internal(format!("config history: {e}")))?
        .ok_or_else(|| ApiError::NotFound(format!("config version {version} is not in the history")))?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/yaml")], text).into_response())
}

/// `POST /api/v1/config/rollback`: re-apply an earlier version.
#[utoipa::path(post, path = "/api/v1/config/rollback", tag = "config", request_body = RollbackRequest,
    responses((status = 200), (status = 404), (status = 412), (status = 422)))]
pub async fn rollback(
    State(state): State<ControlState>,
    Writer(op): Writer,
    IfMatch(expected): IfMatch,
    Body(req): Body<RollbackRequest>,
) -> Result<Response, ApiError> {
    let target_text = state
        .editor
        .version_text(req.version)
        .map_err(|e| ApiError::Internal(format!("config history: {e}")))?
        .ok_or_else(|| ApiError::NotFound(format!("config version {} is not in the history", req.version)))?;
    let target = switchyard_config::validate::parse(&target_text).map_err(ApiError::Invalid)?;
    let whole = |c: &switchyard_config::Config| serde_json::to_value(c).unwrap_or_default();
    let edited = apply(
        &state,
        &Edit { actor: &op.name, reason: "", expected, action: "config.rollback" },
        &format!("config@{}", req.version),
        whole,
        |cfg, _| {
            *cfg = target.clone();
            Ok(())
        },
    )?;
    Ok(tagged(edited.version, serde_json::json!({ "version": edited.version, "restored": req.version })))
}

/// `GET /api/v1/audit?limit=`: newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "config", responses((status = 200, body = [AuditEntry])))]
pub async fn audit(
    State(state): State<ControlState>,
    _: Operator,
    Query(q): Query<Limit>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let limit = q.limit.unwrap_or(100).min(10_000);
    state.audit.recent(limit).map(Json).map_err(|e| ApiError::Internal(format!("audit log: {e}")))
}
