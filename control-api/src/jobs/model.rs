//! The job as the API shows it and the store keeps it (SPEC §10): what was asked
//! ([`JobSpec`]), where it is ([`JobState`]) and what it produced.
//!
//! The state machine: `draft → validating → queued → running → succeeded | failed |
//! cancelled`; only `succeeded` continues to `registered` (a catalog entry with lineage)
//! and, when `enroll` was given, `enrolled` (a challenger at its weight). A job created
//! with `start: false` is validated and waits in `draft` with `validated_at_ms` set until
//! `…/start`. [`JobState::can_become`] is the one table of allowed transitions; the
//! worker and the routes go through it. The trainer's raw status is kept as it came
//! (`provider_status`), whatever it is: an unknown status never fails a job.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use switchyard_config::schema::PromotionConfig;
use utoipa::ToSchema;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Created; or validated with `start: false`, waiting for `…/start`.
    Draft,
    /// The dataset is being built and checked.
    Validating,
    /// Waiting at the trainer (its own validation and queue included).
    Queued,
    /// Training.
    Running,
    /// The trainer finished; the model is being registered.
    Succeeded,
    /// Validation or training failed (`error` says why).
    Failed,
    /// Cancelled by an operator.
    Cancelled,
    /// The model is in the catalog (final unless `enroll` was given).
    Registered,
    /// The model serves as a challenger (final).
    Enrolled,
}

/// `POST /api/v1/jobs`: what to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// The group whose records make the dataset.
    pub group: String,
    /// The provider that trains (kind `openai`: the OpenAI-compatible fine-tuning API;
    /// kind `http`: the in-house trainer contract) and then serves the model.
    pub provider: String,
    /// The model to fine-tune, as the trainer names it.
    pub base_model: String,
    /// Only this tenant's records go into the dataset. Default: records without a tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Where the examples come from. Default: every record of the group with logged bodies.
    #[serde(default)]
    pub dataset: DatasetSpec,
    /// Passed to the trainer as they are (e.g. `n_epochs`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub hyperparameters: serde_json::Map<String, serde_json::Value>,
    /// Start training once validated (default true); false waits in `draft`.
    #[serde(default = "yes")]
    pub start: bool,
    /// Make the result a challenger of a group.
    #[serde(default)]
    pub enroll: Option<EnrollSpec>,
    /// The trainer's model-name suffix (OpenAI `suffix`). Default: none.
    #[serde(default)]
    pub suffix: Option<String>,
}

/// `dataset:` of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// `records` (the group's recorded traffic) or `file` (a JSONL file under `jobs.dataset_dir`).
    #[serde(default)]
    pub source: DatasetSource,
    /// `records`: from this time, Unix ms (inclusive). Default: no bound.
    #[serde(default)]
    pub since: Option<i64>,
    /// `records`: until this time, Unix ms (exclusive). Default: no bound.
    #[serde(default)]
    pub until: Option<i64>,
    /// `records`: keep requests whose last value of `metric` is at least `min`.
    #[serde(default)]
    pub feedback: Option<FeedbackFilter>,
    /// `records`: at most this many examples (newest kept). Default: no cap.
    #[serde(default)]
    pub max_examples: Option<u64>,
    /// `records`: identical requests count once. Default true.
    #[serde(default = "yes")]
    pub dedup: bool,
    /// `file`: the path, relative to `jobs.dataset_dir`.
    #[serde(default)]
    pub path: Option<String>,
}

impl Default for DatasetSpec {
    fn default() -> Self {
        Self {
            source: DatasetSource::Records,
            since: None,
            until: None,
            feedback: None,
            max_examples: None,
            dedup: true,
            path: None,
        }
    }
}

/// Where a dataset comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DatasetSource {
    /// The group's records in ClickHouse.
    #[default]
    Records,
    /// A JSONL file under `jobs.dataset_dir`.
    File,
}

/// `dataset.feedback`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackFilter {
    /// The feedback metric, e.g. `thumbs_up`.
    pub metric: String,
    /// The least value kept (the last value per request and metric counts).
    pub min: f64,
}

/// `enroll:` of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollSpec {
    /// The group the model joins as a challenger.
    pub group: String,
    /// Its weight (the other members keep theirs).
    pub weight: f64,
    /// The member's name. Default `ft-<first 8 characters of the job id>`.
    #[serde(default)]
    pub member: Option<String>,
    /// Promotion rules set on the group (auto-promotion and rollback). Default: the
    /// group's own.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub promotion: Option<PromotionConfig>,
}

/// What the dataset builder made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DatasetInfo {
    /// Examples in the training file.
    pub train_rows: u64,
    /// Examples in the validation file.
    pub validation_rows: u64,
    /// Records that matched but could not become an example (no body, not a chat).
    pub skipped_rows: u64,
    /// Text spans replaced by the redaction patterns.
    pub redactions: u64,
    /// How the dataset was chosen, in words (also the catalog entry's `training.dataset`).
    pub description: String,
    /// The trainer's id of the training file, once uploaded.
    pub train_file: Option<String>,
    /// The trainer's id of the validation file, once uploaded.
    pub validation_file: Option<String>,
}

/// One checkpoint a trainer kept of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Checkpoint {
    /// The trainer's id of the checkpoint.
    pub id: String,
    /// The training step it was taken at.
    pub step: i64,
    /// The model it can be served as, at the provider.
    pub model: Option<String>,
    /// When it was taken, Unix ms.
    pub created_at_ms: Option<i64>,
    /// Its metrics (`train_loss`, `valid_loss`, …), as the trainer reports them.
    #[schema(value_type = Object)]
    pub metrics: BTreeMap<String, f64>,
}

/// A job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Job {
    /// The job's id.
    pub id: String,
    /// Where it is.
    pub state: JobState,
    /// What was asked.
    pub spec: JobSpec,
    /// Who asked.
    pub created_by: String,
    /// The trainer's own status, verbatim (unknown ones included).
    pub provider_status: Option<String>,
    /// The trainer's id of the job.
    pub provider_job_id: Option<String>,
    /// Set before the job is created at the trainer: on a restart with this set and no
    /// `provider_job_id`, the worker looks the job up at the trainer before creating one.
    pub creating_at_ms: Option<i64>,
    /// An operator asked to cancel; the worker tells the trainer.
    pub cancel_requested: bool,
    /// The dataset, once built.
    pub dataset: Option<DatasetInfo>,
    /// The trained model's name at the provider.
    pub fine_tuned_model: Option<String>,
    /// The trainer's metrics (last checkpoint's).
    #[schema(value_type = Object)]
    pub metrics: BTreeMap<String, f64>,
    /// The checkpoints the trainer kept, by step (read when the job succeeds; an OpenAI
    /// trainer keeps one per epoch of the last few).
    #[serde(default)]
    pub checkpoints: Vec<Checkpoint>,
    /// The catalog entry made for the model.
    pub catalog_id: Option<String>,
    /// The challenger made for it (`<group>/<member>`).
    pub member: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Created, Unix ms.
    pub created_at_ms: i64,
    /// Validation passed, Unix ms.
    pub validated_at_ms: Option<i64>,
    /// Training started at the trainer, Unix ms.
    pub started_at_ms: Option<i64>,
    /// Reached a final state, Unix ms.
    pub finished_at_ms: Option<i64>,
}

fn yes() -> bool {
    true
}

// === impl JobState ===

impl JobState {
    /// Every state, in order.
    pub const ALL: [JobState; 9] = [
        Self::Draft,
        Self::Validating,
        Self::Queued,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
        Self::Registered,
        Self::Enrolled,
    ];

    /// The state's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Validating => "validating",
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Registered => "registered",
            Self::Enrolled => "enrolled",
        }
    }

    /// The state named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether a job may go from `self` to `next`.
    pub fn can_become(self, next: Self) -> bool {
        use JobState::*;
        matches!(
            (self, next),
            (Draft, Validating | Queued | Cancelled)
                | (Validating, Draft | Queued | Failed | Cancelled)
                | (Queued, Running | Succeeded | Failed | Cancelled)
                | (Running, Queued | Succeeded | Failed | Cancelled)
                | (Succeeded, Registered | Failed)
                | (Registered, Enrolled | Failed)
        )
    }

    /// States a job can be cancelled in (before the trainer finished).
    pub fn is_cancellable(self) -> bool {
        matches!(self, Self::Draft | Self::Validating | Self::Queued | Self::Running)
    }
}

// === impl Job ===

impl Job {
    /// Whether nothing more will happen to the job.
    pub fn is_final(&self) -> bool {
        match self.state {
            JobState::Failed | JobState::Cancelled | JobState::Enrolled => true,
            JobState::Registered => self.spec.enroll.is_none(),
            _ => false,
        }
    }

    /// Whether the worker has something to do for it (a validated draft waits for `start`).
    pub fn needs_worker(&self) -> bool {
        let waiting = self.state == JobState::Draft && self.validated_at_ms.is_some();
        !(self.is_final() || waiting)
    }
}
