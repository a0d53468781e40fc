//! SIGKILL of the gateway while a fine-tuning job is at the trainer (SPEC §10): once
//! while the request that creates the trainer's job is in flight (the trainer made the
//! job, the gateway never heard its id), once while the job runs. After each restart the
//! worker (the new holder of the `jobs` lease) resumes from the state store; the job
//! completes and exactly one trainer job was ever created.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use switchyard_testkit::control::{admin_yaml, get_json, ADMIN};
use switchyard_testkit::finetune_fake::FineTuneFake;
use switchyard_testkit::{client, eventually};

/// Starts the binary on `config`; its admin address.
fn spawn(config: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["serve", "--config"])
        .arg(config)
        .env("SWITCHYARD_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn switchyard");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let admin = loop {
        let line = lines.next().expect("gateway starts").expect("line");
        let v: Value = serde_json::from_str(&line).unwrap_or_default();
        if let Some(a) = v["fields"]["admin_addr"].as_str() {
            break a.to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, admin)
}

async fn job(c: &reqwest::Client, admin: &str, id: &str) -> Value {
    match c.get(format!("http://{admin}/api/v1/jobs/{id}")).bearer_auth(ADMIN).send().await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => Value::Null,
    }
}

async fn wait(c: &reqwest::Client, admin: &str, id: &str, within: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let ok = eventually(within, async || {
        last = job(c, admin, id).await;
        pred(&last)
    })
    .await;
    assert!(ok, "job never got there: {last:#}");
    last
}

fn kill(mut child: Child) {
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_survives_sigkill_with_exactly_one_trainer_job() {
    let fake = FineTuneFake::start(&["validating_files", "queued", "running", "succeeded"], None).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let datasets = dir.path().join("datasets");
    std::fs::create_dir_all(&datasets).expect("dir");
    let lines: String = (0..30)
        .map(|i| {
            json!({"messages": [{"role": "user", "content": format!("q{i}")}, {"role": "assistant", "content": "a"}]})
                .to_string()
                + "\n"
        })
        .collect();
    std::fs::write(datasets.join("d.jsonl"), lines).expect("dataset");
    let config = dir.path().join("switchyard.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
providers:
  mock: {{ kind: mock }}
  ft: {{ kind: openai, base_url: "{}" }}
groups:
  g:
    members:
      - {{ name: champ, role: champion, provider: mock, weight: 1 }}
records:
  spool: {{ dir: "{}" }}
jobs: {{ dataset_dir: datasets, poll_interval_ms: 50, max_poll_interval_ms: 500 }}
{}"#,
            fake.base_url(),
            dir.path().join("spool").display(),
            admin_yaml()
        ),
    )
    .expect("config");
    let c = client();

    // 1. Killed while the create request is in flight: the trainer has the job.
    fake.hang_create(true);
    fake.hold(true);
    let (child, admin) = spawn(&config);
    let spec = json!({"group": "g", "provider": "ft", "base_model": "base-1",
        "dataset": {"source": "file", "path": "d.jsonl"}, "enroll": {"group": "g", "weight": 1, "member": "tuned"}});
    let r = c.post(format!("http://{admin}/api/v1/jobs")).bearer_auth(ADMIN).json(&spec).send().await.expect("send");
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    assert!(
        eventually(Duration::from_secs(20), async || fake.jobs_created() == 1).await,
        "the create reached the trainer"
    );
    let before = job(&c, &admin, &id).await;
    assert!(before["provider_job_id"].is_null() && before["creating_at_ms"].is_i64(), "{before:#}");
    kill(child);
    fake.hang_create(false);

    // 2. Restarted: the job is found at the trainer, not created again; killed while it runs.
    let (child, admin) = spawn(&config);
    let running = wait(&c, &admin, &id, Duration::from_secs(40), |j| j["state"] == "running").await;
    assert_eq!(running["provider_job_id"], fake.jobs()[0]["id"]);
    assert_eq!(fake.jobs_created(), 1);
    kill(child);

    // 3. Restarted again: polling resumes, the job completes and is enrolled.
    fake.hold(false);
    let (mut child, admin) = spawn(&config);
    let done =
        wait(&c, &admin, &id, Duration::from_secs(40), |j| j["state"] == "enrolled" || j["state"] == "failed").await;
    assert_eq!(done["state"], "enrolled", "{done:#}");
    assert_eq!(fake.jobs_created(), 1, "exactly one trainer job was created");
    let events: Value = get_json(&c, format!("http://{admin}/api/v1/jobs/{id}/events"), ADMIN).await;
    let trainer_ids: Vec<&str> = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["source"] == "trainer")
        .filter_map(|e| e["message"].as_str())
        .collect();
    let created = trainer_ids.iter().filter(|m| m.starts_with("Created fine-tuning job")).count();
    assert_eq!(created, 1, "trainer events are kept once across restarts: {trainer_ids:?}");
    let group: Value = get_json(&c, format!("http://{admin}/api/v1/groups/g"), ADMIN).await;
    let tuned: Vec<&Value> =
        group["config"]["members"].as_array().expect("members").iter().filter(|m| m["name"] == "tuned").collect();
    assert_eq!(tuned.len(), 1);
    child.kill().expect("kill");
    child.wait().expect("reaped");
}
