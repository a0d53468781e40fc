//! Helpers shared by the jobs API tests (`jobs_states.rs`, `jobs_api.rs`): a config with
//! a fake fine-tuning provider and a dataset of 40 chats (with e-mail addresses to redact),
//! a job spec on that file, and creating, reading and waiting for a job through the API.

use std::time::Duration;

use serde_json::{json, Value};
use switchyard_testkit::control::{admin_yaml, get_json, ADMIN, VIEWER};
use switchyard_testkit::finetune_fake::FineTuneFake;
use switchyard_testkit::{eventually, TestGateway};

pub const HAPPY: &[&str] = &["validating_files", "queued", "running", "succeeded"];

pub fn yaml(dir: &std::path::Path, fake: &FineTuneFake, extra: &str) -> String {
    let datasets = dir.join("datasets");
    std::fs::create_dir_all(&datasets).expect("datasets dir");
    let mut lines = String::new();
    for i in 0..40 {
        let ex = json!({"messages": [{"role": "user", "content": format!("q{i} mail me at a{i}@example.com")},
            {"role": "assistant", "content": format!("a{i}")}]});
        lines.push_str(&format!("{ex}\n"));
    }
    std::fs::write(datasets.join("chats.jsonl"), lines).expect("dataset");
    format!(
        r#"
providers:
  mock: {{ kind: mock }}
  ft: {{ kind: openai, base_url: "{}" }}
groups:
  g:
    members:
      - {{ name: champ, role: champion, provider: mock, weight: 1 }}
jobs: {{ dataset_dir: "{}", poll_interval_ms: 40, max_poll_interval_ms: 400, redact: ["[a-z0-9]+@example[.]com"] }}
{extra}
{}"#,
        fake.base_url(),
        datasets.display(),
        admin_yaml()
    )
}

pub fn file_job(start: bool) -> Value {
    json!({"group": "g", "provider": "ft", "base_model": "base-1", "start": start,
        "dataset": {"source": "file", "path": "chats.jsonl"}})
}

pub async fn create(c: &reqwest::Client, gw: &TestGateway, spec: &Value) -> String {
    let r = c.post(format!("{}/api/v1/jobs", gw.admin)).bearer_auth(ADMIN).json(spec).send().await.expect("send");
    let status = r.status();
    let body: Value = r.json().await.expect("json");
    assert_eq!(status, 201, "{body:#}");
    body["id"].as_str().expect("id").to_owned()
}

pub async fn job(c: &reqwest::Client, gw: &TestGateway, id: &str) -> Value {
    get_json(c, format!("{}/api/v1/jobs/{id}", gw.admin), VIEWER).await
}

pub async fn wait(c: &reqwest::Client, gw: &TestGateway, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let ok = eventually(Duration::from_secs(20), async || {
        last = job(c, gw, id).await;
        pred(&last)
    })
    .await;
    assert!(ok, "job never got there: {last:#}");
    last
}
