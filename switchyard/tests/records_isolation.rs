//! One group's failing table does not block the other groups' records (issue 11): group
//! `bad`'s table gets a materialized column that throws on every insert (a server error
//! that is not about the rows' format, so it was retried forever, holding every group's
//! records behind it), group `good` keeps shipping, and `bad`'s records land in the
//! dead-letter file instead of vanishing.
//!
//! Needs `SWITCHYARD_TEST_CLICKHOUSE_URL`.

use std::time::Duration;

use switchyard_testkit::clickhouse::{ch_url, records_total, records_yaml, unique_db, Ch};
use switchyard_testkit::{chat, client, eventually, TestGateway};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_group_table_does_not_stop_the_other_groups() {
    let database = unique_db("records_isolation");
    let ch = Ch::new(&ch_url());

    let dir = tempfile::tempdir().expect("tempdir");
    let spool = dir.path().join("spool");
    let yaml = format!(
        r#"
providers:
  mock: {{ kind: mock }}
groups:
  bad:
    members:
      - {{ name: m, role: champion, provider: mock, weight: 1 }}
  good:
    members:
      - {{ name: m, role: champion, provider: mock, weight: 1 }}
{}  retry: {{ initial_backoff_ms: 50, max_backoff_ms: 200, isolate_after_ms: 500 }}
"#,
        records_yaml(&ch_url(), &database, &spool, ", fsync_interval_ms: 10")
    );
    let gw = TestGateway::start_in(dir, &yaml).await;
    let provisioned = eventually(Duration::from_secs(15), async || {
        ch.try_query(&database, "SELECT count() FROM inferences_bad").await.is_ok()
    })
    .await;
    assert!(provisioned, "the groups' tables are created at start-up");
    ch.query(&database, "ALTER TABLE inferences_bad ADD COLUMN boom UInt8 MATERIALIZED throwIf(timestamp_ms > 0)")
        .await;
    let c = client();
    for round in 0..3 {
        for group in ["bad", "good"] {
            let r = c.post(gw.url("/v1/chat/completions")).body(chat(group)).send().await.expect("send");
            assert!(r.status().is_success(), "{group}: {}", r.status());
        }
        if round == 0 {
            // Let the first batch (both groups) reach the shipper first.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    let good_shipped = eventually(Duration::from_secs(15), async || {
        ch.try_query(&database, "SELECT count() FROM inferences_good").await.is_ok_and(|n| n.trim() == "3")
    })
    .await;
    let metrics = gw.metrics().await;
    assert!(
        good_shipped,
        "group good's 3 records shipped although group bad's table fails; shipped {}, dead-lettered {}",
        records_total(&metrics, "shipped"),
        records_total(&metrics, "dead_letter")
    );
    // Group bad's 3 records are in the dead-letter file, naming its table.
    let dead_letter = gw.dir.path().join("spool/dead-letter.jsonl");
    let kept = eventually(Duration::from_secs(10), async || {
        std::fs::read_to_string(&dead_letter)
            .is_ok_and(|t| t.lines().filter(|l| l.contains("inferences_bad")).count() == 3)
    })
    .await;
    assert!(kept, "{:?}", std::fs::read_to_string(&dead_letter));
    assert_eq!(records_total(&gw.metrics().await, "dead_letter"), 3);
    gw.stop().await;
    ch.drop_db(&database).await;
}
