//! Fine-tuning jobs' states as an operator sees them (SPEC §10), against a fake OpenAI
//! fine-tuning server on loopback: `start: false` waits in `draft`, cancellation reaches
//! the trainer, a trainer's failure fails the job with its words, the SSE stream follows a
//! job to its end, bad requests are refused with their paths, and records without logged
//! bodies fail validation with that reason (real ClickHouse).

use std::time::Duration;

use serde_json::{json, Value};
use switchyard_testkit::clickhouse::{ch_url, unique_db, Ch};
use switchyard_testkit::control::{admin_yaml, ADMIN, VIEWER};
use switchyard_testkit::finetune_fake::FineTuneFake;
use switchyard_testkit::{client, eventually, TestGateway};

const HAPPY: &[&str] = &["validating_files", "queued", "running", "succeeded"];

fn yaml(dir: &std::path::Path, fake: &FineTuneFake, extra: &str) -> String {
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

fn file_job(start: bool) -> Value {
    json!({"group": "g", "provider": "ft", "base_model": "base-1", "start": start,
        "dataset": {"source": "file", "path": "chats.jsonl"}})
}

async fn create(c: &reqwest::Client, gw: &TestGateway, spec: &Value) -> String {
    let r = c.post(format!("{}/api/v1/jobs", gw.admin)).bearer_auth(ADMIN).json(spec).send().await.expect("send");
    let status = r.status();
    let body: Value = r.json().await.expect("json");
    assert_eq!(status, 201, "{body:#}");
    body["id"].as_str().expect("id").to_owned()
}

async fn job(c: &reqwest::Client, gw: &TestGateway, id: &str) -> Value {
    c.get(format!("{}/api/v1/jobs/{id}", gw.admin))
        .bearer_auth(VIEWER)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json")
}

async fn wait(c: &reqwest::Client, gw: &TestGateway, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let ok = eventually(Duration::from_secs(20), async || {
        last = job(c, gw, id).await;
        pred(&last)
    })
    .await;
    assert!(ok, "job never got there: {last:#}");
    last
}

async fn post(c: &reqwest::Client, gw: &TestGateway, path: &str) -> (u16, Value) {
    let r = c.post(format!("{}/api/v1/jobs/{path}", gw.admin)).bearer_auth(ADMIN).send().await.expect("send");
    (r.status().as_u16(), r.json().await.expect("json"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_false_waits_in_draft_after_validation_then_runs() {
    let fake = FineTuneFake::start(HAPPY, None).await;
    let data = tempfile::tempdir().expect("tempdir");
    let gw = TestGateway::start(&yaml(data.path(), &fake, "")).await;
    let c = client();
    let id = create(&c, &gw, &file_job(false)).await;
    let j = wait(&c, &gw, &id, |j| j["validated_at_ms"].is_i64()).await;
    assert_eq!(j["state"], "draft");
    let d = &j["dataset"];
    assert_eq!(d["train_rows"].as_u64().unwrap_or(0) + d["validation_rows"].as_u64().unwrap_or(0), 40);
    assert_eq!(d["redactions"], 40);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(job(&c, &gw, &id).await["state"], "draft", "a validated draft waits");
    assert_eq!(fake.jobs_created(), 0);
    assert!(fake.files().is_empty(), "nothing leaves the gateway before start");

    let (status, started) = post(&c, &gw, &format!("{id}/start")).await;
    assert_eq!((status, started["state"].as_str()), (200, Some("queued")));
    let j = wait(&c, &gw, &id, |j| j["state"] == "registered" || j["state"] == "failed").await;
    assert_eq!(j["state"], "registered", "{j:#}");
    assert_eq!(fake.jobs_created(), 1);
    let train = fake.file(j["dataset"]["train_file"].as_str().expect("file")).expect("uploaded");
    assert!(!String::from_utf8_lossy(&train.content).contains("@example.com"), "redacted before upload");
    assert_eq!(post(&c, &gw, &format!("{id}/start")).await.0, 409);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_running_job_cancels_it_at_the_trainer() {
    let fake = FineTuneFake::start(HAPPY, None).await;
    fake.hold(true);
    let data = tempfile::tempdir().expect("tempdir");
    let gw = TestGateway::start(&yaml(data.path(), &fake, "")).await;
    let c = client();
    let id = create(&c, &gw, &file_job(true)).await;
    wait(&c, &gw, &id, |j| j["state"] == "running").await;
    let (status, marked) = post(&c, &gw, &format!("{id}/cancel")).await;
    assert_eq!(status, 200);
    assert_eq!(marked["cancel_requested"], true);
    let j = wait(&c, &gw, &id, |j| j["state"] == "cancelled").await;
    assert_eq!(j["provider_status"], "cancelled");
    assert_eq!(fake.jobs()[0]["status"], "cancelled");
    assert_eq!(post(&c, &gw, &format!("{id}/cancel")).await.0, 409);
    // A draft is cancelled at once, without the trainer.
    let draft = create(&c, &gw, &file_job(false)).await;
    let (status, j) = post(&c, &gw, &format!("{draft}/cancel")).await;
    assert_eq!((status, j["state"].as_str()), (200, Some("cancelled")));
    assert_eq!(fake.jobs_created(), 1);
    // Datasets hold users' bodies: gone once a job no longer needs them.
    let work = gw.dir.path().join("switchyard-data/jobs");
    for job in [&id, &draft] {
        let gone = eventually(Duration::from_secs(5), async || !work.join(job).exists()).await;
        assert!(gone, "the dataset of {job} was removed");
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trainer_failure_fails_the_job_with_the_trainers_words() {
    let fake = FineTuneFake::start(&["validating_files", "queued_for_gpu", "failed"], None).await;
    let data = tempfile::tempdir().expect("tempdir");
    let gw = TestGateway::start(&yaml(data.path(), &fake, "")).await;
    let c = client();
    let id = create(&c, &gw, &file_job(true)).await;
    let j = wait(&c, &gw, &id, |j| j["state"] == "failed").await;
    assert!(j["error"].as_str().expect("error").contains("invalid training file"), "{j:#}");
    assert_eq!(j["provider_status"], "failed");
    let events: Value = c
        .get(format!("{}/api/v1/jobs/{id}/events", gw.admin))
        .bearer_auth(VIEWER)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let events = events["events"].as_array().expect("events");
    assert!(events.iter().any(|e| e["source"] == "trainer" && e["level"] == "error"));
    assert!(events.iter().any(|e| e["provider_status"] == "queued_for_gpu"), "an unknown status is kept");
    assert!(
        c.get(format!("{}/api/v1/models/ft/base-1", gw.admin)).bearer_auth(ADMIN).send().await.expect("send").status()
            == 404
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_follows_a_job_to_its_end() {
    let fake =
        FineTuneFake::start(&["validating_files", "queued", "queued_for_gpu", "running", "succeeded"], None).await;
    let data = tempfile::tempdir().expect("tempdir");
    let gw = TestGateway::start(&yaml(data.path(), &fake, "")).await;
    let c = client();
    let id = create(&c, &gw, &file_job(true)).await;
    let r =
        c.get(format!("{}/api/v1/jobs/{id}/events?follow=1", gw.admin)).bearer_auth(VIEWER).send().await.expect("send");
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let text = tokio::time::timeout(Duration::from_secs(20), r.text()).await.expect("the stream ends").expect("body");
    let events: Vec<Value> =
        text.lines().filter_map(|l| l.strip_prefix("data: ")).map(|d| serde_json::from_str(d).expect("json")).collect();
    let states: Vec<&str> = events.iter().filter_map(|e| e["state"].as_str()).collect();
    let mut dedup = states.clone();
    dedup.dedup();
    assert_eq!(dedup, ["draft", "validating", "queued", "running", "succeeded", "registered"], "{states:?}");
    let ids: Vec<i64> = text.lines().filter_map(|l| l.strip_prefix("id: ")).map(|i| i.parse().expect("id")).collect();
    assert_eq!(ids.len(), events.len());
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    // Resuming after the last id gives nothing new.
    let again: Value = c
        .get(format!("{}/api/v1/jobs/{id}/events?after={}", gw.admin, ids.last().expect("some")))
        .bearer_auth(VIEWER)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(again["events"], json!([]));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_with_their_paths() {
    let fake = FineTuneFake::start(HAPPY, None).await;
    let data = tempfile::tempdir().expect("tempdir");
    let gw = TestGateway::start(&yaml(data.path(), &fake, "")).await;
    let c = client();
    let url = format!("{}/api/v1/jobs", gw.admin);
    let send = |token: &'static str, body: Value| {
        let (c, url) = (c.clone(), url.clone());
        async move {
            let r = c.post(&url).bearer_auth(token).json(&body).send().await.expect("send");
            (r.status().as_u16(), r.json::<Value>().await.expect("json"))
        }
    };
    let (s, b) = send(ADMIN, json!({"group": "g", "provider": "ft", "base_model": "m", "dataset": {"bogus": 1}})).await;
    assert_eq!(s, 422, "{b}");
    assert!(b["error"]["problems"][0].as_str().expect("problem").starts_with("dataset"), "{b}");
    let bad = json!({"group": "nope", "provider": "mock", "base_model": "",
        "dataset": {"source": "file", "path": "../etc/passwd"}, "enroll": {"group": "g", "weight": -1}});
    let (s, b) = send(ADMIN, bad).await;
    assert_eq!(s, 422);
    let problems = b["error"]["problems"].to_string();
    for p in ["group:", "provider:", "base_model:", "dataset.path:", "enroll.weight:"] {
        assert!(problems.contains(p), "{p} in {problems}");
    }
    assert_eq!(send(VIEWER, file_job(true)).await.0, 403);
    assert_eq!(c.get(format!("{url}/nope")).bearer_auth(VIEWER).send().await.expect("send").status(), 404);
    let list: Value =
        c.get(format!("{url}?state=bogus")).bearer_auth(VIEWER).send().await.expect("send").json().await.expect("json");
    assert!(list["error"]["message"].as_str().expect("message").contains("bogus"));
    let doc: Value =
        reqwest::get(format!("{}/openapi.json", gw.admin)).await.expect("send").json().await.expect("json");
    for p in [
        "/api/v1/jobs",
        "/api/v1/jobs/{id}",
        "/api/v1/jobs/{id}/events",
        "/api/v1/jobs/{id}/start",
        "/api/v1/jobs/{id}/cancel",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing from openapi.json");
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_without_logged_bodies_fail_validation_with_that_reason() {
    let fake = FineTuneFake::start(HAPPY, None).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let database = unique_db("jobs_nobodies");
    let records = format!(
        "records:\n  clickhouse: {{ url: \"{}\", database: {database} }}\n  spool: {{ dir: \"{}\", fsync_interval_ms: 10 }}\n  batch: {{ max_delay_ms: 100 }}\n",
        ch_url(),
        dir.path().join("spool").display()
    );
    let yaml = yaml(dir.path(), &fake, &records);
    let gw = TestGateway::start_in(dir, &yaml).await;
    let c = client();
    for _ in 0..5 {
        let r = c.post(gw.url("/v1/chat/completions")).body(switchyard_testkit::chat("g")).send().await.expect("send");
        assert_eq!(r.status(), 200);
    }
    let ch = Ch::new(&ch_url());
    assert!(
        eventually(Duration::from_secs(20), async || count(&ch, &database, "SELECT count() FROM inferences").await
            >= 5)
        .await
    );
    let id = create(&c, &gw, &json!({"group": "g", "provider": "ft", "base_model": "m"})).await;
    let j = wait(&c, &gw, &id, |j| j["state"] == "failed").await;
    let error = j["error"].as_str().expect("error");
    assert!(error.contains("no logged bodies") && error.contains("groups.g.records.log_bodies"), "{error}");
    assert_eq!(fake.jobs_created(), 0);
    assert!(fake.files().is_empty());
    gw.stop().await;
    ch.drop_db(&database).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_house_trainer_on_the_http_contract_trains_and_registers() {
    let trainer = switchyard_testkit::http_trainer_fake::HttpTrainerFake::start().await;
    let fake = FineTuneFake::start(HAPPY, None).await;
    let data = tempfile::tempdir().expect("tempdir");
    let extra = format!("  inhouse: {{ kind: http, base_url: \"{}\" }}\n", trainer.url());
    let yaml = yaml(data.path(), &fake, "").replace("  ft: {", &format!("{extra}  ft: {{"));
    let gw = TestGateway::start(&yaml).await;
    let c = client();
    let spec = json!({"group": "g", "provider": "inhouse", "base_model": "tabular-base",
        "dataset": {"source": "file", "path": "chats.jsonl"}});
    let id = create(&c, &gw, &spec).await;
    let j = wait(&c, &gw, &id, |j| j["state"] == "registered" || j["state"] == "failed").await;
    assert_eq!(j["state"], "registered", "{j:#}");
    assert_eq!(trainer.jobs(), 1);
    let rows: usize = trainer.datasets().iter().map(|(_, _, c)| String::from_utf8_lossy(c).lines().count()).sum();
    assert_eq!(rows, 40, "both files uploaded whole");
    let model = j["fine_tuned_model"].as_str().expect("model");
    let entry: Value = c
        .get(format!("{}/api/v1/models/inhouse/{model}", gw.admin))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(entry["training"]["framework"], "http-trainer");
    assert_eq!(entry["metrics"]["accuracy"], 0.91);
    let events: Value = c
        .get(format!("{}/api/v1/jobs/{id}/events", gw.admin))
        .bearer_auth(VIEWER)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert!(events["events"].as_array().expect("events").iter().any(|e| e["provider_status"] == "warming_up"));
    gw.stop().await;
}

/// A count, 0 while the table does not exist yet.
async fn count(ch: &Ch, database: &str, sql: &str) -> u64 {
    ch.try_query(database, sql).await.ok().and_then(|t| t.trim().parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_fails_the_job_without_showing_the_key() {
    let fake = FineTuneFake::start(HAPPY, Some("the-right-key")).await;
    let data = tempfile::tempdir().expect("tempdir");
    let key = data.path().join("wrong.key");
    std::fs::write(&key, "sk-the-wrong-key-1234").expect("key");
    let yaml = yaml(data.path(), &fake, "").replace(
        &format!("  ft: {{ kind: openai, base_url: \"{}\" }}", fake.base_url()),
        &format!("  ft: {{ kind: openai, base_url: \"{}\", api_key: \"file:{}\" }}", fake.base_url(), key.display()),
    );
    assert!(yaml.contains("file:"), "{yaml}");
    let gw = TestGateway::start(&yaml).await;
    let c = client();
    let id = create(&c, &gw, &file_job(true)).await;
    let j = wait(&c, &gw, &id, |j| j["state"] == "failed").await;
    assert!(j["error"].as_str().expect("error").contains("refused the provider's credentials (401)"), "{j:#}");
    let events = c
        .get(format!("{}/api/v1/jobs/{id}/events", gw.admin))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    let audit = c
        .get(format!("{}/api/v1/audit", gw.admin))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    for text in [j.to_string(), events, audit] {
        assert!(!text.contains("the-wrong-key"), "the key leaked: {text}");
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_tokens_see_and_make_only_their_tenants_jobs() {
    use switchyard_testkit::control::hash;
    let fake = FineTuneFake::start(HAPPY, None).await;
    let data = tempfile::tempdir().expect("tempdir");
    // Groups of two tenants; a tenant admin of each.
    let tenants =
        "  ga:\n    tenant: acme\n    members:\n      - { name: champ, role: champion, provider: mock, weight: 1 }\n  \
         gb:\n    tenant: globex\n    members:\n      - { name: champ, role: champion, provider: mock, weight: 1 }\n\
         jobs:";
    let yaml = yaml(data.path(), &fake, "").replacen("jobs:", tenants, 1).replace(
        "admin:\n  tokens:\n",
        &format!(
            "admin:\n  tokens:\n    - {{ name: acme-admin, token_sha256: \"{}\", role: admin, tenant: acme }}\n    \
             - {{ name: globex-admin, token_sha256: \"{}\", role: admin, tenant: globex }}\n",
            hash("acme-token"),
            hash("globex-token")
        ),
    );
    let gw = TestGateway::start(&yaml).await;
    let c = client();
    let call = |method: reqwest::Method, path: String, token: &'static str, body: Option<Value>| {
        let mut r = c.request(method, format!("{}/api/v1/jobs{path}", gw.admin)).bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        async move {
            let resp = r.send().await.expect("send");
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let spec = |group: &str, tenant: Option<&str>| {
        let mut s = file_job(false);
        s["group"] = group.into();
        if let Some(t) = tenant {
            s["tenant"] = t.into();
        }
        s
    };
    use reqwest::Method;
    // acme's admin makes a job on its group: it takes acme's tenant.
    let (status, mine) = call(Method::POST, String::new(), "acme-token", Some(spec("ga", None))).await;
    assert_eq!(status, 201, "{mine:#}");
    assert_eq!(mine["spec"]["tenant"].as_str().or(mine["tenant"].as_str()), Some("acme"), "{mine:#}");
    let id = mine["id"].as_str().expect("id").to_owned();
    // Not on globex's group, not for globex, not on the shared group.
    for (group, tenant, path) in [("gb", None, "group"), ("ga", Some("globex"), "tenant"), ("g", None, "group")] {
        let (status, body) = call(Method::POST, String::new(), "acme-token", Some(spec(group, tenant))).await;
        assert_eq!(status, 422, "{group} {tenant:?}: {body:#}");
        assert!(body.to_string().contains(path), "{body}");
    }
    // The unscoped admin's job of no tenant and globex's job are invisible to acme.
    let other = create(&c, &gw, &file_job(false)).await;
    let (status, theirs) = call(Method::POST, String::new(), "globex-token", Some(spec("gb", None))).await;
    assert_eq!(status, 201, "{theirs:#}");
    let theirs = theirs["id"].as_str().expect("id").to_owned();

    let (status, listed) = call(Method::GET, String::new(), "acme-token", None).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = listed["jobs"].as_array().expect("jobs").iter().filter_map(|j| j["id"].as_str()).collect();
    assert_eq!(ids, [id.as_str()], "acme lists only its job");
    let (_, all) = call(Method::GET, String::new(), ADMIN, None).await;
    assert_eq!(all["jobs"].as_array().map(Vec::len), Some(3), "the unscoped admin lists every job");
    for hidden in [&other, &theirs] {
        for (method, path) in [
            (Method::GET, format!("/{hidden}")),
            (Method::GET, format!("/{hidden}/events")),
            (Method::POST, format!("/{hidden}/start")),
            (Method::POST, format!("/{hidden}/cancel")),
        ] {
            let (status, body) = call(method.clone(), path.clone(), "acme-token", None).await;
            assert_eq!(status, 404, "{method} {path}: {body}");
        }
    }
    assert_eq!(job(&c, &gw, &theirs).await["state"], "draft", "globex's job was not touched");
    let (status, own) = call(Method::POST, format!("/{id}/cancel"), "acme-token", None).await;
    assert_eq!((status, own["state"].as_str()), (200, Some("cancelled")));
    gw.stop().await;
}
