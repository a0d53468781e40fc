//! A fake of the OpenAI fine-tuning API on `127.0.0.1:0` (under `/v1`): `POST /files`
//! (multipart, `purpose=fine-tune`), `POST /fine_tuning/jobs`, `GET /fine_tuning/jobs`
//! (with `metadata[k]=v` filters), `GET /fine_tuning/jobs/{id}`, `…/events` (newest first),
//! `…/checkpoints`, `POST …/cancel`, and `POST /chat/completions` so the trained model can
//! serve. Jobs walk through a scripted list of statuses, one step per `GET` of the job —
//! which may hold unknown ones (`queued_for_gpu`) and end in `succeeded` or `failed` — and
//! [`FineTuneFake::hold`] keeps them in `running` until released. It counts the jobs
//! created and keeps every uploaded file.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::fake_server::{json as reply, BoxBody};

/// One uploaded file.
#[derive(Debug, Clone)]
pub struct UploadedFile {
    /// `file-N`.
    pub id: String,
    /// The `purpose` field.
    pub purpose: String,
    /// The file name.
    pub filename: String,
    /// The content.
    pub content: Vec<u8>,
}

#[derive(Default)]
struct State {
    key: Option<String>,
    files: Vec<UploadedFile>,
    jobs: Vec<Value>,
    steps: HashMap<String, usize>,
    script: Vec<String>,
    hold: bool,
    hang_create: bool,
    jobs_created: usize,
    chats: usize,
    events: HashMap<String, Vec<Value>>,
    counter: usize,
}

/// A running fake.
#[derive(Clone)]
pub struct FineTuneFake {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl FineTuneFake {
    /// Starts a fake whose jobs go through `script` (e.g. `["validating_files", "queued",
    /// "queued_for_gpu", "running", "succeeded"]`), requiring `key` as bearer when given.
    pub async fn start(script: &[&str], key: Option<&str>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = State {
            key: key.map(str::to_owned),
            script: script.iter().map(|s| (*s).to_owned()).collect(),
            ..State::default()
        };
        let fake = Self { addr, state: Arc::new(Mutex::new(state)) };
        let f = fake.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let f = f.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let f = f.clone();
                        async move { Ok::<_, Infallible>(f.answer(req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        fake
    }

    /// `http://127.0.0.1:<port>/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Keeps jobs in `running` (true) or lets them finish (false).
    pub fn hold(&self, hold: bool) {
        self.state.lock().expect("lock").hold = hold;
    }

    /// Makes the next job creations store the job and then never answer (a client killed
    /// while waiting for the answer has created a job it does not know the id of).
    pub fn hang_create(&self, hang: bool) {
        self.state.lock().expect("lock").hang_create = hang;
    }

    /// How many jobs were created.
    pub fn jobs_created(&self) -> usize {
        self.state.lock().expect("lock").jobs_created
    }

    /// The jobs as the fake holds them.
    pub fn jobs(&self) -> Vec<Value> {
        self.state.lock().expect("lock").jobs.clone()
    }

    /// Every uploaded file.
    pub fn files(&self) -> Vec<UploadedFile> {
        self.state.lock().expect("lock").files.clone()
    }

    /// The uploaded file `id`.
    pub fn file(&self, id: &str) -> Option<UploadedFile> {
        self.files().into_iter().find(|f| f.id == id)
    }

    /// Chat completions served.
    pub fn chats(&self) -> usize {
        self.state.lock().expect("lock").chats
    }

    async fn answer(&self, req: Request<Incoming>) -> Response<BoxBody> {
        let (parts, body) = req.into_parts();
        let bytes = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        let auth = parts.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let ct = parts.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let path = parts.uri.path().to_owned();
        let query = parts.uri.query().unwrap_or("").to_owned();
        let segs: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
        let response = self.route(parts.method.as_str(), &segs, &auth, &ct, &query, &bytes);
        let hang = parts.method == http::Method::POST && segs == ["fine_tuning", "jobs"];
        if hang && self.state.lock().expect("lock").hang_create {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        }
        response
    }

    fn route(&self, method: &str, segs: &[&str], auth: &str, ct: &str, query: &str, bytes: &[u8]) -> Response<BoxBody> {
        let mut s = self.state.lock().expect("lock");
        if let Some(k) = &s.key {
            if auth != format!("Bearer {k}") {
                // OpenAI quotes (a masked form of) the key it refused; this fake quotes it whole.
                let presented = auth.trim_start_matches("Bearer ");
                return error(401, "invalid_api_key", &format!("Incorrect API key provided: {presented}"));
            }
        }
        let (ct, query, bytes) = (ct.to_owned(), query.to_owned(), bytes.to_vec());
        match (method, segs) {
            ("POST", ["files"]) => s.upload(&ct, &bytes),
            ("POST", ["fine_tuning", "jobs"]) => s.create(&bytes),
            ("GET", ["fine_tuning", "jobs"]) => s.list(&query),
            ("GET", ["fine_tuning", "jobs", id]) => s.get(id),
            ("GET", ["fine_tuning", "jobs", id, "events"]) => s.events_page(id),
            ("GET", ["fine_tuning", "jobs", id, "checkpoints"]) => s.checkpoints(id),
            ("POST", ["fine_tuning", "jobs", id, "cancel"]) => s.cancel(id),
            ("POST", ["chat", "completions"]) => s.chat(&bytes),
            _ => error(404, "not_found", &format!("no route {}", segs.join("/"))),
        }
    }
}

impl State {
    fn next(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}-{:06}", self.counter)
    }

    fn upload(&mut self, ct: &str, body: &[u8]) -> Response<BoxBody> {
        let Some(boundary) = ct.split("boundary=").nth(1).map(|b| b.trim_matches('"').to_owned()) else {
            return error(400, "invalid_request_error", "expected multipart/form-data");
        };
        let (mut purpose, mut file) = (None, None);
        for (headers, content) in multipart(body, &boundary) {
            if headers.contains("name=\"purpose\"") {
                purpose = Some(String::from_utf8_lossy(&content).into_owned());
            } else if headers.contains("name=\"file\"") {
                let filename = headers.split("filename=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("");
                file = Some((filename.to_owned(), content));
            }
        }
        let (Some(purpose), Some((filename, content))) = (purpose, file) else {
            return error(400, "invalid_request_error", "`purpose` and `file` are required");
        };
        if purpose != "fine-tune" {
            return error(400, "invalid_request_error", "purpose must be fine-tune");
        }
        let id = self.next("file");
        let answer = json!({"id": id, "object": "file", "bytes": content.len(), "created_at": now(),
            "filename": filename, "purpose": purpose});
        self.files.push(UploadedFile { id, purpose, filename, content });
        reply(200, &answer.to_string())
    }

    fn create(&mut self, body: &[u8]) -> Response<BoxBody> {
        let Ok(req) = serde_json::from_slice::<Value>(body) else {
            return error(400, "invalid_request_error", "bad JSON");
        };
        let training = req["training_file"].as_str().unwrap_or_default();
        if !self.files.iter().any(|f| f.id == training) {
            return error(400, "invalid_request_error", "training_file does not exist");
        }
        let id = self.next("ftjob");
        let status = self.script.first().cloned().unwrap_or_else(|| "queued".into());
        let job = json!({
            "object": "fine_tuning.job", "id": id, "model": req["model"], "created_at": now(),
            "finished_at": null, "fine_tuned_model": null, "organization_id": "org-fake", "result_files": [],
            "status": status, "validation_file": req["validation_file"], "training_file": training,
            "hyperparameters": req.get("hyperparameters").cloned().unwrap_or(json!({"n_epochs": "auto"})),
            "trained_tokens": null, "error": null, "metadata": req.get("metadata").cloned().unwrap_or(Value::Null),
            "suffix": req.get("suffix").cloned().unwrap_or(Value::Null), "seed": 42,
        });
        self.jobs_created += 1;
        self.steps.insert(id.clone(), 0);
        self.jobs.push(job.clone());
        self.event(&id, "info", "message", &format!("Created fine-tuning job: {id}"), json!({}));
        reply(200, &job.to_string())
    }

    fn list(&mut self, query: &str) -> Response<BoxBody> {
        let mut filters = Vec::new();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = decode(k);
            if let Some(key) = k.strip_prefix("metadata[").and_then(|r| r.strip_suffix(']')) {
                filters.push((key.to_owned(), decode(v)));
            }
        }
        let data: Vec<Value> = self
            .jobs
            .iter()
            .rev()
            .filter(|j| filters.iter().all(|(k, v)| j["metadata"][k].as_str() == Some(v.as_str())))
            .cloned()
            .collect();
        reply(200, &json!({"object": "list", "data": data, "has_more": false}).to_string())
    }

    fn index(&self, id: &str) -> Option<usize> {
        self.jobs.iter().position(|j| j["id"] == id)
    }

    /// One step along the script per read.
    fn get(&mut self, id: &str) -> Response<BoxBody> {
        let Some(i) = self.index(id) else { return error(404, "not_found", "no such job") };
        let status = self.jobs[i]["status"].as_str().unwrap_or_default().to_owned();
        let step = self.steps.get(id).copied().unwrap_or(0);
        let terminal = ["succeeded", "failed", "cancelled"].contains(&status.as_str());
        if !terminal && step + 1 < self.script.len() && !(self.hold && status == "running") {
            self.steps.insert(id.to_owned(), step + 1);
            let next = self.script[step + 1].clone();
            self.enter(i, &next);
        }
        reply(200, &self.jobs[i].to_string())
    }

    fn enter(&mut self, i: usize, status: &str) {
        let id = self.jobs[i]["id"].as_str().unwrap_or_default().to_owned();
        self.jobs[i]["status"] = status.into();
        self.event(&id, "info", "message", &format!("Job status changed to {status}"), json!({}));
        match status {
            "running" => self.event(
                &id,
                "info",
                "metrics",
                "Step 1/10: training loss=0.42",
                json!({"step": 1, "train_loss": 0.42}),
            ),
            "succeeded" => {
                let model = format!("ft:{}:switchyard:{}", self.jobs[i]["model"].as_str().unwrap_or("m"), &id[6..]);
                self.jobs[i]["fine_tuned_model"] = model.into();
                self.jobs[i]["finished_at"] = now().into();
                self.jobs[i]["trained_tokens"] = 12345.into();
            }
            "failed" => {
                self.jobs[i]["error"] = json!({"code": "invalid_training_file", "param": "training_file",
                    "message": "The job failed due to an invalid training file."});
                self.jobs[i]["finished_at"] = now().into();
                self.event(&id, "error", "message", "The job failed due to an invalid training file.", json!({}));
            }
            _ => {}
        }
    }

    fn event(&mut self, job: &str, level: &str, kind: &str, message: &str, data: Value) {
        let id = self.next("ftevent");
        let ev = json!({"object": "fine_tuning.job.event", "id": id, "created_at": now(), "level": level,
            "message": message, "data": data, "type": kind});
        self.events.entry(job.to_owned()).or_default().push(ev);
    }

    fn events_page(&mut self, id: &str) -> Response<BoxBody> {
        let data: Vec<Value> = self.events.get(id).map(|e| e.iter().rev().cloned().collect()).unwrap_or_default();
        reply(200, &json!({"object": "list", "data": data, "has_more": false}).to_string())
    }

    fn checkpoints(&mut self, id: &str) -> Response<BoxBody> {
        let Some(i) = self.index(id) else { return error(404, "not_found", "no such job") };
        // Newest first, as OpenAI lists them: one per epoch.
        let data = match self.jobs[i]["fine_tuned_model"].as_str() {
            Some(m) => vec![
                json!({"object": "fine_tuning.job.checkpoint", "id": "ftckpt_2", "created_at": now(),
                "fine_tuned_model_checkpoint": format!("{m}:ckpt-step-10"), "fine_tuning_job_id": id, "step_number": 10,
                "metrics": {"step": 10, "train_loss": 0.12, "train_mean_token_accuracy": 0.93, "valid_loss": 0.2,
                    "valid_mean_token_accuracy": 0.9, "full_valid_loss": 0.21, "full_valid_mean_token_accuracy": 0.89}}),
                json!({"object": "fine_tuning.job.checkpoint", "id": "ftckpt_1", "created_at": now() - 60,
                "fine_tuned_model_checkpoint": format!("{m}:ckpt-step-5"), "fine_tuning_job_id": id, "step_number": 5,
                "metrics": {"step": 5, "train_loss": 0.31, "train_mean_token_accuracy": 0.81, "valid_loss": 0.35,
                    "valid_mean_token_accuracy": 0.78}}),
            ],
            None => vec![],
        };
        reply(200, &json!({"object": "list", "data": data, "has_more": false}).to_string())
    }

    fn cancel(&mut self, id: &str) -> Response<BoxBody> {
        let Some(i) = self.index(id) else { return error(404, "not_found", "no such job") };
        let status = self.jobs[i]["status"].as_str().unwrap_or_default().to_owned();
        if ["succeeded", "failed", "cancelled"].contains(&status.as_str()) {
            return error(400, "invalid_request_error", &format!("job is already {status}"));
        }
        self.enter(i, "cancelled");
        reply(200, &self.jobs[i].to_string())
    }

    fn chat(&mut self, body: &[u8]) -> Response<BoxBody> {
        self.chats += 1;
        let req: Value = serde_json::from_slice(body).unwrap_or_default();
        let answer = json!({"id": "chatcmpl-ft", "object": "chat.completion", "created": now(), "model": req["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine-tuned answer"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}});
        reply(200, &answer.to_string())
    }
}

fn error(status: u16, kind: &str, message: &str) -> Response<BoxBody> {
    reply(status, &json!({"error": {"message": message, "type": kind, "param": null, "code": null}}).to_string())
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The parts of a multipart body: (headers, content).
fn multipart(body: &[u8], boundary: &str) -> Vec<(String, Vec<u8>)> {
    let delim = format!("--{boundary}");
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(start) = find(rest, delim.as_bytes()) {
        rest = &rest[start + delim.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let Some(end) = find(rest, delim.as_bytes()) else { break };
        let part = &rest[..end];
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        if let Some(split) = find(part, b"\r\n\r\n") {
            out.push((String::from_utf8_lossy(&part[..split]).into_owned(), part[split + 4..].to_vec()));
        }
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
