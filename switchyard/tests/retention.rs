//! Retention of everything that is not a group's own records (issue 11): `feedback`,
//! `explanations` (of every group, deleted ones too) and `control_audit` in the real
//! ClickHouse, the state store's `audit` and `config_versions` on both engines, and the
//! dead-letter file — run by the gateway's own periodic janitors (`retention.interval_s:
//! 1`), not by calling a function: rows older than their retention disappear, newer ones
//! stay, and old rows written after a pass are removed by a later pass.
//!
//! Needs `SWITCHYARD_TEST_CLICKHOUSE_URL` and `SWITCHYARD_TEST_POSTGRES_URL`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use switchyard_state::test_support::{drop_postgres, fresh_postgres, sqlite_options, POSTGRES_PASSWORD_ENV};
use switchyard_state::{AuditEntry, AuditFilter, ImportedVersion, StateStore, StoreOptions};
use switchyard_testkit::clickhouse::{ch_url, records_yaml, unique_db, Ch};
use switchyard_testkit::{eventually, TestGateway};

const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as i64
}

fn yaml(state: &str, database: &str, spool: &std::path::Path) -> String {
    format!(
        r#"{state}
providers:
  mock: {{ kind: mock }}
groups:
  g:
    members:
      - {{ name: champ, role: champion, provider: mock, weight: 100 }}
retention:
  interval_s: 1
  feedback_days: 5
  explanations_days: 5
  audit_days: 30
  config_versions_days: 30
  config_versions_keep: 2
  dead_letter_days: 5
{}"#,
        records_yaml(&ch_url(), database, spool, ", fsync_interval_ms: 10")
    )
}

fn audit(id: &str, timestamp_ms: i64) -> AuditEntry {
    AuditEntry {
        audit_id: id.to_owned(),
        timestamp_ms,
        actor: "ops".into(),
        action: "update".into(),
        target: "groups.g".into(),
        tenant: None,
        config_version: 1,
        before: serde_json::Value::Null,
        after: serde_json::Value::Null,
        reason: String::new(),
    }
}

/// Old and recent audit entries and config versions 1–3 (old) and 4 (recent), all with
/// the gateway's own config text (so it appends none of its own).
async fn seed_store(options: &StoreOptions, config: &str) {
    let store = StateStore::open(options).await.expect("open store");
    store.migrate().await.expect("migrate");
    let now = now_ms();
    let entries = [audit("old-1", now - 40 * DAY_MS), audit("old-2", now - 31 * DAY_MS), audit("new-1", now - DAY_MS)];
    assert_eq!(store.audit().append_batch(&entries).await.expect("audit"), 3);
    let versions: Vec<ImportedVersion> = [(1, 100), (2, 90), (3, 80), (4, 1)]
        .into_iter()
        .map(|(version, age)| ImportedVersion { version, yaml: config.to_owned(), created_at_ms: now - age * DAY_MS })
        .collect();
    store.config_versions().import(&versions, "test").await.expect("import");
    store.close().await;
}

/// Old (10 days; `control_audit`: 100) and recent (1 day) rows of the shared tables.
async fn seed_clickhouse(ch: &Ch, database: &str, tag: &str) {
    let secs = |age_days: i64| (now_ms() - age_days * DAY_MS) / 1000;
    for (age, name) in [(10, "old"), (1, "new")] {
        let (ts, ms) = (secs(age), secs(age) * 1000);
        ch.query(
            database,
            &format!(
                "INSERT INTO feedback (feedback_id, request_id, ts, timestamp_ms, metric, value) \
                 VALUES ('{name}-{tag}', 'r', {ts}, {ms}, 'm', 1)"
            ),
        )
        .await;
        ch.query(
            database,
            &format!(
                "INSERT INTO explanations (request_id, ts, timestamp_ms, group_name, feature, value) \
                 VALUES ('{name}-{tag}', {ts}, {ms}, 'deleted-group', 'f', 1)"
            ),
        )
        .await;
    }
    for (age, name) in [(100, "old"), (1, "new")] {
        let ts = secs(age);
        ch.query(
            database,
            &format!(
                "INSERT INTO control_audit (audit_id, ts, timestamp_ms, actor, action, target) \
                 VALUES ('{name}-{tag}', {ts}, {}, 'ops', 'update', 'groups.g')",
                ts * 1000
            ),
        )
        .await;
    }
}

async fn ids(ch: &Ch, database: &str, table: &str, column: &str) -> String {
    let mut ids: Vec<String> = ch
        .try_query(database, &format!("SELECT {column} FROM {table}"))
        .await
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    ids.sort();
    ids.join(",")
}

async fn retention_of_everything(test: &str, state_yaml: &str, options: StoreOptions) {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = unique_db(test);
    let spool = dir.path().join("spool");
    let config = yaml(state_yaml, &database, &spool);
    seed_store(&options, &config).await;
    std::fs::create_dir_all(&spool).expect("spool dir");
    let dead_letter = spool.join("dead-letter.jsonl");
    let line = |id: &str, age: i64| {
        format!("{{\"ts_ms\":{},\"table\":\"feedback\",\"error\":\"{id}\"}}\n", now_ms() - age * DAY_MS)
    };
    std::fs::write(&dead_letter, format!("{}{}", line("old", 9), line("new", 1))).expect("dead letter");

    // The test writes the config file itself (TestGateway would add to it).
    let gw = TestGateway::start_in(dir, &config).await;
    let ch = Ch::new(&ch_url());
    assert!(
        eventually(Duration::from_secs(20), async || ch
            .try_query(&database, "SELECT 1 FROM control_audit")
            .await
            .is_ok())
        .await,
        "tables migrated"
    );
    seed_clickhouse(&ch, &database, "a").await;

    let expected = |tag: &str| format!("new-{tag}");
    let trimmed = eventually(Duration::from_secs(20), async || {
        ids(&ch, &database, "feedback", "feedback_id").await == expected("a")
            && ids(&ch, &database, "explanations", "request_id").await == expected("a")
            && ids(&ch, &database, "control_audit", "audit_id").await == expected("a")
    })
    .await;
    assert!(
        trimmed,
        "old rows dropped, new kept: feedback [{}] explanations [{}] control_audit [{}]",
        ids(&ch, &database, "feedback", "feedback_id").await,
        ids(&ch, &database, "explanations", "request_id").await,
        ids(&ch, &database, "control_audit", "audit_id").await
    );

    // The loop keeps running: old rows written now go in a later pass.
    seed_clickhouse(&ch, &database, "b").await;
    let both = "new-a,new-b";
    let trimmed_again = eventually(Duration::from_secs(10), async || {
        ids(&ch, &database, "feedback", "feedback_id").await == both
            && ids(&ch, &database, "explanations", "request_id").await == both
            && ids(&ch, &database, "control_audit", "audit_id").await == both
    })
    .await;
    assert!(trimmed_again, "a later pass drops the second old rows");

    // The dead-letter file: the old line gone, the recent one kept.
    let dl = std::fs::read_to_string(gw.dir.path().join("spool/dead-letter.jsonl")).expect("dead letter");
    assert!(!dl.contains("\"old\"") && dl.contains("\"new\""), "{dl}");

    // The state store: audit entries older than 30 days gone; versions older than 30 days
    // gone except those within 2 of the newest number (1–3 are old, 4 is recent, and the
    // gateway may have appended its own completed file as 5).
    let store = StateStore::open(&options).await.expect("reopen store");
    let listed = async || -> (Vec<String>, Vec<u64>) {
        let audit = store.audit().list(&AuditFilter::default()).await.expect("audit");
        let versions = store.config_versions().list(100, None).await.expect("versions");
        let mut audit_ids: Vec<String> = audit.entries.iter().map(|e| e.audit_id.clone()).collect();
        audit_ids.retain(|id| id.starts_with("old") || id.starts_with("new"));
        (audit_ids, versions.iter().map(|v| v.version).collect())
    };
    let expected_versions = |listed: &[u64]| -> Vec<u64> {
        let max = listed.first().copied().unwrap_or(0);
        (1..=max).rev().filter(|v| *v >= 4 || *v + 2 > max).collect()
    };
    let settled = eventually(Duration::from_secs(10), async || {
        let (audit_ids, versions) = listed().await;
        audit_ids == ["new-1"] && versions == expected_versions(&versions)
    })
    .await;
    let (audit_ids, versions) = listed().await;
    assert!(settled, "state store trimmed: audit {audit_ids:?}, versions {versions:?}");
    assert!(versions.contains(&4) && !versions.contains(&1) && !versions.contains(&2), "{versions:?}");
    store.close().await;
    gw.stop().await;
    ch.drop_db(&database).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_of_everything_with_sqlite() {
    let state_dir = tempfile::tempdir().expect("tempdir");
    let options = sqlite_options(state_dir.path());
    let state = format!("state: {{ url: \"{}\" }}", options.url);
    retention_of_everything("retention_sqlite", &state, options).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_of_everything_with_postgres() {
    let options = fresh_postgres("retention").await;
    let state = format!("state: {{ url: \"{}\", password: \"env:{POSTGRES_PASSWORD_ENV}\" }}", options.url);
    retention_of_everything("retention_postgres", &state, options.clone()).await;
    drop_postgres(&options).await;
}
