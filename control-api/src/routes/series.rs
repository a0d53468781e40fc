//! `GET /api/v1/groups/{group}/series?since=&until=&step_ms=`: a group's latency and error
//! series from ClickHouse (the console's group page). Default window: the last hour in 60
//! buckets; at most [`MAX_BUCKETS`] buckets, each at least a second. Viewers read; a group
//! a tenant-scoped token does not see is a 404, as for the experiment.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;

use crate::analytics::series::{self, SeriesReport, MAX_BUCKETS};
use crate::auth::Operator;
use crate::error::ApiError;
use crate::ControlState;

/// The default window, ms.
const DEFAULT_WINDOW_MS: i64 = 3_600_000;
/// Buckets when no `step_ms` is given.
const DEFAULT_BUCKETS: i64 = 60;

/// `?since=&until=&step_ms=` of the series.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct SeriesQuery {
    /// Unix ms, inclusive (default: `until` − 1 h).
    pub since: Option<i64>,
    /// Unix ms, exclusive (default: now).
    pub until: Option<i64>,
    /// Bucket width in ms (≥ 1000; default: the window in 60 buckets, whole seconds).
    pub step_ms: Option<i64>,
}

/// `GET /api/v1/groups/{group}/series`
#[utoipa::path(get, path = "/api/v1/groups/{group}/series", tag = "experiments", params(SeriesQuery),
    responses((status = 200, body = SeriesReport), (status = 400), (status = 404), (status = 503)))]
pub async fn series(
    State(state): State<ControlState>,
    op: Operator,
    Path(group): Path<String>,
    Query(q): Query<SeriesQuery>,
) -> Result<Json<SeriesReport>, ApiError> {
    let (cfg, _) = state.editor.snapshot();
    match cfg.groups.get(&group) {
        Some(g) if op.sees_group(g) => {}
        _ => return Err(ApiError::NotFound(format!("group `{group}` does not exist"))),
    }
    let ch = state.analytics.as_ref().ok_or_else(|| {
        ApiError::Unavailable("records.clickhouse is not configured; there is nothing to analyse".into())
    })?;
    let until = q.until.unwrap_or_else(switchyard_core::unix_ms);
    let since = q.since.unwrap_or(until.saturating_sub(DEFAULT_WINDOW_MS));
    if since >= until {
        return Err(ApiError::BadRequest("`since` must be before `until`".into()));
    }
    let span = until.saturating_sub(since);
    let step = q.step_ms.unwrap_or_else(|| (span / DEFAULT_BUCKETS).max(1000) / 1000 * 1000);
    if step < 1000 {
        return Err(ApiError::BadRequest("`step_ms` must be at least 1000".into()));
    }
    if span / step + i64::from(span % step != 0) > MAX_BUCKETS {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_BUCKETS} buckets: widen `step_ms` or narrow the window"
        )));
    }
    Ok(Json(series::series(&ch.client, &ch.database, &group, (since, until), step).await?))
}
