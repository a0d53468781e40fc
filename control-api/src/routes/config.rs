//! `/api/v1/config/…` and `/api/v1/audit`: version history, a version's text, rollback,
//! and the audit trail.
//!
//! Viewers read versions and audit entries with credentials redacted ([`crate::redact`]);
//! a rollback keeps the current credentials unless it is asked to restore the version's
//! ([`crate::credentials`]).

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use switchyard_config::schema::AdminRole;
use switchyard_config::{VersionInfo, ANY_VERSION};

use super::tagged;
use crate::audit::AuditEntry;
use crate::auth::{Operator, Writer};
use crate::credentials::{carry, Carried};
use crate::edit::{apply, Edit};
use crate::error::ApiError;
use crate::extract::{Body, IfMatch};
use crate::{redact, ControlState};

/// `GET /config/versions` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VersionsView {
    /// The version serving now.
    pub current: u64,
    /// Stored versions, oldest first: `{version, stored_ms, bytes, actor, reason}`.
    #[schema(value_type = Vec<Object>)]
    pub versions: Vec<VersionInfo>,
}

/// `POST /config/rollback` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The version to bring back (re-applied as a new version).
    pub version: u64,
    /// Also bring back the version's client keys, admin tokens and provider keys. Default
    /// false: the current credentials stay.
    #[serde(default)]
    pub restore_credentials: bool,
}

/// `POST /config/rollback` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RollbackReply {
    /// The new version.
    pub version: u64,
    /// The version brought back.
    pub restored: u64,
    /// What happened to credentials.
    pub credentials: Carried,
}

/// `?limit=` of a listing.
#[derive(Debug, Deserialize)]
pub struct Limit {
    limit: Option<u32>,
}

/// `GET /audit` filters (all optional).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    /// Entries at or after this time, Unix ms.
    since: Option<i64>,
    /// Entries before this time, Unix ms.
    until: Option<i64>,
    /// Only this actor.
    actor: Option<String>,
    /// Only this action, e.g. `group.promote`.
    action: Option<String>,
    /// Only this target, e.g. `groups.support-bot`.
    target: Option<String>,
    /// The `x-next-cursor` of the previous page.
    cursor: Option<String>,
    /// At most this many entries (default 100, at most 1000).
    limit: Option<u32>,
}

/// `GET /api/v1/config/versions?limit=`: stored versions, oldest first (the newest
/// `limit`, default 200).
#[utoipa::path(get, path = "/api/v1/config/versions", tag = "config", responses((status = 200, body = VersionsView)))]
pub async fn versions(
    State(state): State<ControlState>,
    _: Operator,
    Query(q): Query<Limit>,
) -> Result<Response, ApiError> {
    let (_, current) = state.editor.snapshot();
    let mut versions = state.editor.versions(q.limit.unwrap_or(200).clamp(1, 1000)).await?;
    versions.reverse();
    Ok(tagged(current, VersionsView { current, versions }))
}

/// `GET /api/v1/config/versions/{version}`: the YAML of a stored version (verbatim for
/// admins; with credentials redacted, as re-written YAML, for viewers).
#[utoipa::path(get, path = "/api/v1/config/versions/{version}", tag = "config",
    responses((status = 200, content_type = "application/yaml"), (status = 404)))]
pub async fn version_text(
    State(state): State<ControlState>,
    op: Operator,
    Path(version): Path<u64>,
) -> Result<Response, ApiError> {
    let text = state
        .editor
        .version_text(version)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("config version {version} is not in the history")))?;
    let text = if op.role == AdminRole::Admin { text } else { redact::yaml(&text) };
    Ok(([(axum::http::header::CONTENT_TYPE, "application/yaml")], text).into_response())
}

/// `POST /api/v1/config/rollback`: re-apply an earlier version; credentials stay as they
/// are unless `restore_credentials` (see [`crate::credentials`]).
#[utoipa::path(post, path = "/api/v1/config/rollback", tag = "config", request_body = RollbackRequest,
    responses((status = 200, body = RollbackReply), (status = 404), (status = 412), (status = 422)))]
pub async fn rollback(
    State(state): State<ControlState>,
    Writer(op): Writer,
    IfMatch(expected): IfMatch,
    Body(req): Body<RollbackRequest>,
) -> Result<Response, ApiError> {
    let target_text = state
        .editor
        .version_text(req.version)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("config version {} is not in the history", req.version)))?;
    // The credentials are carried from the config this edit applies to: the version it is
    // based on must be the one serving (for `*`, the one serving now).
    let (current, version) = state.editor.snapshot();
    if expected != ANY_VERSION && expected != version {
        return Err(ApiError::Stale { current: version });
    }
    let mut target = if state.plane.is_shared() {
        switchyard_config::split::compose(&current, &target_text)
    } else {
        switchyard_config::validate::parse(&target_text)
    }
    .map_err(ApiError::Invalid)?;
    let carried = carry(&current, &mut target, req.restore_credentials).map_err(ApiError::Invalid)?;
    let reason = carried.reason(req.restore_credentials);
    let whole = |c: &switchyard_config::Config| serde_json::to_value(c).unwrap_or_default();
    let edit = Edit { actor: &op.name, reason: &reason, expected: version, action: "config.rollback" };
    let edited = apply(&state, &edit, &format!("config@{}", req.version), whole, |cfg, _| {
        *cfg = target;
        Ok(())
    })
    .await?;
    let reply = RollbackReply { version: edited.version, restored: req.version, credentials: carried };
    Ok(tagged(edited.version, reply))
}

/// `GET /api/v1/audit?since=&until=&actor=&action=&target=&cursor=&limit=`: newest first;
/// `x-next-cursor` names the next page when there is one.
#[utoipa::path(get, path = "/api/v1/audit", tag = "config", params(AuditQuery),
    responses((status = 200, body = [AuditEntry])))]
pub async fn audit(
    State(state): State<ControlState>,
    op: Operator,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    let filter = switchyard_state::AuditFilter {
        since_ms: q.since,
        until_ms: q.until,
        actor: q.actor,
        action: q.action,
        target: q.target,
        // A tenant-scoped token reads only the entries of its tenant's groups and clients.
        tenant: op.tenant.clone(),
        cursor: q.cursor,
        limit: q.limit,
    };
    let (mut entries, next) = state.audit.list(&filter).await?;
    if op.role != AdminRole::Admin {
        for e in &mut entries {
            redact::json(&mut e.before);
            redact::json(&mut e.after);
        }
    }
    let mut resp = Json(entries).into_response();
    if let Some(v) = next.and_then(|c| axum::http::HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert("x-next-cursor", v);
    }
    Ok(resp)
}
