//! `switchyard migrate` and the spool against the real ClickHouse server:
//!
//! - `switchyard migrate`: exit 0, a second run is a no-op, unreachable server → exit ≠ 0
//!   with a clear message;
//! - `when_full`: `reject` answers 503 + `Retry-After` once the spool is full,
//!   `drop_new` keeps answering and counts `dropped`;
//! - a corrupted spool segment tail is skipped and reported; the gateway starts and the
//!   intact records arrive.
//!
//! Needs `SWITCHYARD_TEST_CLICKHOUSE_URL` (`scripts/clickhouse.sh start`); every test
//! uses its own database.

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use switchyard_testkit::clickhouse::{ch_url, metric, records_total, records_yaml, unique_db, Ch};
use switchyard_testkit::{client, eventually, TestGateway};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
fn run_migrate(config: &std::path::Path) -> std::process::Output {
    Command::new(BIN)
        .args(["migrate", "--config", config.to_str().expect("utf-8")])
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run switchyard migrate")
}

fn migrate_config(dir: &std::path::Path, url: &str, db: &str) -> std::path::PathBuf {
    let path = dir.join("switchyard.yaml");
    let yaml = format!(
        "providers:\n  mock: {{ kind: mock }}\ngroups:\n  g:\n    members:\n      - {{ name: a, role: champion, \
         provider: mock, weight: 1 }}\n{}",
        records_yaml(url, db, &dir.join("spool"), "")
    );
    std::fs::write(&path, yaml).expect("write config");
    path
}

#[tokio::test]
async fn migrate_creates_the_schema_and_a_second_run_is_a_no_op() {
    let ch = Ch::new(&ch_url());
    let db = unique_db("migrate");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = migrate_config(dir.path(), &ch.url, &db);

    let tables = async || {
        ch.query("default", &format!("SELECT name FROM system.tables WHERE database = '{db}' ORDER BY name")).await
    };
    let first = run_migrate(&config);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert_eq!(first.status.code(), Some(0), "stdout {stdout} stderr {}", String::from_utf8_lossy(&first.stderr));
    assert!(stdout.starts_with("state store") && stdout.contains("applied now: [1, 2, 3, 4]"), "{stdout}");
    let after_first = tables().await;
    assert_eq!(
        after_first.lines().collect::<Vec<_>>(),
        ["control_audit", "explanations", "feedback", "inferences", "schema_migrations"],
        "{after_first}"
    );
    let migrations = ch.scalar(&db, "SELECT count() FROM schema_migrations").await;

    let second = run_migrate(&config);
    let stdout2 = String::from_utf8_lossy(&second.stdout);
    assert_eq!(second.status.code(), Some(0), "{}", String::from_utf8_lossy(&second.stderr));
    assert!(stdout2.contains("applied now: []"), "second run is a no-op: {stdout2}");
    assert_eq!(tables().await, after_first);
    assert_eq!(ch.scalar(&db, "SELECT count() FROM schema_migrations").await, migrations);
    ch.drop_db(&db).await;
}

#[test]
fn migrate_against_an_unreachable_server_fails_with_a_clear_message() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = migrate_config(dir.path(), &format!("http://127.0.0.1:{port}"), "switchyard");
    let started = std::time::Instant::now();
    let out = run_migrate(&config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "exit {:?}: {stderr}", out.status);
    assert_ne!(out.status.code(), Some(64), "not a config problem: {stderr}");
    assert!(started.elapsed() < Duration::from_secs(30), "gave up in {:?}", started.elapsed());
    let line =
        stderr.lines().find(|l| l.starts_with("migrate:")).unwrap_or_else(|| panic!("no `migrate:` line in {stderr}"));
    assert!(
        line.contains(&format!("http://127.0.0.1:{port}")) && line.to_lowercase().contains("connect"),
        "the message says which server could not be reached, and why: {line}"
    );
}

// === when_full ===

fn full_yaml(spool: &std::path::Path, when_full: &str) -> String {
    format!(
        r#"
providers:
  mock: {{ kind: mock }}
groups:
  g:
    members:
      - {{ name: a, role: champion, provider: mock, weight: 1 }}
records:
  spool: {{ dir: "{}", max_bytes: 4096, when_full: {when_full}, fsync_interval_ms: 5 }}
"#,
        spool.display()
    )
}

#[tokio::test]
async fn when_full_reject_answers_503_with_retry_after_once_the_spool_is_full() {
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = full_yaml(&dir.path().join("spool"), "reject");
    let gw = TestGateway::start_in(dir, &yaml).await;
    let c = client();
    let mut ok = 0;
    let mut rejected = None;
    for _ in 0..500 {
        let r = c.post(gw.url("/v1/chat/completions")).body(switchyard_testkit::chat("g")).send().await.expect("send");
        if r.status() == 200 {
            ok += 1;
            r.bytes().await.expect("body");
            // The writer thread appends asynchronously; give it a moment.
            tokio::time::sleep(Duration::from_millis(2)).await;
            continue;
        }
        rejected = Some(r);
        break;
    }
    let r = rejected.unwrap_or_else(|| panic!("no 503 after {ok} requests into a 4096-byte spool"));
    assert!(ok > 0, "the first requests are served");
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers().get("retry-after").map(|v| v.to_str().expect("ascii")), Some("1"));
    assert!(r.headers().get("x-switchyard-request-id").is_some());
    let body: serde_json::Value = r.json().await.expect("OpenAI-shaped error");
    let err = &body["error"];
    assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(err["type"].is_string() && !err["code"].is_null(), "{body}");

    // It stays full (nothing ships without ClickHouse): every request and feedback is refused.
    for _ in 0..5 {
        let r = c
            .post(gw.url("/v1/chat/completions"))
            .body(switchyard_testkit::chat_stream("g"))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 503);
    }
    let fb = serde_json::json!({"request_id": "abc", "metric": "m", "value": 1});
    let r = c.post(gw.url("/v1/feedback")).json(&fb).send().await.expect("send");
    assert_eq!(r.status(), 503);
    assert!(r.headers().get("retry-after").is_some());

    let text = gw.metrics().await;
    let bytes = metric(&text, "switchyard_spool_bytes").expect("switchyard_spool_bytes");
    assert!(bytes > 0.0 && bytes <= 4096.0, "spool_bytes {bytes}");
    assert!(
        records_total(&text, "spooled") <= ok,
        "every spooled record was served: spooled {} ok {ok}",
        records_total(&text, "spooled")
    );
    eprintln!("when_full reject: {ok} served before the spool filled; spool_bytes {bytes} of 4096");
    gw.stop().await;
}

#[tokio::test]
async fn when_full_drop_new_keeps_answering_and_counts_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = full_yaml(&dir.path().join("spool"), "drop_new");
    let gw = TestGateway::start_in(dir, &yaml).await;
    let c = client();
    let batch = async |n: usize| {
        for _ in 0..n {
            let r =
                c.post(gw.url("/v1/chat/completions")).body(switchyard_testkit::chat("g")).send().await.expect("send");
            assert_eq!(r.status(), 200, "drop_new never refuses");
            r.bytes().await.expect("body");
        }
    };
    batch(100).await;
    let mut text = String::new();
    assert!(
        eventually(Duration::from_secs(5), async || {
            text = gw.metrics().await;
            records_total(&text, "dropped") > 0
                && records_total(&text, "spooled") + records_total(&text, "dropped") == 100
        })
        .await,
        "{text}"
    );
    let dropped_1 = records_total(&text, "dropped");
    let spooled_1 = records_total(&text, "spooled");

    batch(20).await;
    assert!(
        eventually(Duration::from_secs(5), async || {
            text = gw.metrics().await;
            records_total(&text, "dropped") == dropped_1 + 20
        })
        .await,
        "the next 20 records are dropped too: dropped {} → {}",
        dropped_1,
        records_total(&text, "dropped")
    );
    assert_eq!(records_total(&text, "spooled"), spooled_1, "nothing more fits");
    let bytes = metric(&text, "switchyard_spool_bytes").expect("switchyard_spool_bytes");
    assert!(bytes <= 4096.0, "spool_bytes {bytes} within max_bytes");
    eprintln!("when_full drop_new: spooled {spooled_1}, dropped {dropped_1} then {}", dropped_1 + 20);
    gw.stop().await;
}

// === corrupted spool tail ===

#[tokio::test]
async fn a_corrupted_segment_tail_is_skipped_and_reported_and_the_rest_arrives() {
    const N: usize = 40;
    let ch = Ch::new(&ch_url());
    let db = unique_db("corrupt");
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = dir.path().join("spool");
    let base_yaml = "providers:\n  mock: { kind: mock }\ngroups:\n  g:\n    members:\n      - { name: a, role: champion, provider: mock, weight: 1 }\n";

    // Run 1 without ClickHouse: every record stays in the spool.
    let offline = format!("{base_yaml}records:\n  spool: {{ dir: \"{}\" }}\n", spool.display());
    let gw = TestGateway::start_in(dir, &offline).await;
    let c = client();
    let mut ids = Vec::new();
    for _ in 0..N {
        let r = c.post(gw.url("/v1/chat/completions")).body(switchyard_testkit::chat("g")).send().await.expect("send");
        assert_eq!(r.status(), 200);
        ids.push(header(&r, "x-switchyard-request-id"));
    }
    let dir = gw.stop().await;

    // Garbage after the last frame of the last segment that holds records.
    let segments = switchyard_records::spool::list_segments(&spool).expect("segments");
    let last = segments
        .iter()
        .rev()
        .map(|id| switchyard_records::spool::segment_path(&spool, *id))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
        .expect("a non-empty segment");
    let before = std::fs::metadata(&last).expect("meta").len();
    let mut f = std::fs::OpenOptions::new().append(true).open(&last).expect("open segment");
    f.write_all(&[0x5a; 37]).expect("append garbage");
    f.write_all(&300u32.to_le_bytes()).expect("append a torn header");
    f.sync_all().expect("sync");
    drop(f);

    // Run 2 with ClickHouse: starts, reports the corruption, ships the intact records.
    let online = format!("{base_yaml}{}", records_yaml(&ch.url, &db, &spool, ""));
    let gw = TestGateway::start_in(dir, &online).await;
    let text = gw.metrics().await;
    let corrupt = metric(&text, "switchyard_spool_corrupt_total").expect("switchyard_spool_corrupt_total");
    assert!(corrupt >= 1.0, "corrupt tail reported: {corrupt}");
    assert_eq!(std::fs::metadata(&last).expect("meta").len(), before, "the tail was cut back to the last good frame");
    let r = c.post(gw.url("/v1/chat/completions")).body(switchyard_testkit::chat("g")).send().await.expect("send");
    assert_eq!(r.status(), 200, "the gateway serves");
    ids.push(header(&r, "x-switchyard-request-id"));

    let arrived = eventually(Duration::from_secs(30), async || {
        ch.try_query(&db, "SELECT uniqExact(request_id) FROM inferences")
            .await
            .is_ok_and(|t| t.trim() == ids.len().to_string())
    })
    .await;
    assert!(arrived, "all {} records arrive", ids.len());
    let stored = ch.rows(&db, "SELECT request_id FROM inferences FINAL ORDER BY request_id").await;
    let mut want = ids.clone();
    want.sort();
    assert_eq!(stored.into_iter().map(|r| r[0].clone()).collect::<Vec<_>>(), want);
    eprintln!("corrupt tail: switchyard_spool_corrupt_total {corrupt}; {} of {} records arrived", ids.len(), ids.len());
    gw.stop().await;
    ch.drop_db(&db).await;
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}
