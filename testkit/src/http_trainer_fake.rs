//! An in-house trainer speaking Switchyard's `http` trainer contract (README, "The `http`
//! trainer contract") on `127.0.0.1:0`: `POST /datasets`, `POST /jobs` (idempotent on
//! `client_ref`), `GET /jobs?client_ref=`, `GET /jobs/{id}`, `…/events`, `POST …/cancel`.
//! Jobs go `queued → warming_up (a status Switchyard does not know) → running →
//! succeeded`, one step per read, and end with a model and metrics.

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

const SCRIPT: [&str; 4] = ["queued", "warming_up", "running", "succeeded"];

#[derive(Default)]
struct State {
    datasets: Vec<(String, String, Vec<u8>)>,
    jobs: Vec<(Value, usize, Vec<Value>)>,
    creates: usize,
}

/// A running trainer.
#[derive(Clone)]
pub struct HttpTrainerFake {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl HttpTrainerFake {
    /// Starts the trainer.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let fake = Self { addr: listener.local_addr().expect("addr"), state: Arc::default() };
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

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `POST /jobs` requests received (repeats included).
    pub fn creates(&self) -> usize {
        self.state.lock().expect("lock").creates
    }

    /// Distinct jobs.
    pub fn jobs(&self) -> usize {
        self.state.lock().expect("lock").jobs.len()
    }

    /// The uploaded datasets: (id, name, content).
    pub fn datasets(&self) -> Vec<(String, String, Vec<u8>)> {
        self.state.lock().expect("lock").datasets.clone()
    }

    async fn answer(&self, req: Request<Incoming>) -> Response<BoxBody> {
        let (parts, body) = req.into_parts();
        let bytes = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        let query = parts.uri.query().unwrap_or("").to_owned();
        let param = |k: &str| query.split('&').find_map(|p| p.strip_prefix(&format!("{k}=")).map(str::to_owned));
        let path = parts.uri.path().to_owned();
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut s = self.state.lock().expect("lock");
        match (parts.method.as_str(), segs.as_slice()) {
            ("POST", ["datasets"]) => {
                let id = format!("ds-{}", s.datasets.len() + 1);
                s.datasets.push((id.clone(), param("name").unwrap_or_default(), bytes.to_vec()));
                reply(201, &json!({"id": id}).to_string())
            }
            ("POST", ["jobs"]) => {
                s.creates += 1;
                let req: Value = serde_json::from_slice(&bytes).unwrap_or_default();
                let client_ref = req["client_ref"].as_str().unwrap_or_default().to_owned();
                if let Some((job, _, _)) = s.jobs.iter().find(|(j, _, _)| j["client_ref"] == client_ref.as_str()) {
                    return reply(200, &job.to_string());
                }
                let id = format!("job-{}", s.jobs.len() + 1);
                let job = json!({"id": id, "status": SCRIPT[0], "client_ref": client_ref, "model": null, "error": null,
                    "metrics": {}, "base_model": req["base_model"]});
                let ev = json!({"id": "e0", "created_at": 1, "level": "info", "type": "message", "message": "accepted", "data": {}});
                s.jobs.push((job.clone(), 0, vec![ev]));
                reply(201, &job.to_string())
            }
            ("GET", ["jobs"]) => {
                let r = param("client_ref").unwrap_or_default();
                let jobs: Vec<Value> = s
                    .jobs
                    .iter()
                    .filter(|(j, _, _)| j["client_ref"] == r.as_str())
                    .map(|(j, _, _)| j.clone())
                    .collect();
                reply(200, &json!({"jobs": jobs}).to_string())
            }
            ("GET", ["jobs", id]) => {
                let Some((job, step, events)) = s.jobs.iter_mut().find(|(j, _, _)| j["id"] == *id) else {
                    return reply(404, r#"{"error":{"message":"no such job"}}"#);
                };
                if *step + 1 < SCRIPT.len() && job["status"] != "cancelled" {
                    *step += 1;
                    job["status"] = SCRIPT[*step].into();
                    events.push(json!({"id": format!("e{step}"), "created_at": 2, "level": "info", "type": "message",
                        "message": format!("now {}", SCRIPT[*step]), "data": {}}));
                    if SCRIPT[*step] == "succeeded" {
                        job["model"] = format!("inhouse-{}", job["id"].as_str().unwrap_or("")).into();
                        job["metrics"] = json!({"accuracy": 0.91, "auc": 0.95});
                    }
                }
                reply(200, &job.to_string())
            }
            ("GET", ["jobs", id, "events"]) => {
                let events =
                    s.jobs.iter().find(|(j, _, _)| j["id"] == *id).map(|(_, _, e)| e.clone()).unwrap_or_default();
                reply(200, &json!({"events": events}).to_string())
            }
            ("POST", ["jobs", id, "cancel"]) => match s.jobs.iter_mut().find(|(j, _, _)| j["id"] == *id) {
                Some((job, _, _)) => {
                    job["status"] = "cancelled".into();
                    reply(200, &job.to_string())
                }
                None => reply(404, r#"{"error":{"message":"no such job"}}"#),
            },
            _ => reply(404, r#"{"error":{"message":"no route"}}"#),
        }
    }
}
