//! Quick throughput measurement (ignored by default; run with
//! `cargo nextest run -p switchyard-records --release --run-ignored only --no-capture throughput`).
#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use prometheus::Registry;
use switchyard_records::{group_table, schema, Outcome};

const N: u64 = 200_000;

#[tokio::test]
#[ignore = "measurement"]
async fn throughput_spool_and_clickhouse() {
    let url = ch_url();
    let now = now_ms();
    let records: Vec<_> = (0..N).map(|i| record("bench", i, now + (i as i64 % 1000))).collect();

    // 1. Into the spool only (fsync every 100 ms), offering as fast as the queue takes.
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), None);
    opts.spool.fsync_interval_ms = 100;
    opts.spool.segment_bytes = 32 << 20;
    let (queue, handle) = switchyard_records::start(opts, &Registry::new()).unwrap();
    let t = Instant::now();
    let mut i = 0;
    for r in &records {
        while !queue.offer(r.clone()) {
            std::thread::sleep(Duration::from_micros(50));
        }
        i += 1;
    }
    let metrics = queue.metrics().clone();
    drop(queue);
    handle.close(Duration::ZERO);
    let spool_secs = t.elapsed().as_secs_f64();
    let bytes: u64 =
        std::fs::read_dir(dir.path().join("spool")).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    println!(
        "spool: {i} records in {spool_secs:.2}s = {:.0} records/s (fsync on); {} bytes/record; spooled={}",
        i as f64 / spool_secs,
        bytes / N,
        metrics.get(Outcome::Spooled)
    );

    // 2. Drain that spool into ClickHouse.
    let db = unique_db("bench");
    let mut opts = options(dir.path(), Some(ch_opts(&url, &db)));
    opts.batch.max_rows = 10_000;
    opts.batch.max_bytes = 16 << 20;
    switchyard_records::migrate(opts.clickhouse.as_ref().unwrap()).await.unwrap();
    let t = Instant::now();
    let (queue, handle) = switchyard_records::start(opts, &Registry::new()).unwrap();
    let metrics = queue.metrics().clone();
    while metrics.get(Outcome::Shipped) < N {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ship_secs = t.elapsed().as_secs_f64();
    drop(queue);
    handle.close(Duration::from_secs(10));
    println!("drain to clickhouse: {N} records in {ship_secs:.2}s = {:.0} records/s", N as f64 / ship_secs);
    let client = schema::client(&ch_opts(&url, &db));
    let t = group_table("bench");
    assert_eq!(scalar(&client, &format!("SELECT count() FROM {t} FINAL")).await, N);
    drop_db(&client, &db).await;
}
