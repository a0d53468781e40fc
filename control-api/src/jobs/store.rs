//! Jobs in the state store: reading, creating and changing one, each change a
//! compare-and-set on the job's version with its event and (for a change of state) its
//! audit entry in the same transaction — every transition is audited or did not happen.
//!
//! An [`Event`] is what `GET /jobs/{id}/events` shows: the trainer's own events verbatim
//! (`source: trainer`, with its `level`, `type`, `message`, `data`) and one per observed
//! status change (`source: switchyard`, `type: status`, with the trainer's raw status).

use serde::{Deserialize, Serialize};
use switchyard_state::{JobRow, JobWrite};
use utoipa::ToSchema;

use super::model::{Job, JobState};
use crate::error::ApiError;
use crate::{AuditEntry, ControlState};

/// A job as stored, with its version.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The job.
    pub job: Job,
    /// Its version (compare-and-set token).
    pub version: u64,
}

/// One event of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// Store order (also the SSE `id`); 0 before it is stored.
    #[serde(default)]
    pub seq: i64,
    /// When it was stored, Unix ms; for a trainer's event, its own time when it gave one.
    #[serde(default)]
    pub at_ms: i64,
    /// `switchyard` or `trainer`.
    pub source: String,
    /// `info`, `warn` or `error` (a trainer's own level verbatim).
    pub level: String,
    /// `status`, `message`, `metrics`, … (a trainer's own type verbatim).
    #[serde(rename = "type")]
    pub kind: String,
    /// Words.
    pub message: String,
    /// The job's state after the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub state: Option<JobState>,
    /// The trainer's raw status, when the event is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_status: Option<String>,
    /// Extra data (a trainer's `data` verbatim).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

// === impl Event ===

impl Event {
    /// One of Switchyard's own events about `job`.
    pub fn own(job: &Job, level: &str, message: impl Into<String>) -> Self {
        Self {
            seq: 0,
            at_ms: switchyard_core::unix_ms(),
            source: "switchyard".into(),
            level: level.into(),
            kind: "status".into(),
            message: message.into(),
            state: Some(job.state),
            provider_status: job.provider_status.clone(),
            data: serde_json::Value::Null,
        }
    }
}

/// The job `id`, if stored.
pub async fn get(state: &ControlState, id: &str) -> Result<Option<Stored>, ApiError> {
    state.plane.store().jobs().get(id).await?.map(decode).transpose()
}

/// A stored row as a job.
pub fn decode(row: JobRow) -> Result<Stored, ApiError> {
    let job: Job = serde_json::from_str(&row.document)
        .map_err(|e| ApiError::Internal(format!("stored job `{}` does not parse: {e}", row.id)))?;
    Ok(Stored { job, version: row.version })
}

/// Stores a new job with its first event, audited as `job.create` by `actor`.
pub async fn create(state: &ControlState, job: &Job, actor: &str) -> Result<Stored, ApiError> {
    let document = to_json(job)?;
    let event = to_json(&Event::own(job, "info", format!("job created by {actor}")))?;
    let audit = audit(actor, "job.create", job, serde_json::Value::Null, "");
    let stored = audit.to_stored().map_err(|e| ApiError::Internal(format!("audit entry: {e}")))?;
    let row = state.plane.store().jobs().create(&write(job, &document), &event, Some(&stored)).await?;
    state.audit.published(&audit);
    decode(row)
}

/// Stores `next` over `current` if it is still at its version; `event` goes with it, and a
/// change of state is audited as `action` by `actor` with `reason`. A lost race is
/// [`ApiError::StaleEntry`] (re-read and retry).
pub async fn save(
    state: &ControlState,
    current: &Stored,
    next: &Job,
    event: Option<&Event>,
    (actor, action, reason): (&str, &str, &str),
) -> Result<Stored, ApiError> {
    let (from, to) = (current.job.state, next.state);
    if from != to && !from.can_become(to) {
        return Err(ApiError::Internal(format!(
            "job `{}` cannot go from {} to {}",
            next.id,
            from.as_str(),
            to.as_str()
        )));
    }
    let document = to_json(next)?;
    let event = event.map(to_json).transpose()?;
    let audit = (current.job.state != next.state).then(|| audit(actor, action, next, view(&current.job), reason));
    let stored = audit
        .as_ref()
        .map(AuditEntry::to_stored)
        .transpose()
        .map_err(|e| ApiError::Internal(format!("audit entry: {e}")))?;
    let row = state
        .plane
        .store()
        .jobs()
        .update(&write(next, &document), current.version, event.as_deref(), stored.as_ref())
        .await
        .map_err(|e| match e {
            switchyard_state::StateError::StaleEntry { current } => {
                ApiError::StaleEntry { id: format!("jobs/{}", next.id), current }
            }
            e => e.into(),
        })?;
    if let Some(a) = &audit {
        state.audit.published(a);
    }
    decode(row)
}

/// Stores a trainer's own event once (`source_id` is its id at the trainer).
pub async fn trainer_event(
    state: &ControlState,
    job_id: &str,
    source_id: &str,
    event: &Event,
) -> Result<bool, ApiError> {
    Ok(state.plane.store().jobs().add_event(job_id, Some(source_id), &to_json(event)?).await?)
}

/// The job's events after `after` (0: all), oldest first.
pub async fn events(state: &ControlState, id: &str, after: i64, limit: u32) -> Result<Vec<Event>, ApiError> {
    let rows = state.plane.store().jobs().events(id, after, limit).await?;
    rows.into_iter()
        .map(|r| {
            let mut e: Event = serde_json::from_str(&r.event)
                .map_err(|e| ApiError::Internal(format!("stored event of job `{id}` does not parse: {e}")))?;
            e.seq = r.seq;
            if e.at_ms == 0 {
                e.at_ms = r.at_ms;
            }
            Ok(e)
        })
        .collect()
}

/// What audit entries show of a job.
pub fn view(job: &Job) -> serde_json::Value {
    serde_json::json!({
        "state": job.state,
        "provider_status": job.provider_status,
        "provider_job_id": job.provider_job_id,
        "dataset": job.dataset,
        "fine_tuned_model": job.fine_tuned_model,
        "catalog_id": job.catalog_id,
        "member": job.member,
        "error": job.error,
    })
}

fn audit(actor: &str, action: &str, job: &Job, before: serde_json::Value, reason: &str) -> AuditEntry {
    AuditEntry {
        audit_id: switchyard_core::new_id(),
        timestamp_ms: switchyard_core::unix_ms(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: format!("jobs.{}", job.id),
        tenant: job.spec.tenant.clone(),
        config_version: 0,
        before,
        after: view(job),
        reason: reason.to_owned(),
    }
}

fn write<'a>(job: &'a Job, document: &'a str) -> JobWrite<'a> {
    JobWrite {
        id: &job.id,
        state: job.state.as_str(),
        tenant: job.spec.tenant.as_deref(),
        provider_job_id: job.provider_job_id.as_deref(),
        document,
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<String, ApiError> {
    serde_json::to_string(v).map_err(|e| ApiError::Internal(format!("job to JSON: {e}")))
}
