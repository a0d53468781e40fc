//! The OpenAI-compatible fine-tuning API as a trainer: `POST /files` (multipart,
//! `purpose=fine-tune`, the JSONL streamed from disk), `POST /fine_tuning/jobs`,
//! `GET /fine_tuning/jobs/{id}`, `…/events`, `…/checkpoints`, `POST …/cancel`, and
//! `GET /fine_tuning/jobs?metadata[switchyard_job]=<id>` to find a job created before a
//! crash. Paths are relative to the provider's `base_url` (which ends in `/v1`).
//!
//! Every created job carries `metadata: {"switchyard_job": "<job id>"}`; that is the
//! idempotency key [`OpenAiTrainer::find`] looks for (by the server's metadata filter and,
//! for servers that ignore it, by reading the metadata of each listed job).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use super::model::Checkpoint;
use super::trainer::{answer, file_part, numbers, CreateJob, ProviderJob, TrainerError, TrainerEvent};
use super::trainer_client::TrainerClient;

/// The metadata key carrying Switchyard's job id.
pub const METADATA_KEY: &str = "switchyard_job";
/// Pages of the job list read when looking for a job.
const FIND_PAGES: usize = 10;

/// A client of one provider's fine-tuning API.
pub struct OpenAiTrainer {
    client: TrainerClient,
}

// === impl OpenAiTrainer ===

impl OpenAiTrainer {
    /// A trainer at `base` (e.g. `https://api.openai.com/v1`) with `key`.
    pub fn new(http: reqwest::Client, base: String, key: Option<String>) -> Self {
        Self { client: TrainerClient::new(http, &base, key) }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, path)
    }

    /// `POST /files`.
    pub async fn upload(&self, path: &Path, name: &str) -> Result<String, TrainerError> {
        let form =
            reqwest::multipart::Form::new().text("purpose", "fine-tune").part("file", file_part(path, name).await?);
        let v = answer("upload", self.request(reqwest::Method::POST, "/files").multipart(form).send().await).await?;
        v["id"].as_str().map(str::to_owned).ok_or_else(|| TrainerError::transient("upload: answer has no `id`"))
    }

    /// `POST /fine_tuning/jobs`.
    pub async fn create(&self, req: &CreateJob<'_>) -> Result<ProviderJob, TrainerError> {
        let mut body = json!({
            "model": req.base_model,
            "training_file": req.training_file,
            "metadata": { METADATA_KEY: req.job_id },
        });
        if let Some(v) = req.validation_file {
            body["validation_file"] = v.into();
        }
        if !req.hyperparameters.is_empty() {
            body["hyperparameters"] = Value::Object(req.hyperparameters.clone());
        }
        if let Some(s) = req.suffix {
            body["suffix"] = s.into();
        }
        let r = self.request(reqwest::Method::POST, "/fine_tuning/jobs").json(&body).send().await;
        job(&answer("create job", r).await?)
    }

    /// The job whose metadata names `job_id`, if any.
    pub async fn find(&self, job_id: &str) -> Result<Option<ProviderJob>, TrainerError> {
        let mut after: Option<String> = None;
        for _ in 0..FIND_PAGES {
            let mut q =
                vec![("limit".to_owned(), "100".to_owned()), (format!("metadata[{METADATA_KEY}]"), job_id.to_owned())];
            if let Some(a) = &after {
                q.push(("after".into(), a.clone()));
            }
            let r = self.request(reqwest::Method::GET, "/fine_tuning/jobs").query(&q).send().await;
            let page = answer("list jobs", r).await?;
            let data = page["data"].as_array().cloned().unwrap_or_default();
            if let Some(found) = data.iter().find(|j| j["metadata"][METADATA_KEY].as_str() == Some(job_id)) {
                return job(found).map(Some);
            }
            match (page["has_more"].as_bool(), data.last().and_then(|j| j["id"].as_str())) {
                (Some(true), Some(last)) => after = Some(last.to_owned()),
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    /// `GET /fine_tuning/jobs/{id}`.
    pub async fn get(&self, id: &str) -> Result<ProviderJob, TrainerError> {
        let r = self.request(reqwest::Method::GET, &format!("/fine_tuning/jobs/{}", seg(id))).send().await;
        job(&answer("get job", r).await?)
    }

    /// `GET /fine_tuning/jobs/{id}/events` (newest first at the server; returned oldest first).
    pub async fn events(&self, id: &str) -> Result<Vec<TrainerEvent>, TrainerError> {
        let r = self
            .request(reqwest::Method::GET, &format!("/fine_tuning/jobs/{}/events", seg(id)))
            .query(&[("limit", "100")])
            .send()
            .await;
        let page = answer("job events", r).await?;
        let mut out: Vec<TrainerEvent> =
            page["data"].as_array().map(|a| a.iter().filter_map(event).collect()).unwrap_or_default();
        // The server lists newest first.
        out.reverse();
        Ok(out)
    }

    /// `GET /fine_tuning/jobs/{id}/checkpoints`: the kept checkpoints, by step.
    pub async fn checkpoints(&self, id: &str) -> Result<Vec<Checkpoint>, TrainerError> {
        let r = self
            .request(reqwest::Method::GET, &format!("/fine_tuning/jobs/{}/checkpoints", seg(id)))
            .query(&[("limit", "100")])
            .send()
            .await;
        let page = answer("job checkpoints", r).await?;
        let mut out: Vec<Checkpoint> =
            page["data"].as_array().map(|a| a.iter().filter_map(checkpoint).collect()).unwrap_or_default();
        out.sort_by_key(|c| c.step);
        Ok(out)
    }

    /// `POST /fine_tuning/jobs/{id}/cancel`.
    pub async fn cancel(&self, id: &str) -> Result<ProviderJob, TrainerError> {
        let r = self.request(reqwest::Method::POST, &format!("/fine_tuning/jobs/{}/cancel", seg(id))).send().await;
        job(&answer("cancel job", r).await?)
    }
}

/// A job object.
fn job(v: &Value) -> Result<ProviderJob, TrainerError> {
    let id = v["id"].as_str().ok_or_else(|| TrainerError::transient("job answer has no `id`"))?;
    let status = v["status"].as_str().ok_or_else(|| TrainerError::transient("job answer has no `status`"))?;
    let error = match &v["error"] {
        Value::Object(e) if !e.is_empty() => e.get("message").and_then(Value::as_str).map(str::to_owned),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    Ok(ProviderJob {
        id: id.to_owned(),
        status: status.to_owned(),
        fine_tuned_model: v["fine_tuned_model"].as_str().map(str::to_owned),
        error,
        metrics: BTreeMap::new(),
    })
}

/// A checkpoint object (`step_number`, `fine_tuned_model_checkpoint`, `metrics`).
fn checkpoint(v: &Value) -> Option<Checkpoint> {
    Some(Checkpoint {
        id: v["id"].as_str()?.to_owned(),
        step: v["step_number"].as_i64().unwrap_or(0),
        model: v["fine_tuned_model_checkpoint"].as_str().map(str::to_owned),
        created_at_ms: v["created_at"].as_i64().map(|s| s * 1000),
        metrics: numbers(&v["metrics"]),
    })
}

/// An event object.
fn event(v: &Value) -> Option<TrainerEvent> {
    Some(TrainerEvent {
        id: v["id"].as_str()?.to_owned(),
        at_ms: v["created_at"].as_i64().map(|s| s * 1000),
        level: v["level"].as_str().unwrap_or("info").to_owned(),
        kind: v["type"].as_str().unwrap_or("message").to_owned(),
        message: v["message"].as_str().unwrap_or_default().to_owned(),
        data: v.get("data").cloned().unwrap_or(Value::Null),
    })
}

/// A path segment with everything but unreserved characters escaped.
pub fn seg(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
