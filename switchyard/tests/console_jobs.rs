//! The console's jobs pages (SPEC §10, §12) in a real browser: headless Chromium driven by
//! PyPI `selenium` (`tests/console/console_jobs.py`) against a gateway with the real
//! ClickHouse and state store and a fake OpenAI fine-tuning server on loopback (held in
//! `running`). A job run to `enrolled` beforehand shows its last checkpoint's metrics and
//! its challenger. An admin creates a job in the page's form (validated, waiting in draft),
//! starts it, watches its state change in place — the page is never reloaded — with the
//! trainer's events streamed in, takes the screenshots of a job in progress, and cancels
//! it with confirmation; the trainer is told. A viewer sees the job but no create, start
//! or cancel control, and a forged cancel is 403. Fails — never skips — without the
//! browser or selenium.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use switchyard_testkit::clickhouse::{ch_url, records_yaml, unique_db, Ch};
use switchyard_testkit::control::{admin_yaml, ADMIN, VIEWER};
use switchyard_testkit::finetune_fake::FineTuneFake;
use switchyard_testkit::{browser, client, eventually, TestGateway};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/console/console_jobs.py");
const FT_KEY: &str = "sk-console-jobs-trainer-key";
const EXAMPLES: usize = 30;

fn yaml(dir: &std::path::Path, database: &str, fake: &FineTuneFake) -> String {
    let key_file = dir.join("ft.key");
    std::fs::write(&key_file, FT_KEY).expect("key file");
    format!(
        r#"
providers:
  mock: {{ kind: mock }}
  ft: {{ kind: openai, base_url: "{base}", api_key: "file:{key}" }}
groups:
  support:
    members:
      - {{ name: champ, role: champion, provider: mock, model: base, weight: 1 }}
    records: {{ log_bodies: true }}
jobs: {{ poll_interval_ms: 100, max_poll_interval_ms: 500 }}
{records}{admin}"#,
        base = fake.base_url(),
        key = key_file.display(),
        records = records_yaml(&ch_url(), database, &dir.join("spool"), ""),
        admin = admin_yaml(),
    )
}

fn run_browser(admin: String, shots: PathBuf, done: String) -> Value {
    let envs = [("ADMIN_URL", admin), ("SHOTS", shots.display().to_string()), ("DONE_JOB", done)];
    let tokens = [("ADMIN_TOKEN", ADMIN.into()), ("VIEWER_TOKEN", VIEWER.into())];
    let names = [("GROUP", "support".into()), ("TRAINER", "ft".into())];
    browser::run_script(Path::new(SCRIPT), &[envs.as_slice(), &tokens, &names].concat())
}

/// A job created through the API that runs to `enrolled` (the trainer not held).
async fn finished_job(gw: &TestGateway, fake: &FineTuneFake) -> Value {
    fake.hold(false);
    let spec = json!({"group": "support", "provider": "ft", "base_model": "gpt-4o-mini-2024-07-18",
        "enroll": {"group": "support", "weight": 5}});
    let c = client();
    let r = c.post(format!("{}/api/v1/jobs", gw.admin)).bearer_auth(ADMIN).json(&spec).send().await.expect("send");
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    let mut job = Value::Null;
    let enrolled = eventually(Duration::from_secs(30), async || {
        let url = format!("{}/api/v1/jobs/{id}", gw.admin);
        job = c.get(url).bearer_auth(ADMIN).send().await.expect("send").json().await.expect("json");
        job["state"] == "enrolled" || job["state"] == "failed"
    })
    .await;
    assert!(enrolled && job["state"] == "enrolled", "{job:#}");
    job
}

/// Distinct chat requests with logged bodies, shipped to ClickHouse.
async fn record_traffic(gw: &TestGateway, ch: &Ch, database: &str) {
    let c = client();
    for i in 0..EXAMPLES {
        let body = json!({"model": "support", "messages": [{"role": "user", "content": format!("question {i}")}]});
        let r = c.post(gw.url("/v1/chat/completions")).json(&body).send().await.expect("send");
        assert_eq!(r.status(), 200);
    }
    let shipped = eventually(Duration::from_secs(30), async || {
        ch.try_query(database, "SELECT count() FROM inferences")
            .await
            .is_ok_and(|c| c.trim().parse::<usize>() == Ok(EXAMPLES))
    })
    .await;
    assert!(shipped, "the records did not reach ClickHouse");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_created_watched_and_cancelled_in_the_browser() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = unique_db("console_jobs");
    let fake = FineTuneFake::start(&["validating_files", "queued", "running", "succeeded"], Some(FT_KEY)).await;
    fake.hold(true);
    let yaml = yaml(dir.path(), &database, &fake);
    let gw = TestGateway::start_in(dir, &yaml).await;
    let ch = Ch::new(&ch_url());
    record_traffic(&gw, &ch, &database).await;

    let done = finished_job(&gw, &fake).await;
    fake.hold(true);

    let shots = browser::screenshots_dir();
    let admin = gw.admin.clone();
    let done_id = done["id"].as_str().expect("id").to_owned();
    let out = tokio::task::spawn_blocking(move || run_browser(admin, shots, done_id)).await.expect("browser");
    let show = serde_json::to_string_pretty(&out).unwrap_or_default();
    assert!(out.get("failed").is_none(), "the browser run stopped:\n{show}");
    for (page, errors) in out["errors"].as_object().expect("errors") {
        assert_eq!(errors, &json!([]), "console errors on {page}: {show}");
    }

    // The form shows the server's problems with their paths; then it creates the job as
    // the signed-in admin, with the form's values.
    assert_eq!(out["refused"], "base_model: must not be empty", "{show}");
    let id = out["job_id"].as_str().expect("job id").to_owned();
    let url = format!("{}/api/v1/jobs/{id}", gw.admin);
    let job: Value = client().get(&url).bearer_auth(ADMIN).send().await.expect("send").json().await.expect("json");
    assert_eq!(job["created_by"], "alice", "{job:#}");
    assert_eq!(job["spec"]["base_model"], "gpt-4o-mini-2024-07-18", "{job:#}");
    assert_eq!(job["spec"]["hyperparameters"], json!({"n_epochs": 3}), "{job:#}");
    assert_eq!(job["spec"]["start"], true, "started from the page: {job:#}");
    assert_eq!(
        job["dataset"]["train_rows"].as_u64().unwrap_or(0) + job["dataset"]["validation_rows"].as_u64().unwrap_or(0),
        EXAMPLES as u64
    );

    // Watched in place: one page load saw draft → … → running → cancelled.
    let seen: Vec<String> =
        out["seen"].as_array().expect("seen").iter().map(|s| s.as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(out["reloaded"], false, "the page was reloaded: {show}");
    let at = |state: &str| seen.iter().position(|s| s == state).unwrap_or_else(|| panic!("{state} not seen: {seen:?}"));
    assert!(at("draft") < at("running") && at("running") < at("cancelled"), "{seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("cancelled"), "{seen:?}");
    // The trainer's events streamed into the log, the numbers the API's.
    let in_progress = out["in_progress"].as_str().unwrap_or_default();
    assert!(in_progress.contains("Step 1/10: training loss=0.42"), "{in_progress}");
    assert!(in_progress.contains("running") && in_progress.contains("ftjob-"), "{in_progress}");
    let chart = out["metrics_chart"].as_str().unwrap_or_default();
    assert!(chart.contains("step 1 train_loss 0.4200"), "{chart}");
    assert!(out["events_after_cancel"].as_u64() > out["events_in_progress"].as_u64(), "{show}");

    // Cancelled from the page: at the trainer too; listed as cancelled.
    assert_eq!(job["state"], "cancelled", "{job:#}");
    assert!(fake.jobs().iter().any(|j| j["status"] == "cancelled"), "the trainer was not told");
    assert!(out["list_row"].as_str().is_some_and(|r| r.contains("cancelled") && r.contains("support")), "{show}");

    // A finished job as the API has it: enrolled, its checkpoint's metrics, its challenger.
    let page = out["done_page"].as_str().unwrap_or_default();
    assert!(
        out["done_state"] == "enrolled" && out["done_live"].as_str().is_some_and(|t| t.starts_with("final")),
        "{show}"
    );
    let loss = done["metrics"]["train_loss"].as_f64().expect("checkpoint metrics");
    assert_eq!(out["done_metrics"]["train_loss"], format!("{loss:.4}"), "{show}");
    assert_eq!(out["done_metrics"]["valid_mean_token_accuracy"], "0.9000", "{show}");
    // Every checkpoint the trainer kept, by step: step, model, taken, then the metrics by
    // name (full_valid_loss, full_valid_mean_token_accuracy, train_loss, …; "–" where a
    // checkpoint has none).
    let model = done["fine_tuned_model"].as_str().expect("model");
    let rows = out["done_checkpoints"].as_array().expect("checkpoint rows");
    assert_eq!(rows.len(), 2, "{show}");
    let cells = |row: &Value| -> Vec<String> {
        let all = row.as_array().expect("cells");
        [0, 1, 3, 5].iter().map(|&i| all[i].as_str().unwrap_or_default().to_owned()).collect()
    };
    assert_eq!(cells(&rows[0]), ["5", &format!("{model}:ckpt-step-5"), "–", "0.3100"], "{show}");
    assert_eq!(cells(&rows[1]), ["10", &format!("{model}:ckpt-step-10"), "0.2100", "0.1200"], "{show}");
    for fact in ["member", "fine_tuned_model", "catalog_id"] {
        let value = done[fact].as_str().expect(fact);
        assert!(page.contains(value), "{fact} {value} not on the page: {page}");
    }

    // The viewer: no write controls on either page; a forged cancel is refused.
    assert!(out["who_viewer"].as_str().is_some_and(|w| w.contains("val (viewer)")), "{show}");
    assert_eq!(out["viewer"]["forms"], 0, "{show}");
    assert_eq!(out["viewer"]["buttons"], json!([]), "{show}");
    assert_eq!(out["viewer_forged"], 403, "{show}");

    let shots = browser::screenshots_dir();
    for width in ["desktop", "phone"] {
        let file = shots.join(format!("job-{width}.png"));
        assert!(std::fs::metadata(&file).is_ok_and(|m| m.len() > 5_000), "{} missing", file.display());
    }
    for (shot, overflow) in out["overflow"].as_object().expect("overflow") {
        assert_eq!(overflow, 0, "{shot} scrolls sideways by {overflow} px");
    }
    gw.stop().await;
    ch.drop_db(&database).await;
}
