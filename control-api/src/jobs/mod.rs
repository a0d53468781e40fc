//! Fine-tuning jobs (SPEC §10): recorded traffic → a dataset → a trainer → a model in the
//! catalog → optionally a guarded challenger.
//!
//! ```text
//! routes/jobs.rs ── create / start / cancel (here) ──▶ store.rs (state store, audited)
//! worker.rs (holder of the `jobs` lease) ── steps.rs, one step per job per tick:
//!    draft ─▶ validating ── dataset.rs (ClickHouse → redact.rs → JSONL files) ─▶ queued | draft (start: false)
//!    queued ── trainer.rs (trainer_openai.rs | trainer_http.rs): upload, create once ─▶ queued/running
//!    running ── poll status + events ─▶ succeeded | failed | cancelled
//!    succeeded ── result.rs: catalog entry with lineage ─▶ registered ── enroll ─▶ enrolled
//! ```
//!
//! Invariants: the store's job document is the only state (a restart resumes from it);
//! every change is a compare-and-set, and every change of state is audited with an event;
//! only the lease holder talks to trainers; datasets never sit whole in memory and are
//! deleted when training is over.

pub mod dataset;
pub mod model;
pub mod redact;
pub mod result;
pub mod spec;
pub mod steps;
pub mod store;
pub mod trainer;
pub mod trainer_client;
pub mod trainer_http;
pub mod trainer_openai;
pub mod worker;

use model::{Job, JobSpec, JobState};
use store::{Event, Stored};

use crate::error::ApiError;
use crate::ControlState;

/// Attempts of an operator's change that loses a race with the worker.
const ATTEMPTS: usize = 5;

/// Creates a job from a checked `spec`, as `actor`.
pub async fn create(state: &ControlState, spec: JobSpec, actor: &str) -> Result<Stored, ApiError> {
    let (cfg, _) = state.editor.snapshot();
    spec::check(&spec, &cfg)?;
    let job = Job {
        id: switchyard_core::new_id(),
        state: JobState::Draft,
        spec,
        created_by: actor.to_owned(),
        provider_status: None,
        provider_job_id: None,
        creating_at_ms: None,
        cancel_requested: false,
        dataset: None,
        fine_tuned_model: None,
        metrics: Default::default(),
        checkpoints: Vec::new(),
        catalog_id: None,
        member: None,
        error: None,
        created_at_ms: switchyard_core::unix_ms(),
        validated_at_ms: None,
        started_at_ms: None,
        finished_at_ms: None,
    };
    store::create(state, &job, actor).await
}

/// `…/start`: a validated draft is queued; a draft still to be validated will start once
/// validated. Any other state is 409.
pub async fn start(state: &ControlState, id: &str, actor: &str) -> Result<Stored, ApiError> {
    retrying(
        state,
        id,
        |job| {
            if job.state != JobState::Draft {
                return Err(ApiError::Conflict(format!(
                    "job `{id}` is {}; only a draft can be started",
                    job.state.as_str()
                )));
            }
            let mut next = job.clone();
            next.spec.start = true;
            let message = if job.validated_at_ms.is_some() {
                next.state = JobState::Queued;
                format!("started by {actor}")
            } else {
                format!("{actor} asked to start once validated")
            };
            Ok((next, message))
        },
        (actor, "job.start"),
    )
    .await
}

/// `…/cancel`: a job not yet at the trainer is cancelled at once; one at the trainer is
/// marked, and the worker cancels it there. A job past training is 409.
pub async fn cancel(state: &ControlState, id: &str, actor: &str) -> Result<Stored, ApiError> {
    let saved = retrying(
        state,
        id,
        |job| {
            if !job.state.is_cancellable() {
                return Err(ApiError::Conflict(format!(
                    "job `{id}` is {}; it can no longer be cancelled",
                    job.state.as_str()
                )));
            }
            let mut next = job.clone();
            next.cancel_requested = true;
            if job.provider_job_id.is_none() && job.creating_at_ms.is_none() {
                next.state = JobState::Cancelled;
                next.finished_at_ms = Some(switchyard_core::unix_ms());
                return Ok((next, format!("cancelled by {actor}")));
            }
            Ok((next, format!("{actor} asked to cancel; the trainer is being told")))
        },
        (actor, "job.cancel"),
    )
    .await?;
    if saved.job.state == JobState::Cancelled {
        let (cfg, _) = state.editor.snapshot();
        steps::remove_work_dir(&steps::work_dir(&cfg, state.plane.base_dir(), id)).await;
    }
    Ok(saved)
}

/// Reads job `id`, applies `change` and stores it; re-reads and retries when the worker
/// changed the job in between.
async fn retrying(
    state: &ControlState,
    id: &str,
    change: impl Fn(&Job) -> Result<(Job, String), ApiError>,
    (actor, action): (&str, &str),
) -> Result<Stored, ApiError> {
    for attempt in 1..=ATTEMPTS {
        let stored = store::get(state, id).await?.ok_or_else(|| missing(id))?;
        let (next, message) = change(&stored.job)?;
        let event = Event::own(&next, "info", message.clone());
        match store::save(state, &stored, &next, Some(&event), (actor, action, &message)).await {
            Err(ApiError::StaleEntry { .. }) if attempt < ATTEMPTS => continue,
            other => return other,
        }
    }
    Err(ApiError::Unavailable(format!("job `{id}` kept changing; try again")))
}

/// The 404 of a job that does not exist.
pub fn missing(id: &str) -> ApiError {
    ApiError::NotFound(format!("job `{id}` does not exist"))
}
