//! `/api/v1/groups/{g}/experiment`, `/api/v1/groups/{g}/explanations` and the inference
//! browser (`/api/v1/inferences…`): read-only views over ClickHouse, computed by
//! [`crate::analytics`] and [`crate::stats`].

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;

use crate::analytics::{self, AnalyticsError, ExplanationReport, InferenceDetail, InferenceFilter, Page, StatusFilter};
use crate::auth::Operator;
use crate::error::ApiError;
use crate::stats::{EvalConfig, ExperimentReport};
use crate::{Analytics, ControlState};

/// `?since=&until=&alpha=&metric=` of the experiment view.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ExperimentQuery {
    /// Window start, Unix ms (default: when the group's members and weights last changed,
    /// so the SRM check compares against the weights that were really serving).
    since: Option<i64>,
    /// Window end, Unix ms (default: now).
    until: Option<i64>,
    /// Significance level (default 0.05).
    alpha: Option<f64>,
    /// Metric to win on: `error_rate` (default), `slow_rate`, or a feedback metric.
    metric: Option<String>,
}

/// `?since=&until=&top=` of the importance view.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ImportanceQuery {
    /// Window start, Unix ms (default: 7 days before `until`).
    since: Option<i64>,
    /// Window end, Unix ms, exclusive (default: now).
    until: Option<i64>,
    /// Features per member (default 20, at most 1000).
    top: Option<u32>,
}

/// `?group=&member=&status=&since=&until=&cursor=&limit=` of the browser.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct BrowseQuery {
    /// Only this group.
    group: Option<String>,
    /// Only this member.
    member: Option<String>,
    /// `502`, `5xx`, `error` or `ok`.
    status: Option<String>,
    /// From, Unix ms.
    since: Option<i64>,
    /// Until, Unix ms.
    until: Option<i64>,
    /// Only requests that sent this `x-request-id`.
    client_request_id: Option<String>,
    /// Only requests of this W3C trace (32 hex characters).
    trace_id: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size (default 50, at most 1000).
    limit: Option<u32>,
}

// === impl BrowseQuery ===

impl BrowseQuery {
    /// The filter, cursor and page size these parameters ask for; a bad `status` is a 400
    /// naming it. Public for the fuzz targets.
    #[doc(hidden)]
    pub fn into_parts(self) -> Result<(InferenceFilter, Option<String>, u32), AnalyticsError> {
        let status = self.status.as_deref().map(StatusFilter::parse).transpose()?;
        let filter = InferenceFilter {
            group: self.group,
            member: self.member,
            status,
            since_ms: self.since,
            until_ms: self.until,
            client_request_id: self.client_request_id,
            trace_id: self.trace_id.as_deref().map(analytics::trace_id_filter).transpose()?,
            tenant: None,
        };
        Ok((filter, self.cursor, self.limit.unwrap_or(analytics::DEFAULT_PAGE_LIMIT)))
    }
}

fn store(state: &ControlState) -> Result<&Analytics, ApiError> {
    state.analytics.as_ref().ok_or_else(|| {
        ApiError::Unavailable("records.clickhouse is not configured; there is nothing to analyse".into())
    })
}

impl From<AnalyticsError> for ApiError {
    fn from(e: AnalyticsError) -> Self {
        match e {
            AnalyticsError::InvalidInput { field, message } => ApiError::BadRequest(format!("{field}: {message}")),
            AnalyticsError::Unavailable { .. } => ApiError::Unavailable(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// `GET /api/v1/groups/{group}/experiment`
#[utoipa::path(get, path = "/api/v1/groups/{group}/experiment", tag = "experiments", params(ExperimentQuery),
    responses((status = 200, body = ExperimentReport), (status = 404), (status = 503)))]
pub async fn experiment(
    State(state): State<ControlState>,
    op: Operator,
    Path(group): Path<String>,
    Query(q): Query<ExperimentQuery>,
) -> Result<Json<ExperimentReport>, ApiError> {
    let (cfg, _) = state.editor.snapshot();
    if cfg.groups.get(&group).is_some_and(|g| !op.sees_group(g)) {
        return Err(ApiError::NotFound(format!("group `{group}` does not exist")));
    }
    let members = crate::groups::member_views(&cfg, &group)
        .ok_or_else(|| ApiError::NotFound(format!("group `{group}` does not exist")))?;
    let ch = store(&state)?;
    let until = q.until.unwrap_or_else(switchyard_core::unix_ms);
    let since = match q.since {
        Some(s) => s,
        None => {
            crate::autopilot::experiment_start(
                &state,
                &group,
                cfg.groups.get(&group).ok_or_else(|| ApiError::NotFound(format!("group `{group}` does not exist")))?,
            )
            .await
        }
    };
    if since >= until {
        return Err(ApiError::BadRequest("`since` must be before `until`".into()));
    }
    let mut eval = EvalConfig::default();
    if let Some(alpha) = q.alpha {
        if !(alpha > 0.0 && alpha < 0.5) {
            return Err(ApiError::BadRequest("`alpha` must be in (0, 0.5)".into()));
        }
        eval.alpha = alpha;
    }
    if let Some(metric) = q.metric {
        eval.primary_metric = metric;
    }
    let report =
        analytics::experiment(&ch.client, &ch.database, &group, &members, (since, until), op.tenant.as_deref(), &eval)
            .await?;
    Ok(Json(report))
}

/// `GET /api/v1/groups/{group}/explanations`: feature importance per arm (mean
/// |attribution| with a 95 % interval), champion vs challenger rank correlation, the
/// features whose importance differs most, and daily buckets.
#[utoipa::path(get, path = "/api/v1/groups/{group}/explanations", tag = "experiments", params(ImportanceQuery),
    responses((status = 200, body = ExplanationReport), (status = 400), (status = 404), (status = 503)))]
pub async fn explanations(
    State(state): State<ControlState>,
    op: Operator,
    Path(group): Path<String>,
    Query(q): Query<ImportanceQuery>,
) -> Result<Json<ExplanationReport>, ApiError> {
    let (cfg, _) = state.editor.snapshot();
    if cfg.groups.get(&group).is_some_and(|g| !op.sees_group(g)) {
        return Err(ApiError::NotFound(format!("group `{group}` does not exist")));
    }
    let members = crate::groups::member_views(&cfg, &group)
        .ok_or_else(|| ApiError::NotFound(format!("group `{group}` does not exist")))?;
    let ch = store(&state)?;
    let until = q.until.unwrap_or_else(switchyard_core::unix_ms);
    let since = q.since.unwrap_or(until - 7 * 86_400_000);
    if since >= until {
        return Err(ApiError::BadRequest("`since` must be before `until`".into()));
    }
    let top = q.top.unwrap_or(analytics::importance::DEFAULT_TOP);
    if top == 0 || top > analytics::importance::MAX_TOP {
        return Err(ApiError::BadRequest(format!("`top` must be in 1..={}", analytics::importance::MAX_TOP)));
    }
    let tenant = op.tenant.as_deref();
    let report = analytics::importance(&ch.client, &ch.database, &group, &members, (since, until), top, tenant).await?;
    Ok(Json(report))
}

/// `GET /api/v1/inferences`: newest first, cursor-paginated.
#[utoipa::path(get, path = "/api/v1/inferences", tag = "inferences", params(BrowseQuery),
    responses((status = 200, body = Page), (status = 400), (status = 503)))]
pub async fn list_inferences(
    State(state): State<ControlState>,
    op: Operator,
    Query(q): Query<BrowseQuery>,
) -> Result<Json<Page>, ApiError> {
    let ch = store(&state)?;
    let (mut filter, cursor, limit) = q.into_parts()?;
    filter.tenant = op.tenant;
    let page = analytics::list_inferences(&ch.client, &ch.database, &filter, cursor.as_deref(), limit).await?;
    Ok(Json(page))
}

/// `GET /api/v1/inferences/{id}`: the record with its feedback and attributions.
#[utoipa::path(get, path = "/api/v1/inferences/{id}", tag = "inferences",
    responses((status = 200, body = InferenceDetail), (status = 404), (status = 503)))]
pub async fn get_inference(
    State(state): State<ControlState>,
    op: Operator,
    Path(id): Path<String>,
) -> Result<Json<InferenceDetail>, ApiError> {
    let ch = store(&state)?;
    analytics::get_inference(&ch.client, &ch.database, &id, op.tenant.as_deref())
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no inference `{}`", id.chars().take(64).collect::<String>())))
}
