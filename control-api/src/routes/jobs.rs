//! `/api/v1/jobs…`: fine-tuning jobs (SPEC §10) — create, list, read, events (JSON, or
//! `?follow=1` as Server-Sent Events until the job is final), start, cancel. Viewers read;
//! admins write. A body's problems are 422 with their dotted paths (`dataset.feedback.min`).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use switchyard_config::ConfigError;
use switchyard_state::JobFilter;

use crate::auth::{Operator, Writer};
use crate::error::ApiError;
use crate::extract::RawJson;
use crate::jobs::model::{Job, JobState};
use crate::jobs::store::{self, Event};
use crate::jobs::{self, missing};
use crate::ControlState;

/// How often a followed event stream looks for new events.
const FOLLOW_POLL: Duration = Duration::from_millis(200);
/// Events read from the store at once.
const EVENT_PAGE: u32 = 500;

/// `GET /jobs` filters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct JobQuery {
    /// Only jobs in this state.
    pub state: Option<String>,
    /// A previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Most jobs per page (1..=1000, default 100).
    pub limit: Option<u32>,
}

/// A page of jobs, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobPageView {
    /// The jobs.
    pub jobs: Vec<Job>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /jobs/{id}/events` options.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct EventQuery {
    /// Events after this sequence number (default 0: all).
    pub after: Option<i64>,
    /// `1`: stream as Server-Sent Events until the job is final.
    pub follow: Option<String>,
}

/// A job's events.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventsView {
    /// Oldest first.
    pub events: Vec<Event>,
}

/// `POST /api/v1/jobs`
#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs", request_body = crate::jobs::model::JobSpec,
    responses((status = 201, body = Job), (status = 422)))]
pub async fn create(
    State(state): State<ControlState>,
    Writer(op): Writer,
    body: RawJson,
) -> Result<Response, ApiError> {
    let mut spec = jobs::spec::parse(&body.checked()?)?;
    if let Some(tenant) = &op.tenant {
        // A tenant token trains on its own tenant's records and groups only.
        if spec.tenant.as_ref().is_some_and(|t| t != tenant) {
            return Err(ApiError::Invalid(ConfigError::one(
                "tenant",
                format!("must be `{tenant}` (the token's tenant)"),
            )));
        }
        let (cfg, _) = state.editor.snapshot();
        if !cfg.groups.get(&spec.group).is_some_and(|g| op.sees_group(g)) {
            return Err(ApiError::Invalid(ConfigError::one("group", format!("`{}` is not a group", spec.group))));
        }
        spec.tenant = Some(tenant.clone());
    }
    let stored = jobs::create(&state, spec, &op.name).await?;
    let location = format!("/api/v1/jobs/{}", stored.job.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(stored.job)).into_response())
}

/// `GET /api/v1/jobs`
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(JobQuery), responses((status = 200, body = JobPageView)))]
pub async fn list(
    State(state): State<ControlState>,
    op: Operator,
    Query(q): Query<JobQuery>,
) -> Result<Json<JobPageView>, ApiError> {
    let states = match &q.state {
        None => Vec::new(),
        Some(s) if JobState::parse(s).is_some() => vec![s.clone()],
        Some(s) => return Err(ApiError::BadRequest(format!("state: `{s}` is not a job state"))),
    };
    let page = state
        .plane
        .store()
        .jobs()
        .list(&JobFilter { states, cursor: q.cursor, limit: q.limit, tenant: op.tenant.clone() })
        .await?;
    let jobs = page.rows.into_iter().map(|r| store::decode(r).map(|s| s.job)).collect::<Result<_, _>>()?;
    Ok(Json(JobPageView { jobs, next_cursor: page.next_cursor }))
}

/// `GET /api/v1/jobs/{id}`
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", responses((status = 200, body = Job), (status = 404)))]
pub async fn get_one(
    State(state): State<ControlState>,
    op: Operator,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    Ok(Json(visible(&state, &op, &id).await?.job))
}

/// Job `id` when `op` may see it: unscoped, or the job's tenant is its own; otherwise
/// the 404 of a missing job.
async fn visible(state: &ControlState, op: &Operator, id: &str) -> Result<store::Stored, ApiError> {
    let stored = store::get(state, id).await?.ok_or_else(|| missing(id))?;
    match &op.tenant {
        Some(t) if stored.job.spec.tenant.as_ref() != Some(t) => Err(missing(id)),
        _ => Ok(stored),
    }
}

/// `POST /api/v1/jobs/{id}/start`
#[utoipa::path(post, path = "/api/v1/jobs/{id}/start", tag = "jobs", responses((status = 200, body = Job), (status = 409)))]
pub async fn start(
    State(state): State<ControlState>,
    Writer(op): Writer,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    visible(&state, &op, &id).await?;
    Ok(Json(jobs::start(&state, &id, &op.name).await?.job))
}

/// `POST /api/v1/jobs/{id}/cancel`
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs", responses((status = 200, body = Job), (status = 409)))]
pub async fn cancel(
    State(state): State<ControlState>,
    Writer(op): Writer,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    visible(&state, &op, &id).await?;
    Ok(Json(jobs::cancel(&state, &id, &op.name).await?.job))
}

/// `GET /api/v1/jobs/{id}/events`
#[utoipa::path(get, path = "/api/v1/jobs/{id}/events", tag = "jobs", params(EventQuery),
    responses((status = 200, body = EventsView), (status = 404)))]
pub async fn events(
    State(state): State<ControlState>,
    op: Operator,
    Path(id): Path<String>,
    Query(q): Query<EventQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    visible(&state, &op, &id).await?;
    let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let after = q.after.or(last_event_id).unwrap_or(0);
    match q.follow.as_deref() {
        None | Some("0") | Some("false") => {
            Ok(Json(EventsView { events: store::events(&state, &id, after, 10_000).await? }).into_response())
        }
        Some("1") | Some("true") => Ok(follow(state, id, after).into_response()),
        Some(other) => Err(ApiError::BadRequest(format!("follow: `{other}` is not 1 or 0"))),
    }
}

/// What a followed stream has sent and holds.
struct Follow {
    state: ControlState,
    id: String,
    after: i64,
    buffer: VecDeque<Event>,
    done: bool,
}

fn follow(
    state: ControlState,
    id: String,
    after: i64,
) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>> {
    let start = Follow { state, id, after, buffer: VecDeque::new(), done: false };
    let stream = futures_util::stream::unfold(start, |mut f| async move {
        loop {
            if let Some(ev) = f.buffer.pop_front() {
                f.after = ev.seq;
                let sse = SseEvent::default().id(ev.seq.to_string()).json_data(&ev).unwrap_or_default();
                return Some((Ok(sse), f));
            }
            if f.done {
                return None;
            }
            // Read whether the job is final before reading events, so the events that made
            // it final are sent before the stream ends.
            let fin = matches!(store::get(&f.state, &f.id).await, Ok(Some(s)) if s.job.is_final());
            match store::events(&f.state, &f.id, f.after, EVENT_PAGE).await {
                Ok(evs) if !evs.is_empty() => f.buffer.extend(evs),
                Ok(_) if fin => f.done = true,
                Ok(_) => tokio::time::sleep(FOLLOW_POLL).await,
                Err(error) => {
                    tracing::warn!(job = %f.id, %error, "job events not read");
                    tokio::time::sleep(FOLLOW_POLL * 5).await;
                }
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
