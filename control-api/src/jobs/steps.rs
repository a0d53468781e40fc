//! One step of one job, by state: validate (build the dataset), submit (upload, create at
//! the trainer), poll (status, events, metrics), register, enroll. Each step reads the
//! stored job and stores what it did with a compare-and-set, so an operator's cancel and
//! the worker never overwrite each other, and a step interrupted by a crash is repeated.
//!
//! **No duplicate trainer job across a crash.** Before a job is created at the trainer,
//! `creating_at_ms` is stored (a marker); the create request carries the job's id as its
//! idempotency key (OpenAI: `metadata.switchyard_job`; `http` trainer: `client_ref`).
//! After a restart a job with the marker and no `provider_job_id` is first looked up at
//! the trainer by that key ([`Trainer::find`]); only when the trainer has none is it
//! created. A SIGKILL between the create and storing its id thus finds the job the first
//! request made instead of making a second. (We chose the marker plus lookup over a
//! client-side idempotency header because OpenAI's fine-tuning API has no such header,
//! while its job metadata can be listed and filtered.) Uploaded files are not deduplicated:
//! a crash between an upload and storing its id may leave an unused file at the trainer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use switchyard_config::Config;

use super::dataset::{Builder, DatasetError};
use super::model::{Job, JobState};
use super::redact::Redactor;
use super::result::{self, ACTOR};
use super::store::{self, Event, Stored};
use super::trainer::{phase, CreateJob, Trainer, TrainerError};
use super::worker::JobMetrics;
use crate::error::ApiError;
use crate::{AuditEntry, ControlState};

/// What a step needs.
pub struct Context<'a> {
    /// The control API's state.
    pub state: &'a ControlState,
    /// The config snapshot of this tick.
    pub cfg: &'a Arc<Config>,
    /// The directory relative `jobs.*` paths resolve against.
    pub base_dir: &'a Path,
    /// The worker's metrics.
    pub metrics: &'a JobMetrics,
}

/// A step that should be tried again later.
#[derive(Debug)]
pub enum StepError {
    /// Why.
    Retry(String),
}

impl From<ApiError> for StepError {
    fn from(e: ApiError) -> Self {
        Self::Retry(e.to_string())
    }
}

impl From<TrainerError> for StepError {
    fn from(e: TrainerError) -> Self {
        Self::Retry(e.message)
    }
}

/// Moves `stored` one step.
pub async fn advance(ctx: &Context<'_>, stored: Stored) -> Result<(), StepError> {
    match stored.job.state {
        JobState::Draft => {
            let mut next = stored.job.clone();
            next.state = JobState::Validating;
            let saved = transition(ctx, &stored, next, "info", "validating the dataset".into()).await?;
            validate(ctx, saved).await
        }
        JobState::Validating => validate(ctx, stored).await,
        JobState::Queued | JobState::Running if stored.job.provider_job_id.is_none() => submit(ctx, stored).await,
        JobState::Queued | JobState::Running => poll(ctx, stored).await,
        JobState::Succeeded => register(ctx, stored).await,
        JobState::Registered => enroll(ctx, stored).await,
        JobState::Failed | JobState::Cancelled | JobState::Enrolled => Ok(()),
    }
}

/// Stores `next` over `stored` with an event saying `message`; a change of state is
/// audited. A job that became final is counted and its work directory removed.
async fn transition(
    ctx: &Context<'_>,
    stored: &Stored,
    next: Job,
    level: &str,
    message: String,
) -> Result<Stored, StepError> {
    let action = format!("job.{}", next.state.as_str());
    let event = Event::own(&next, level, message.clone());
    let saved = store::save(ctx.state, stored, &next, Some(&event), (ACTOR, &action, &message)).await?;
    if saved.job.is_final() {
        finished(ctx.metrics, &saved.job);
    }
    if saved.job.finished_at_ms.is_some() {
        // Training is over: the dataset (users' logged bodies) is not needed any more.
        remove_work_dir(&work_dir(ctx.cfg, ctx.base_dir, &saved.job.id)).await;
    }
    Ok(saved)
}

/// Counts a job that reached a final state.
pub fn finished(metrics: &JobMetrics, job: &Job) {
    let seconds = (switchyard_core::unix_ms() - job.created_at_ms) as f64 / 1000.0;
    metrics.finished(job.state, seconds);
}

/// The job's failure with `reason`.
async fn fail(ctx: &Context<'_>, stored: &Stored, reason: String) -> Result<(), StepError> {
    let mut next = stored.job.clone();
    next.state = JobState::Failed;
    next.error = Some(reason.clone());
    next.finished_at_ms = Some(switchyard_core::unix_ms());
    transition(ctx, stored, next, "error", format!("failed: {reason}")).await.map(drop)
}

async fn validate(ctx: &Context<'_>, stored: Stored) -> Result<(), StepError> {
    let built = match build(ctx, &stored.job).await {
        Ok(b) => b,
        Err(DatasetError::Invalid(reason)) => return fail(ctx, &stored, format!("validation: {reason}")).await,
        Err(DatasetError::Transient(m)) => return Err(StepError::Retry(m)),
    };
    let mut next = stored.job.clone();
    let i = &built.info;
    let message = format!(
        "dataset built: {} training + {} validation examples ({} records skipped, {} redactions)",
        i.train_rows, i.validation_rows, i.skipped_rows, i.redactions
    );
    next.dataset = Some(built.info);
    next.validated_at_ms = Some(switchyard_core::unix_ms());
    next.state = if next.spec.start { JobState::Queued } else { JobState::Draft };
    let result = transition(ctx, &stored, next, "info", message).await.map(drop);
    if result.is_err() {
        // Not recorded (an operator cancelled meanwhile, or the store is down): the files
        // hold users' bodies and the next validation rebuilds them anyway.
        remove_work_dir(&work_dir(ctx.cfg, ctx.base_dir, &stored.job.id)).await;
    }
    result
}

async fn build(ctx: &Context<'_>, job: &Job) -> Result<super::dataset::Built, DatasetError> {
    let redactor = Redactor::new(&ctx.cfg.jobs.redact);
    let builder = Builder {
        analytics: ctx.state.analytics.as_ref(),
        dataset_dir: ctx.cfg.jobs.dataset_dir.as_ref().map(|d| ctx.base_dir.join(d)),
        dir: work_dir(ctx.cfg, ctx.base_dir, &job.id),
        validation_fraction: ctx.cfg.jobs.validation_fraction,
        redactor: &redactor,
        logs_bodies: ctx.cfg.groups.get(&job.spec.group).is_some_and(|g| g.records.log_bodies),
    };
    builder.build(job).await
}

fn trainer(ctx: &Context<'_>, job: &Job) -> Result<Trainer, TrainerError> {
    let p = ctx
        .cfg
        .providers
        .get(&job.spec.provider)
        .ok_or_else(|| TrainerError::fatal(format!("provider `{}` no longer exists", job.spec.provider)))?;
    Trainer::for_provider(&job.spec.provider, p, std::time::Duration::from_millis(ctx.cfg.jobs.trainer_timeout_ms))
}

/// Uploads the dataset (when not yet uploaded) and creates the job at the trainer once.
async fn submit(ctx: &Context<'_>, mut stored: Stored) -> Result<(), StepError> {
    if stored.job.cancel_requested && stored.job.creating_at_ms.is_none() {
        let mut next = stored.job.clone();
        next.state = JobState::Cancelled;
        next.finished_at_ms = Some(switchyard_core::unix_ms());
        return transition(ctx, &stored, next, "info", "cancelled before training started".into()).await.map(drop);
    }
    let t = match trainer(ctx, &stored.job) {
        Ok(t) => t,
        Err(e) => return fail(ctx, &stored, e.message).await,
    };
    if stored.job.dataset.as_ref().is_some_and(|d| d.train_file.is_none()) {
        stored = match upload(ctx, &t, stored).await? {
            Ok(s) => s,
            Err((s, e)) => return fail(ctx, &s, e.message).await,
        };
    }
    let found = match stored.job.creating_at_ms {
        Some(_) => t.find(&stored.job.id).await?,
        None => None,
    };
    let pj = match found {
        Some(pj) => pj,
        None => {
            if stored.job.creating_at_ms.is_none() {
                let mut marked = stored.job.clone();
                marked.creating_at_ms = Some(switchyard_core::unix_ms());
                stored = store::save(ctx.state, &stored, &marked, None, (ACTOR, "job.create_at_trainer", "")).await?;
            }
            match t.create(&create_request(&stored.job)).await {
                Ok(pj) => pj,
                Err(e) if e.retryable => return Err(e.into()),
                Err(e) => return fail(ctx, &stored, e.message).await,
            }
        }
    };
    let mut next = stored.job.clone();
    next.provider_job_id = Some(pj.id.clone());
    next.provider_status = Some(pj.status.clone());
    next.started_at_ms = Some(switchyard_core::unix_ms());
    if phase(&pj.status) == Some(JobState::Running) {
        next.state = JobState::Running;
    }
    let message = format!("created at the trainer as `{}` (status `{}`)", pj.id, pj.status);
    transition(ctx, &stored, next, "info", message).await.map(drop)
}

fn create_request(job: &Job) -> CreateJob<'_> {
    let d = job.dataset.as_ref();
    CreateJob {
        job_id: &job.id,
        base_model: &job.spec.base_model,
        training_file: d.and_then(|d| d.train_file.as_deref()).unwrap_or_default(),
        validation_file: d.and_then(|d| d.validation_file.as_deref()),
        hyperparameters: &job.spec.hyperparameters,
        suffix: job.spec.suffix.as_deref(),
    }
}

type Uploaded = Result<Stored, (Stored, TrainerError)>;

/// Uploads the training and validation files (rebuilding them when this replica does not
/// have them), stores their ids and audits the upload with its row counts.
async fn upload(ctx: &Context<'_>, t: &Trainer, stored: Stored) -> Result<Uploaded, StepError> {
    let dir = work_dir(ctx.cfg, ctx.base_dir, &stored.job.id);
    let mut next = stored.job.clone();
    if !dir.join("train.jsonl").is_file() {
        let built =
            build(ctx, &stored.job).await.map_err(|e| StepError::Retry(format!("rebuilding the dataset: {e}")))?;
        let d = next.dataset.get_or_insert_with(Default::default);
        (d.train_rows, d.validation_rows, d.skipped_rows, d.redactions) =
            (built.info.train_rows, built.info.validation_rows, built.info.skipped_rows, built.info.redactions);
    }
    let Some(d) = next.dataset.as_mut() else { return Err(StepError::Retry("no dataset".into())) };
    let name = |split: &str| format!("switchyard-{}-{split}.jsonl", stored.job.id);
    d.train_file = Some(match t.upload(&dir.join("train.jsonl"), &name("train")).await {
        Ok(id) => id,
        Err(e) if e.retryable => return Err(e.into()),
        Err(e) => return Ok(Err((stored, e))),
    });
    if d.validation_rows > 0 {
        d.validation_file = Some(t.upload(&dir.join("validation.jsonl"), &name("validation")).await?);
    }
    let message = format!(
        "dataset uploaded: {} training rows as `{}`, {} validation rows as `{}`",
        d.train_rows,
        d.train_file.as_deref().unwrap_or(""),
        d.validation_rows,
        d.validation_file.as_deref().unwrap_or("-")
    );
    let audit = upload_audit(&next, &message);
    let event = Event::own(&next, "info", message);
    let saved = store::save(ctx.state, &stored, &next, Some(&event), (ACTOR, "job.upload", "")).await?;
    if let Err(error) = ctx.state.audit.record(audit).await {
        tracing::warn!(job = %next.id, %error, "upload audit entry not stored");
    }
    Ok(Ok(saved))
}

fn upload_audit(job: &Job, message: &str) -> AuditEntry {
    AuditEntry {
        audit_id: switchyard_core::new_id(),
        timestamp_ms: switchyard_core::unix_ms(),
        actor: ACTOR.into(),
        action: "job.upload".into(),
        target: format!("jobs.{}", job.id),
        tenant: job.spec.tenant.clone(),
        config_version: 0,
        before: serde_json::Value::Null,
        after: serde_json::json!({ "provider": job.spec.provider, "dataset": job.dataset }),
        reason: message.into(),
    }
}

/// Reads the trainer's events and status; records a change of status.
async fn poll(ctx: &Context<'_>, stored: Stored) -> Result<(), StepError> {
    let t = match trainer(ctx, &stored.job) {
        Ok(t) => t,
        Err(e) => return fail(ctx, &stored, e.message).await,
    };
    let pid = stored.job.provider_job_id.clone().unwrap_or_default();
    if stored.job.cancel_requested {
        if let Err(e) = t.cancel(&pid).await {
            tracing::warn!(job = %stored.job.id, error = %e, "cancel not accepted by the trainer");
        }
    }
    // The status first, then the events: a trainer's last events (its error, its
    // result) are stored before the job becomes final and is no longer polled.
    let pj = t.get(&pid).await?;
    for ev in t.events(&pid).await? {
        let event = Event {
            seq: 0,
            at_ms: ev.at_ms.unwrap_or_else(switchyard_core::unix_ms),
            source: "trainer".into(),
            level: ev.level,
            kind: ev.kind,
            message: ev.message,
            state: None,
            provider_status: None,
            data: ev.data,
        };
        store::trainer_event(ctx.state, &stored.job.id, &ev.id, &event).await?;
    }
    if stored.job.provider_status.as_deref() == Some(pj.status.as_str()) {
        return Ok(());
    }
    let mut next = stored.job.clone();
    next.provider_status = Some(pj.status.clone());
    let (level, message) = match phase(&pj.status) {
        None => (
            "warn",
            format!("trainer status `{}` (not a known state; the job stays {})", pj.status, next.state.as_str()),
        ),
        Some(s @ (JobState::Queued | JobState::Running)) => {
            next.state = s;
            ("info", format!("trainer status `{}`", pj.status))
        }
        Some(JobState::Succeeded) => {
            let Some(model) = pj.fine_tuned_model.clone() else {
                return fail(ctx, &stored, "the trainer reported success without a model".into()).await;
            };
            // The metrics: the last checkpoint's, else what the job object carries.
            next.checkpoints = t.checkpoints(&pj).await?;
            next.metrics = next.checkpoints.last().map_or_else(|| pj.metrics.clone(), |c| c.metrics.clone());
            next.fine_tuned_model = Some(model.clone());
            next.state = JobState::Succeeded;
            next.finished_at_ms = Some(switchyard_core::unix_ms());
            ("info", format!("trainer status `{}`: model `{model}`", pj.status))
        }
        Some(s) => {
            next.state = s;
            next.finished_at_ms = Some(switchyard_core::unix_ms());
            if s == JobState::Failed {
                next.error = Some(pj.error.clone().unwrap_or_else(|| "the trainer reported a failure".into()));
            }
            let level = if s == JobState::Failed { "error" } else { "info" };
            (level, format!("trainer status `{}`{}", pj.status, pj.error.map(|e| format!(": {e}")).unwrap_or_default()))
        }
    };
    transition(ctx, &stored, next, level, message).await.map(drop)
}

async fn register(ctx: &Context<'_>, stored: Stored) -> Result<(), StepError> {
    let framework = trainer(ctx, &stored.job).map(|t| t.framework()).unwrap_or("unknown");
    match result::register(ctx.state, &stored.job, framework).await {
        Ok(id) => {
            let mut next = stored.job.clone();
            next.catalog_id = Some(id.clone());
            next.state = JobState::Registered;
            transition(ctx, &stored, next, "info", format!("registered in the catalog as `{id}`")).await.map(drop)
        }
        Err(e @ (ApiError::Conflict(_) | ApiError::InvalidEntry { .. })) => {
            fail(ctx, &stored, format!("registration: {e}{}", problems(&e))).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn enroll(ctx: &Context<'_>, stored: Stored) -> Result<(), StepError> {
    match result::enroll(ctx.state, &stored.job).await {
        Ok(member) => {
            let mut next = stored.job.clone();
            next.member = Some(member.clone());
            next.state = JobState::Enrolled;
            let w = stored.job.spec.enroll.as_ref().map_or(0.0, |e| e.weight);
            transition(ctx, &stored, next, "info", format!("enrolled as challenger `{member}` at weight {w}"))
                .await
                .map(drop)
        }
        Err(e @ (ApiError::Invalid(_) | ApiError::NotFound(_) | ApiError::Conflict(_) | ApiError::BadRequest(_))) => {
            fail(ctx, &stored, format!("enrolment: {e}{}", problems(&e))).await
        }
        Err(e) => Err(e.into()),
    }
}

fn problems(e: &ApiError) -> String {
    match e {
        ApiError::Invalid(c) => {
            format!(": {}", c.problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
        }
        ApiError::InvalidEntry { problems, .. } => {
            format!(": {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
        }
        _ => String::new(),
    }
}

/// Where job `id`'s dataset is built.
pub fn work_dir(cfg: &Config, base_dir: &Path, id: &str) -> PathBuf {
    base_dir.join(&cfg.jobs.work_dir).join(id)
}

/// Removes a job's dataset (it holds users' logged bodies) once the job no longer needs it.
pub async fn remove_work_dir(dir: &Path) {
    match tokio::fs::remove_dir_all(dir).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => tracing::warn!(dir = %dir.display(), %error, "job dataset not removed"),
    }
}
