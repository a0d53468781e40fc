//! Trainers: where a job's dataset is uploaded and its training runs. The job's `provider`
//! picks one by kind — `openai`: the OpenAI-compatible fine-tuning API
//! ([`super::trainer_openai`]; OpenAI, Together, Fireworks, any compatible server);
//! `http`: the in-house trainer contract ([`super::trainer_http`], in the README).
//!
//! A trainer's status is kept verbatim; [`phase`] maps the ones we know onto the job's
//! states and leaves any other (`queued_for_gpu`, a provider's new state) without a phase:
//! the job stays where it is and the status shows in its events. Errors know whether a
//! retry can help ([`TrainerError::retryable`]): connection problems, timeouts, 429 and
//! 5xx are retried with backoff, any other refusal fails the job with the trainer's words.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use switchyard_config::schema::{ProviderConfig, ProviderKind};

use super::model::{Checkpoint, JobState};
use super::{trainer_http::HttpTrainer, trainer_openai::OpenAiTrainer};

/// The trainer's view of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderJob {
    /// The trainer's id.
    pub id: String,
    /// Its raw status.
    pub status: String,
    /// The trained model's name, once there is one.
    pub fine_tuned_model: Option<String>,
    /// The trainer's error message, when it failed.
    pub error: Option<String>,
    /// Metrics the job object itself carries (the `http` contract's `metrics`).
    pub metrics: BTreeMap<String, f64>,
}

/// One of the trainer's own events.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainerEvent {
    /// Its id at the trainer.
    pub id: String,
    /// Its time, Unix ms, when given.
    pub at_ms: Option<i64>,
    /// Level, verbatim.
    pub level: String,
    /// Type, verbatim.
    pub kind: String,
    /// Message, verbatim.
    pub message: String,
    /// Data, verbatim.
    pub data: serde_json::Value,
}

/// What to create at the trainer.
#[derive(Debug, Clone)]
pub struct CreateJob<'a> {
    /// Switchyard's job id (sent as metadata / client reference: the idempotency key).
    pub job_id: &'a str,
    /// The base model.
    pub base_model: &'a str,
    /// The training file's id.
    pub training_file: &'a str,
    /// The validation file's id.
    pub validation_file: Option<&'a str>,
    /// Hyperparameters, verbatim.
    pub hyperparameters: &'a serde_json::Map<String, serde_json::Value>,
    /// The model-name suffix.
    pub suffix: Option<&'a str>,
}

/// A failed trainer call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TrainerError {
    /// What happened (never a key).
    pub message: String,
    /// Whether a retry can help.
    pub retryable: bool,
}

/// A trainer for one provider.
pub enum Trainer {
    /// The OpenAI-compatible fine-tuning API.
    OpenAi(OpenAiTrainer),
    /// The in-house trainer contract.
    Http(HttpTrainer),
}

// === impl TrainerError ===

impl TrainerError {
    /// A refusal the trainer will repeat.
    pub fn fatal(message: impl Into<String>) -> Self {
        Self { message: message.into(), retryable: false }
    }

    /// A failure a later call may not have.
    pub fn transient(message: impl Into<String>) -> Self {
        Self { message: message.into(), retryable: true }
    }

    /// A reqwest failure (connection, timeout, body): retryable.
    pub fn from_reqwest(what: &str, e: reqwest::Error) -> Self {
        // reqwest's message may carry the URL but never headers; the key is a header.
        Self::transient(format!("{what}: {}", e.without_url()))
    }

    /// An HTTP status the trainer answered with, and its body's message.
    pub fn from_status(what: &str, status: u16, body: &str) -> Self {
        if status == 401 || status == 403 {
            // Some trainers quote (part of) the key they refused; never pass that on.
            return Self::fatal(format!("{what}: the trainer refused the provider's credentials ({status})"));
        }
        let message = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| {
                v["error"]["message"]
                    .as_str()
                    .or_else(|| v["error"].as_str())
                    .or_else(|| v["message"].as_str())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| body.chars().take(200).collect());
        let message = format!("{what}: trainer answered {status}: {message}");
        Self { message, retryable: status == 429 || status >= 500 || status == 408 }
    }
}

// === impl Trainer ===

impl Trainer {
    /// The trainer of `provider` (validated config: kind `openai` or `http` with a `base_url`).
    pub fn for_provider(name: &str, provider: &ProviderConfig, timeout: Duration) -> Result<Self, TrainerError> {
        let base = provider
            .base_url
            .clone()
            .ok_or_else(|| TrainerError::fatal(format!("provider `{name}` has no base_url")))?;
        let key = match &provider.api_key {
            Some(k) => Some(
                k.resolve()
                    .map_err(|e| TrainerError::fatal(format!("provider `{name}`'s api_key: {e}")))?
                    .expose()
                    .to_owned(),
            ),
            None => None,
        };
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| TrainerError::fatal(format!("HTTP client: {e}")))?;
        match provider.kind {
            ProviderKind::Openai => Ok(Self::OpenAi(OpenAiTrainer::new(http, base, key))),
            ProviderKind::Http => Ok(Self::Http(HttpTrainer::new(http, base, key))),
            other => Err(TrainerError::fatal(format!("provider `{name}` (kind {other:?}) cannot train"))),
        }
    }

    /// Uploads a JSONL file (streamed from disk); the trainer's file id.
    pub async fn upload(&self, path: &Path, name: &str) -> Result<String, TrainerError> {
        match self {
            Self::OpenAi(t) => t.upload(path, name).await,
            Self::Http(t) => t.upload(path, name).await,
        }
    }

    /// Creates the job.
    pub async fn create(&self, req: &CreateJob<'_>) -> Result<ProviderJob, TrainerError> {
        match self {
            Self::OpenAi(t) => t.create(req).await,
            Self::Http(t) => t.create(req).await,
        }
    }

    /// The trainer's job made for Switchyard's `job_id`, if one was created.
    pub async fn find(&self, job_id: &str) -> Result<Option<ProviderJob>, TrainerError> {
        match self {
            Self::OpenAi(t) => t.find(job_id).await,
            Self::Http(t) => t.find(job_id).await,
        }
    }

    /// The job now.
    pub async fn get(&self, id: &str) -> Result<ProviderJob, TrainerError> {
        match self {
            Self::OpenAi(t) => t.get(id).await,
            Self::Http(t) => t.get(id).await,
        }
    }

    /// The job's recent events, oldest first.
    pub async fn events(&self, id: &str) -> Result<Vec<TrainerEvent>, TrainerError> {
        match self {
            Self::OpenAi(t) => t.events(id).await,
            Self::Http(t) => t.events(id).await,
        }
    }

    /// The checkpoints the trainer kept of the job, by step (the `http` contract has none).
    pub async fn checkpoints(&self, job: &ProviderJob) -> Result<Vec<Checkpoint>, TrainerError> {
        match self {
            Self::OpenAi(t) => t.checkpoints(&job.id).await,
            Self::Http(_) => Ok(Vec::new()),
        }
    }

    /// Asks the trainer to cancel the job.
    pub async fn cancel(&self, id: &str) -> Result<ProviderJob, TrainerError> {
        match self {
            Self::OpenAi(t) => t.cancel(id).await,
            Self::Http(t) => t.cancel(id).await,
        }
    }

    /// The catalog's `training.framework` for models this trainer makes.
    pub fn framework(&self) -> &'static str {
        match self {
            Self::OpenAi(_) => "openai-fine-tuning",
            Self::Http(_) => "http-trainer",
        }
    }
}

/// The job state a trainer status means; `None` for a status we do not know (the job
/// stays where it is).
pub fn phase(status: &str) -> Option<JobState> {
    match status {
        "validating_files" | "queued" | "pending" => Some(JobState::Queued),
        "running" => Some(JobState::Running),
        "succeeded" | "completed" => Some(JobState::Succeeded),
        "failed" => Some(JobState::Failed),
        "cancelled" | "canceled" => Some(JobState::Cancelled),
        _ => None,
    }
}

/// Reads a JSON answer: 2xx → the value, anything else → the status's error.
pub async fn answer(
    what: &str,
    r: Result<reqwest::Response, reqwest::Error>,
) -> Result<serde_json::Value, TrainerError> {
    let r = r.map_err(|e| TrainerError::from_reqwest(what, e))?;
    let status = r.status().as_u16();
    let body = r.text().await.map_err(|e| TrainerError::from_reqwest(what, e))?;
    if !(200..300).contains(&status) {
        return Err(TrainerError::from_status(what, status, &body));
    }
    serde_json::from_str(&body).map_err(|e| TrainerError::transient(format!("{what}: answer is not JSON: {e}")))
}

/// Numbers of a JSON object (other values left out).
pub fn numbers(v: &serde_json::Value) -> BTreeMap<String, f64> {
    v.as_object()
        .map(|m| m.iter().filter_map(|(k, v)| v.as_f64().map(|f| (k.clone(), f))).collect())
        .unwrap_or_default()
}

/// A streamed multipart file part of the file at `path`.
pub async fn file_part(path: &Path, name: &str) -> Result<reqwest::multipart::Part, TrainerError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| TrainerError::fatal(format!("dataset file {}: {e}", path.display())))?;
    let len = file.metadata().await.map_err(|e| TrainerError::fatal(format!("dataset file: {e}")))?.len();
    reqwest::multipart::Part::stream_with_length(reqwest::Body::from(file), len)
        .file_name(name.to_owned())
        .mime_str("application/jsonl")
        .map_err(|e| TrainerError::fatal(format!("multipart: {e}")))
}
