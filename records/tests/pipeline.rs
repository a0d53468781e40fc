//! The pipeline without ClickHouse: `when_full` policies, metrics, and records that
//! survive a restart (spool only, then shipped by a later run).
#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::Duration;

use common::*;
use prometheus::Registry;
use switchyard_records::{group_table, schema, Outcome, WhenFull};

fn run_full(when_full: WhenFull) -> (u64, u64, bool, bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), None);
    opts.spool.max_bytes = 64 * 1024;
    opts.spool.when_full = when_full;
    opts.spool.fsync_interval_ms = 0;
    let registry = Registry::new();
    let (queue, handle) = switchyard_records::start(opts, &registry).unwrap();
    let accepting_before = queue.accepting();
    for i in 0..400 {
        queue.offer(record("full", i, now_ms()));
        // Let the writer keep up so the queue itself never overflows.
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let accepting_after = queue.accepting();
    let metrics = queue.metrics().clone();
    drop(queue);
    handle.close(Duration::ZERO);
    let text = prometheus::TextEncoder::new().encode_to_string(&registry.gather()).unwrap();
    assert!(text.contains("switchyard_spool_bytes"), "{text}");
    assert!(text.contains("switchyard_records_total{outcome=\"dropped\"}"));
    (metrics.get(Outcome::Spooled), metrics.get(Outcome::Dropped), accepting_before, accepting_after)
}

#[test]
fn drop_new_keeps_accepting_and_counts_drops() {
    let (spooled, dropped, before, after) = run_full(WhenFull::DropNew);
    assert!(spooled > 0 && dropped > 0, "spooled {spooled} dropped {dropped}");
    assert_eq!(spooled + dropped, 400);
    assert!(before && after);
}

#[test]
fn reject_stops_accepting_when_full() {
    let (spooled, dropped, before, after) = run_full(WhenFull::Reject);
    assert_eq!(spooled + dropped, 400);
    assert!(before);
    assert!(!after, "a full spool with when_full: reject must refuse admission");
}

#[tokio::test]
async fn records_spooled_without_clickhouse_ship_after_restart() {
    let url = ch_url();
    let db = unique_db("restart");
    let dir = tempfile::tempdir().unwrap();
    let now = now_ms();
    {
        let (queue, handle) = switchyard_records::start(options(dir.path(), None), &Registry::new()).unwrap();
        for i in 0..1000 {
            assert!(queue.offer(record("later", i, now)));
        }
        drop(queue);
        handle.close(Duration::ZERO);
    }
    let (queue, handle) =
        switchyard_records::start(options(dir.path(), Some(ch_opts(&url, &db))), &Registry::new()).unwrap();
    assert_eq!(handle.recovery().pending_records, 1000);
    drop(queue);
    handle.close(Duration::from_secs(30));
    let client = schema::client(&ch_opts(&url, &db));
    let t = group_table("later");
    assert_eq!(scalar(&client, &format!("SELECT count() FROM {t} FINAL")).await, 1000);
    drop_db(&client, &db).await;
}
