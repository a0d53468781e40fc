//! The `http` trainer contract for in-house training (README, "Fine-tuning jobs: the
//! `http` trainer contract"). Paths are relative to the provider's `base_url`:
//!
//! - `POST /datasets?name=<file name>` — body: the JSONL file (`application/jsonl`),
//!   streamed → `{"id"}`;
//! - `POST /jobs` `{client_ref, base_model, train_dataset, validation_dataset,
//!   hyperparameters, suffix}` → a job; **idempotent on `client_ref`** (Switchyard's job
//!   id): a second POST answers the job the first one made;
//! - `GET /jobs?client_ref=<id>` → `{"jobs": [job…]}`;
//! - `GET /jobs/{id}` → job: `{id, status, model, error, metrics}` — `status` is any
//!   string (`queued`, `running`, `succeeded`, `failed`, `cancelled` are understood;
//!   others are kept and shown), `model` the trained model's name at the serving
//!   provider once succeeded, `metrics` numbers for the catalog;
//! - `GET /jobs/{id}/events` → `{"events": [{id, created_at, level, type, message, data}]}`
//!   oldest first (`created_at` in Unix seconds);
//! - `POST /jobs/{id}/cancel` → the job.
//!
//! Errors: any non-2xx with `{"error": {"message"}}` (or `{"error": "…"}`); 429 and 5xx
//! are retried, others fail the job.

use std::path::Path;

use serde_json::{json, Value};

use super::trainer::{answer, numbers, CreateJob, ProviderJob, TrainerError, TrainerEvent};
use super::trainer_client::TrainerClient;
use super::trainer_openai::seg;

/// A client of one in-house trainer.
pub struct HttpTrainer {
    client: TrainerClient,
}

// === impl HttpTrainer ===

impl HttpTrainer {
    /// A trainer at `base` with an optional bearer `key`.
    pub fn new(http: reqwest::Client, base: String, key: Option<String>) -> Self {
        Self { client: TrainerClient::new(http, &base, key) }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, path)
    }

    /// `POST /datasets`.
    pub async fn upload(&self, path: &Path, name: &str) -> Result<String, TrainerError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| TrainerError::fatal(format!("dataset file {}: {e}", path.display())))?;
        let r = self
            .request(reqwest::Method::POST, "/datasets")
            .query(&[("name", name)])
            .header("content-type", "application/jsonl")
            .body(reqwest::Body::from(file))
            .send()
            .await;
        let v = answer("upload", r).await?;
        v["id"].as_str().map(str::to_owned).ok_or_else(|| TrainerError::transient("upload: answer has no `id`"))
    }

    /// `POST /jobs` (idempotent on `client_ref`).
    pub async fn create(&self, req: &CreateJob<'_>) -> Result<ProviderJob, TrainerError> {
        let body = json!({
            "client_ref": req.job_id,
            "base_model": req.base_model,
            "train_dataset": req.training_file,
            "validation_dataset": req.validation_file,
            "hyperparameters": req.hyperparameters,
            "suffix": req.suffix,
        });
        job(&answer("create job", self.request(reqwest::Method::POST, "/jobs").json(&body).send().await).await?)
    }

    /// `GET /jobs?client_ref=`.
    pub async fn find(&self, job_id: &str) -> Result<Option<ProviderJob>, TrainerError> {
        let r = self.request(reqwest::Method::GET, "/jobs").query(&[("client_ref", job_id)]).send().await;
        let v = answer("list jobs", r).await?;
        v["jobs"].as_array().and_then(|a| a.first()).map(job).transpose()
    }

    /// `GET /jobs/{id}`.
    pub async fn get(&self, id: &str) -> Result<ProviderJob, TrainerError> {
        job(&answer("get job", self.request(reqwest::Method::GET, &format!("/jobs/{}", seg(id))).send().await).await?)
    }

    /// `GET /jobs/{id}/events`.
    pub async fn events(&self, id: &str) -> Result<Vec<TrainerEvent>, TrainerError> {
        let r = self.request(reqwest::Method::GET, &format!("/jobs/{}/events", seg(id))).send().await;
        let v = answer("job events", r).await?;
        Ok(v["events"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| {
                        Some(TrainerEvent {
                            id: e["id"].as_str()?.to_owned(),
                            at_ms: e["created_at"].as_i64().map(|s| s * 1000),
                            level: e["level"].as_str().unwrap_or("info").to_owned(),
                            kind: e["type"].as_str().unwrap_or("message").to_owned(),
                            message: e["message"].as_str().unwrap_or_default().to_owned(),
                            data: e.get("data").cloned().unwrap_or(Value::Null),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `POST /jobs/{id}/cancel`.
    pub async fn cancel(&self, id: &str) -> Result<ProviderJob, TrainerError> {
        let r = self.request(reqwest::Method::POST, &format!("/jobs/{}/cancel", seg(id))).send().await;
        job(&answer("cancel job", r).await?)
    }
}

fn job(v: &Value) -> Result<ProviderJob, TrainerError> {
    let id = v["id"].as_str().ok_or_else(|| TrainerError::transient("job answer has no `id`"))?;
    let status = v["status"].as_str().ok_or_else(|| TrainerError::transient("job answer has no `status`"))?;
    let error = match &v["error"] {
        Value::Object(e) => e.get("message").and_then(Value::as_str).map(str::to_owned),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    Ok(ProviderJob {
        id: id.to_owned(),
        status: status.to_owned(),
        fine_tuned_model: v["model"].as_str().map(str::to_owned),
        error,
        metrics: numbers(&v["metrics"]),
    })
}
