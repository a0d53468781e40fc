//! Fine-tuning jobs' states as an operator sees them (SPEC §10), against a fake OpenAI
//! fine-tuning server on loopback: `start: false` waits in `draft`, cancellation reaches
//! the trainer, a trainer's failure fails the job with its words, the SSE stream follows a
//! job to its end, and records without logged bodies fail validation with that reason (real
//! ClickHouse). The API's refusals, tenancy and other trainers: `jobs_api.rs`.

use std::time::Duration;

use serde_json::{json, Value};
use switchyard_testkit::clickhouse::{ch_url, unique_db, Ch};
use switchyard_testkit::control::{get_json, ADMIN, VIEWER};
use switchyard_testkit::finetune_fake::FineTuneFake;
use switchyard_testkit::{client, eventually, TestGateway};

use crate::jobs::{create, file_job, job, wait, yaml, HAPPY};

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
    let events: Value = get_json(&c, format!("{}/api/v1/jobs/{id}/events", gw.admin), VIEWER).await;
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

/// A count, 0 while the table does not exist yet.
async fn count(ch: &Ch, database: &str, sql: &str) -> u64 {
    ch.try_query(database, sql).await.ok().and_then(|t| t.trim().parse().ok()).unwrap_or(0)
}
