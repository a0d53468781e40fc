//! The fine-tuning loop end to end (SPEC §10), against the real ClickHouse and a fake
//! OpenAI fine-tuning server on loopback: 500 recorded requests with bodies and feedback
//! (plus another tenant's) → a dataset of only the positively rated ones of the job's
//! tenant (last feedback value wins; counted, redacted) → the trainer's job walks through
//! an unknown status to `succeeded` → the model is in the catalog with its lineage → a
//! challenger at 5 % → the data plane sends it ≈5 % (χ²) → the experiment report lists it.

use std::time::Duration;

use serde_json::{json, Value};
use switchyard_testkit::clickhouse::{ch_url, unique_db, Ch};
use switchyard_testkit::control::{admin_yaml, get_json, hash, ADMIN};
use switchyard_testkit::finetune_fake::FineTuneFake;
use switchyard_testkit::{client, eventually, TestGateway};

const ACME: &str = "acme-client-key";
const GLOBEX: &str = "globex-client-key";
const FT_KEY: &str = "sk-fine-tuning-test-key";
/// χ² critical value for 1 degree of freedom at p = 0.001.
const CHI2_1DF_P001: f64 = 10.828;

fn yaml(dir: &std::path::Path, database: &str, fake: &FineTuneFake) -> String {
    let key_file = dir.join("ft.key");
    std::fs::write(&key_file, FT_KEY).expect("key file");
    format!(
        r#"
providers:
  mock: {{ kind: mock }}
  ft: {{ kind: openai, base_url: "{base}", api_key: "file:{key}" }}
groups:
  g:
    members:
      - {{ name: champ, role: champion, provider: mock, model: base, weight: 95 }}
    records: {{ log_bodies: true }}
clients:
  - {{ name: app, key_sha256: "{acme}", groups: [g], tenant: acme }}
  - {{ name: other, key_sha256: "{globex}", groups: [g], tenant: globex }}
records:
  clickhouse: {{ url: "{ch}", database: {database} }}
  spool: {{ dir: "{spool}", fsync_interval_ms: 10 }}
  batch: {{ max_delay_ms: 100 }}
jobs: {{ poll_interval_ms: 50, max_poll_interval_ms: 500, redact: ["secret-[0-9]+"] }}
{admin}"#,
        base = fake.base_url(),
        key = key_file.display(),
        acme = hash(ACME),
        globex = hash(GLOBEX),
        ch = ch_url(),
        spool = dir.join("spool").display(),
        admin = admin_yaml(),
    )
}

async fn chat(c: &reqwest::Client, gw: &TestGateway, key: &str, text: &str) -> reqwest::Response {
    let body = json!({"model": "g", "messages": [{"role": "user", "content": text}]});
    c.post(gw.url("/v1/chat/completions")).bearer_auth(key).json(&body).send().await.expect("send")
}

async fn feedback(c: &reqwest::Client, gw: &TestGateway, key: &str, id: &str, value: f64) {
    let body = json!({"request_id": id, "metric": "thumbs_up", "value": value});
    let r = c.post(gw.url("/v1/feedback")).bearer_auth(key).json(&body).send().await.expect("send");
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
}

/// 500 acme requests and 50 globex ones; the positively rated acme ones (last value) are
/// returned: evens not divisible by 10 (200) and i % 10 == 5 (50).
async fn record_traffic(c: &reqwest::Client, gw: &TestGateway) -> usize {
    let mut ids = Vec::new();
    for i in 0..500 {
        let r = chat(c, gw, ACME, &format!("acme question {i} (secret-{i}42)")).await;
        assert_eq!(r.status(), 200);
        ids.push(r.headers()["x-switchyard-request-id"].to_str().expect("ascii").to_owned());
    }
    let mut globex = Vec::new();
    for i in 0..50 {
        let r = chat(c, gw, GLOBEX, &format!("globex question {i}")).await;
        globex.push(r.headers()["x-switchyard-request-id"].to_str().expect("ascii").to_owned());
    }
    for (i, id) in ids.iter().enumerate() {
        match i % 10 {
            0 => feedback(c, gw, ACME, id, 1.0).await,
            5 => feedback(c, gw, ACME, id, 0.0).await,
            _ => {}
        }
    }
    for id in &globex {
        feedback(c, gw, GLOBEX, id, 1.0).await;
    }
    // Later values win: i % 10 == 0 turns negative, i % 10 == 5 positive.
    tokio::time::sleep(Duration::from_millis(30)).await;
    for (i, id) in ids.iter().enumerate() {
        match i % 10 {
            0 => feedback(c, gw, ACME, id, 0.0).await,
            5 => feedback(c, gw, ACME, id, 1.0).await,
            2 | 4 | 6 | 8 => feedback(c, gw, ACME, id, 1.0).await,
            _ => feedback(c, gw, ACME, id, -1.0).await,
        }
    }
    250
}

async fn wait_state(c: &reqwest::Client, admin: &str, id: &str, want: &str, within: Duration) -> Value {
    let url = format!("{admin}/api/v1/jobs/{id}");
    let mut last = Value::Null;
    let ok = eventually(within, async || {
        last = get_json(c, &url, ADMIN).await;
        last["state"] == want || last["state"] == "failed"
    })
    .await;
    assert!(ok && last["state"] == want, "job did not reach {want}: {last:#}");
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recorded_traffic_becomes_a_guarded_challenger() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = unique_db("jobs_loop");
    let fake =
        FineTuneFake::start(&["validating_files", "queued", "queued_for_gpu", "running", "succeeded"], Some(FT_KEY))
            .await;
    let yaml = yaml(dir.path(), &database, &fake);
    let gw = TestGateway::start_in(dir, &yaml).await;
    let c = client();
    let positive = record_traffic(&c, &gw).await;
    let ch = Ch::new(&ch_url());
    let shipped = eventually(Duration::from_secs(30), async || {
        count(&ch, &database, "SELECT uniqExact(request_id) FROM inferences").await == 550
            && count(&ch, &database, "SELECT uniqExact(feedback_id) FROM feedback").await == 500 + 50 + 100
    })
    .await;
    assert!(shipped, "records and feedback reached ClickHouse");

    let spec = json!({
        "group": "g", "provider": "ft", "base_model": "gpt-4o-mini-2024-07-18", "tenant": "acme",
        "dataset": {"source": "records", "feedback": {"metric": "thumbs_up", "min": 1}},
        "hyperparameters": {"n_epochs": 2},
        "enroll": {"group": "g", "weight": 5, "promotion": {"min_samples_per_arm": 1000000, "check_interval_secs": 3600}},
    });
    let r = c.post(format!("{}/api/v1/jobs", gw.admin)).bearer_auth(ADMIN).json(&spec).send().await.expect("send");
    assert_eq!(r.status(), 201);
    let job: Value = r.json().await.expect("json");
    let id = job["id"].as_str().expect("id").to_owned();
    assert_eq!(job["state"], "draft");
    let job = wait_state(&c, &gw.admin, &id, "enrolled", Duration::from_secs(60)).await;

    // The dataset: only acme's positively rated requests, split into two files.
    let d = &job["dataset"];
    let (train, validation) = (d["train_rows"].as_u64().expect("n"), d["validation_rows"].as_u64().expect("n"));
    assert_eq!(train + validation, positive as u64, "{d:#}");
    assert!(validation > 0 && validation < train, "{d:#}");
    assert_eq!(d["redactions"], positive as u64, "one secret per example redacted");
    assert_eq!(fake.jobs_created(), 1);
    let files = fake.files();
    assert_eq!(files.len(), 2);
    let lines = |id: &str| String::from_utf8(fake.file(id).expect("uploaded").content).expect("utf8");
    let train_text = lines(d["train_file"].as_str().expect("train file"));
    assert_eq!(train_text.lines().count() as u64, train);
    assert_eq!(lines(d["validation_file"].as_str().expect("validation file")).lines().count() as u64, validation);
    for line in train_text.lines() {
        let v: Value = serde_json::from_str(line).expect("JSONL");
        let m = v["messages"].as_array().expect("messages");
        assert_eq!(m.len(), 2);
        let q = m[0]["content"].as_str().expect("question");
        assert!(q.starts_with("acme question ") && q.ends_with("([REDACTED])"), "{q}");
        let n: usize = q["acme question ".len()..].split(' ').next().expect("n").parse().expect("number");
        assert!(
            (n.is_multiple_of(2) && !n.is_multiple_of(10)) || n % 10 == 5,
            "example {n} was not rated positively last"
        );
        assert_eq!(m[1]["role"], "assistant");
        assert!(!m[1]["content"].as_str().expect("answer").is_empty());
    }
    let created = &fake.jobs()[0];
    assert_eq!(created["metadata"]["switchyard_job"], id.as_str());
    assert_eq!(created["hyperparameters"]["n_epochs"], 2);

    // Events: the trainer's own, verbatim, and one per status change with the raw status.
    let events: Value = get_json(&c, format!("{}/api/v1/jobs/{id}/events", gw.admin), ADMIN).await;
    let events = events["events"].as_array().expect("events").clone();
    let statuses: Vec<&str> = events.iter().filter_map(|e| e["provider_status"].as_str()).collect();
    assert!(statuses.contains(&"queued_for_gpu"), "{statuses:?}");
    assert!(events
        .iter()
        .any(|e| e["source"] == "trainer" && e["type"] == "metrics" && e["data"]["train_loss"] == 0.42));
    assert!(events.iter().any(|e| e["message"].as_str().is_some_and(|m| m.contains("not a known state"))));
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().expect("seq")).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "events in order");

    // The trainer's checkpoints, by step; the job's metrics are the last one's.
    let model = job["fine_tuned_model"].as_str().expect("model").to_owned();
    let steps: Vec<(i64, &str)> = job["checkpoints"]
        .as_array()
        .expect("checkpoints")
        .iter()
        .map(|c| (c["step"].as_i64().unwrap_or(-1), c["model"].as_str().unwrap_or_default()))
        .collect();
    let (at5, at10) = (format!("{model}:ckpt-step-5"), format!("{model}:ckpt-step-10"));
    assert_eq!(steps, [(5, at5.as_str()), (10, at10.as_str())], "{job:#}");
    assert_eq!(job["checkpoints"][0]["metrics"]["train_loss"], 0.31);
    assert_eq!(job["metrics"], job["checkpoints"][1]["metrics"]);

    // The catalog entry and its lineage.
    assert_eq!(job["catalog_id"], format!("ft/{model}"));
    let entry: Value = get_json(&c, format!("{}/api/v1/models/ft/{model}", gw.admin), ADMIN).await;
    assert_eq!(entry["training"]["job"], id.as_str());
    assert_eq!(entry["training"]["base_model"], "gpt-4o-mini-2024-07-18");
    assert!(entry["training"]["dataset"].as_str().expect("dataset").contains("feedback thumbs_up >= 1"), "{entry:#}");
    assert_eq!(entry["metrics"]["train_loss"], 0.12);

    // The challenger at 5 % and the data plane's split.
    let member = job["member"].as_str().expect("member").split('/').nth(1).expect("name").to_owned();
    let group: Value = get_json(&c, format!("{}/api/v1/groups/g", gw.admin), ADMIN).await;
    let m = group["config"]["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["name"] == member.as_str())
        .expect("enrolled")
        .clone();
    assert_eq!(
        (m["role"].as_str(), m["weight"].as_f64(), m["model"].as_str()),
        (Some("challenger"), Some(5.0), Some(model.as_str()))
    );
    assert_eq!(
        group["config"]["promotion"]["min_samples_per_arm"], 1_000_000,
        "the promotion rules were set: {group:#}"
    );
    let n = 4000;
    let mut challenger = 0.0;
    for i in 0..n {
        let r = chat(&c, &gw, ACME, &format!("after {i}")).await;
        assert_eq!(r.status(), 200);
        if r.headers()["x-switchyard-member"] == member.as_str() {
            challenger += 1.0;
        }
    }
    let expected = [0.95 * n as f64, 0.05 * n as f64];
    let observed = [n as f64 - challenger, challenger];
    let chi2: f64 = observed.iter().zip(expected).map(|(o, e)| (o - e).powi(2) / e).sum();
    assert!(chi2 < CHI2_1DF_P001, "chi2 = {chi2}: {challenger} of {n} to the challenger");
    eprintln!("dataset {train} + {validation} examples; challenger {challenger} of {n} requests, chi2 = {chi2:.3}");
    assert_eq!(fake.chats(), challenger as usize, "the challenger's requests reached the trained model");

    // The experiment report lists it.
    let listed = eventually(Duration::from_secs(20), async || {
        let report: Value = get_json(&c, format!("{}/api/v1/groups/g/experiment", gw.admin), ADMIN).await;
        report.to_string().contains(&format!("\"{member}\""))
    })
    .await;
    assert!(listed, "the experiment report lists the challenger");

    // Audited and counted.
    let audit: Value = get_json(&c, format!("{}/api/v1/audit?limit=1000", gw.admin), ADMIN).await;
    let actions: Vec<String> = audit
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| {
            e["target"] == format!("jobs.{id}") || e["action"] == "group.enroll" || e["action"] == "model.create"
        })
        .map(|e| e["action"].as_str().expect("action").to_owned())
        .collect();
    for a in [
        "job.create",
        "job.validating",
        "job.queued",
        "job.upload",
        "job.running",
        "job.succeeded",
        "job.registered",
        "job.enrolled",
        "group.enroll",
        "model.create",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} audited: {actions:?}");
    }
    let metrics = gw.metrics().await;
    assert!(metrics.contains("switchyard_jobs{state=\"enrolled\"} 1"), "{metrics}");
    assert!(metrics.contains("switchyard_job_duration_seconds_count{outcome=\"enrolled\"} 1"));
    assert!(!metrics.contains(FT_KEY) && !audit.to_string().contains(FT_KEY), "the trainer's key never shows");
    gw.stop().await;
    ch.drop_db(&database).await;
}

/// A count, 0 while the table does not exist yet.
async fn count(ch: &Ch, database: &str, sql: &str) -> u64 {
    ch.try_query(database, sql).await.ok().and_then(|t| t.trim().parse().ok()).unwrap_or(0)
}
