//! ClickHouse goes away under load and comes back: the data plane's `offer` never waits,
//! and afterwards every record is in ClickHouse exactly once.
//!
//! Uses its own private server (`scripts/clickhouse.sh` with another directory and ports)
//! so it can be stopped without disturbing the other tests.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use prometheus::Registry;
use switchyard_records::{group_table, schema, Outcome};

struct Instance {
    dir: tempfile::TempDir,
}

impl Instance {
    fn script(&self, action: &str) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/clickhouse.sh");
        let out = Command::new("bash")
            .arg(script)
            .arg(action)
            .env("SWITCHYARD_CH_DIR", self.dir.path())
            .env("SWITCHYARD_CH_HTTP_PORT", "28123")
            .env("SWITCHYARD_CH_TCP_PORT", "29000")
            .env("SWITCHYARD_CH_INTERSERVER_PORT", "29009")
            .output()
            .unwrap();
        assert!(out.status.success(), "clickhouse.sh {action}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.script("stop");
    }
}

#[tokio::test]
async fn outage_then_recovery_ships_every_record_exactly_once() {
    // The shared server must be up (proves the environment); this test runs its own.
    let _ = ch_url();
    let instance = Instance { dir: tempfile::tempdir().unwrap() };
    instance.script("start");
    let url = "http://127.0.0.1:28123";
    let db = unique_db("outage");
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new();
    let (queue, handle) = switchyard_records::start(options(dir.path(), Some(ch_opts(url, &db))), &registry).unwrap();
    let now = now_ms();
    let mut worst_offer = Duration::ZERO;
    let mut offer = |i: u64| {
        let r = record("outage", i, now + i as i64);
        let t = Instant::now();
        assert!(queue.offer(r));
        worst_offer = worst_offer.max(t.elapsed());
    };
    let mut i = 0u64;
    // Steady load, then the server stops, load continues, the server returns.
    for phase in 0..3 {
        let until = Instant::now() + Duration::from_secs(if phase == 1 { 4 } else { 2 });
        while Instant::now() < until {
            for _ in 0..50 {
                offer(i);
                i += 1;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        match phase {
            0 => instance.script("stop"),
            1 => instance.script("start"),
            _ => {}
        }
    }
    let metrics = queue.metrics().clone();
    drop(queue);
    handle.close(Duration::from_secs(60));
    assert_eq!(metrics.get(Outcome::Dropped), 0);
    assert_eq!(metrics.get(Outcome::Spooled), i);
    assert!(metrics.get(Outcome::Shipped) >= i, "shipped {} of {i}", metrics.get(Outcome::Shipped));
    assert!(worst_offer < Duration::from_millis(50), "offer waited {worst_offer:?}");

    let client = schema::client(&ch_opts(url, &db));
    let t = group_table("outage");
    assert_eq!(scalar(&client, &format!("SELECT count() FROM {t} FINAL")).await, i);
    assert_eq!(scalar(&client, "SELECT uniqExact(request_id) FROM inferences").await, i);
    drop_db(&client, &db).await;
}
