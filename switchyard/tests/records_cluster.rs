//! Records on a replicated ClickHouse cluster (SPEC §7, `records.clickhouse.cluster`),
//! with the real binary against the private cluster of `scripts/clickhouse-cluster.sh`
//! (ZooKeeper and three ClickHouse 18.16 servers on loopback):
//!
//! 1. `sy_1x2` (one shard, two replicas): three gateways under load, two shipping through
//!    node 1 and one through node 2; node 2 is SIGKILLed for 30 s mid-run and started
//!    again, and the gateway shipping through it is SIGKILLed during that outage and
//!    restarted on its spool. Every request a client got a 200 for is counted exactly once
//!    through the `Distributed` tables and the control API's analytics, and after
//!    `SYSTEM SYNC REPLICA` both replicas hold exactly the same request ids.
//! 2. `sy_2x1` (two shards, one replica each): two gateways, every request exactly once
//!    across the shards, and no request id on both.
//!
//! The gateway child processes (`records_cluster/gateway.rs`) and the load
//! (`records_cluster/load.rs`) are submodules, so every test keeps its `records_cluster::` name.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_testkit::clickhouse::{metric, records_total, unique_db, Ch, ClickHouseCluster};
use switchyard_testkit::control::ADMIN;
use switchyard_testkit::{client, eventually};

mod gateway;
mod load;

use gateway::Gateway;
use load::Load;

const GROUP_TABLE: &str = "inferences_g";

/// Distinct request ids of `table` on the server of `ch`.
async fn ids(ch: &Ch, db: &str, table: &str) -> HashSet<String> {
    ch.rows(db, &format!("SELECT DISTINCT request_id FROM `{table}`")).await.into_iter().map(|r| r[0].clone()).collect()
}

/// Waits until `table` read through `ch` holds `n` distinct request ids.
async fn drained(ch: &Ch, db: &str, table: &str, n: usize, within: Duration) -> bool {
    eventually(within, async || {
        ch.try_query(db, &format!("SELECT uniqExact(request_id) FROM `{table}`"))
            .await
            .is_ok_and(|t| t.trim() == n.to_string())
    })
    .await
}

/// Requests of group `g` per the control API's experiment report (analytics over the
/// `Distributed` group table).
async fn experiment_requests(gw: &Gateway) -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
    let until = now.as_millis() + 60_000;
    let r = client()
        .get(format!("{}/api/v1/groups/g/experiment?since=1&until={until}", gw.admin))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("experiment");
    assert_eq!(r.status(), 200);
    let report: serde_json::Value = r.json().await.expect("json");
    report["members"].as_array().expect("members").iter().map(|m| m["requests"].as_u64().expect("requests")).sum()
}

async fn blocking(cluster: &Arc<ClickHouseCluster>, action: &'static str, node: usize) {
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.node(action, node)).await.expect("cluster script");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_1x2_replica_outage_and_gateway_crash_count_every_request_once_on_both_replicas() {
    const OUTAGE: Duration = Duration::from_secs(30);
    let cluster = Arc::new(ClickHouseCluster::from_env());
    let (n1, n2) = (Ch::new(cluster.url(1)), Ch::new(cluster.url(2)));
    let db = unique_db("c1x2");
    let t0 = Instant::now();
    let mut gws = vec![
        Gateway::start(cluster.url(1), &db, "sy_1x2").await,
        Gateway::start(cluster.url(2), &db, "sy_1x2").await,
        Gateway::start(cluster.url(1), &db, "sy_1x2").await,
    ];
    let load = Load::start(&gws);

    // Every gateway migrated (ON CLUSTER DDL needs both replicas) and ships.
    for (i, g) in gws.iter().enumerate() {
        let ships =
            eventually(Duration::from_secs(60), async || records_total(&g.metrics().await, "shipped") > 0).await;
        assert!(ships, "gateway {i} ships before the outage ({:.1} s)", t0.elapsed().as_secs_f64());
    }
    for ch in [&n1, &n2] {
        let local = format!("local_{GROUP_TABLE}");
        assert_eq!(
            ch.scalar(&db, &format!("SELECT count() FROM system.tables WHERE database = '{db}' AND name = '{local}'"))
                .await,
            1,
            "{} has the replicated group table",
            ch.url
        );
        let engine = ch
            .query(&db, &format!("SELECT engine FROM system.tables WHERE database = '{db}' AND name = '{GROUP_TABLE}'"))
            .await;
        assert_eq!(engine.trim(), "Distributed");
    }
    let ready_at = t0.elapsed();

    // Node 2 crashes; 8 s later the gateway shipping through it crashes too (its spool
    // holds everything since the outage began) and restarts on its spool.
    let killed = Instant::now();
    blocking(&cluster, "kill-node", 2).await;
    let shipped_at_kill: Vec<u64> = {
        let mut v = Vec::new();
        for g in &gws {
            v.push(records_total(&g.metrics().await, "shipped"));
        }
        v
    };
    tokio::time::sleep(Duration::from_secs(8)).await;
    let text = gws[1].metrics().await;
    let (gw2_shipped_in_outage, gw2_spooled) =
        (records_total(&text, "shipped") - shipped_at_kill[1], metric(&text, "switchyard_spool_bytes").unwrap_or(0.0));
    let gateway_down = gws[1].crash_and_restart().await;
    tokio::time::sleep(OUTAGE.saturating_sub(killed.elapsed())).await;
    let shipped_in_outage_via_node1 = records_total(&gws[0].metrics().await, "shipped") - shipped_at_kill[0];
    let restarting = Instant::now();
    blocking(&cluster, "start-node", 2).await;
    let node_down = killed.elapsed();
    let restart_took = restarting.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (done, failed) = load.finish().await;

    // Feedback through the same pipeline: one per request for the first 20 requests.
    let c = client();
    let data1 = gws[0].data.lock().expect("lock").clone().expect("gateway 1 up");
    for id in done.iter().take(20) {
        let fb = serde_json::json!({"request_id": id, "metric": "thumbs", "value": 1});
        let r = c.post(format!("{data1}/v1/feedback")).json(&fb).send().await.expect("feedback");
        assert!(r.status().is_success(), "feedback: {}", r.status());
    }

    let sent: HashSet<String> = done.iter().cloned().collect();
    assert_eq!(sent.len(), done.len(), "request ids are unique");
    let n = sent.len();
    let drain_started = Instant::now();
    let all_in = drained(&n1, &db, GROUP_TABLE, n, Duration::from_secs(60)).await;
    let drained_in = drain_started.elapsed();
    let feedback_in = eventually(Duration::from_secs(20), async || {
        n1.try_query(&db, "SELECT uniqExact(request_id) FROM feedback").await.is_ok_and(|t| t.trim() == "20")
    })
    .await;
    // Both replicas caught up: replication queues empty.
    for ch in [&n1, &n2] {
        for t in [format!("local_{GROUP_TABLE}"), "local_feedback".to_owned()] {
            ch.query(&db, &format!("SYSTEM SYNC REPLICA `{db}`.`{t}`")).await;
        }
    }
    let local = format!("local_{GROUP_TABLE}");
    let (ids1, ids2) = (ids(&n1, &db, &local).await, ids(&n2, &db, &local).await);
    let via_dist_n1 = ids(&n1, &db, GROUP_TABLE).await;
    let via_dist_n2 = ids(&n2, &db, GROUP_TABLE).await;
    let via_merge = n2.scalar(&db, "SELECT uniqExact(request_id) FROM inferences").await;
    let physical = n1.scalar(&db, &format!("SELECT count() FROM `{local}`")).await;
    let physical2 = n2.scalar(&db, &format!("SELECT count() FROM `{local}`")).await;
    let fb2 = n2.scalar(&db, "SELECT uniqExact(request_id) FROM local_feedback").await;
    let analytics = experiment_requests(&gws[2]).await;
    let mut shipped = Vec::new();
    let mut dropped = 0;
    let mut dead = 0;
    for g in &gws {
        let text = g.metrics().await;
        shipped.push(records_total(&text, "shipped"));
        dropped += records_total(&text, "dropped");
        dead += records_total(&text, "dead_letter");
    }
    let summary = format!(
        "answered 200: {n} (failed or refused while a gateway was down: {failed}); ready after {:.1} s; node 2 down \
         {:.1} s (its start took {:.1} s), gateway 2 down {:.2} s; shipped via node 1 during the outage: \
         {shipped_in_outage_via_node1}; gateway 2 at its crash: shipped since the outage {gw2_shipped_in_outage}, \
         spool {gw2_spooled} bytes; drained {:.1} s after the load; distinct ids: node 1 local {}, node 2 local {}, \
         Distributed via node 1 {}, via node 2 {}, `inferences` via node 2 {via_merge}, control API {analytics}; \
         physical rows node 1 {physical}, node 2 {physical2}; feedback on node 2 {fb2}; shipped per gateway \
         {shipped:?}; dropped {dropped}; dead-lettered {dead}; test {:.1} s",
        ready_at.as_secs_f64(),
        node_down.as_secs_f64(),
        restart_took.as_secs_f64(),
        gateway_down.as_secs_f64(),
        drained_in.as_secs_f64(),
        ids1.len(),
        ids2.len(),
        via_dist_n1.len(),
        via_dist_n2.len(),
        t0.elapsed().as_secs_f64(),
    );
    eprintln!("cluster 1x2: {summary}");
    if !all_in {
        for (i, g) in gws.iter().enumerate() {
            eprintln!("gateway {i} log tail:\n{}", g.log_tail(30));
        }
    }
    assert!(n > 1000, "enough load: {summary}");
    assert!(all_in, "every answered request reached the cluster: {summary}");
    assert!(shipped_in_outage_via_node1 > 0, "node 1 kept taking inserts while node 2 was down: {summary}");
    assert!(
        gw2_shipped_in_outage == 0 && gw2_spooled > 0.0,
        "gateway 2 crashed with its outage backlog in the spool: {summary}"
    );
    assert_eq!(via_dist_n1, sent, "the Distributed table holds exactly the answered requests: {summary}");
    assert_eq!(via_dist_n2, sent, "{summary}");
    assert_eq!(ids1, sent, "replica 1 holds every request: {summary}");
    assert_eq!(ids2, sent, "replica 2 holds every request: {summary}");
    assert_eq!(via_merge, n as u64, "{summary}");
    assert_eq!(analytics, n as u64, "the control API counts every request once: {summary}");
    assert!(feedback_in && fb2 == 20, "feedback once on both replicas: {summary}");
    assert_eq!((dropped, dead), (0, 0), "{summary}");

    futures_util::future::join_all(gws.into_iter().map(Gateway::stop)).await;
    let _ = n1.try_query("default", &format!("DROP DATABASE IF EXISTS `{db}` ON CLUSTER sy_1x2")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_2x1_every_request_once_across_two_shards() {
    let cluster = ClickHouseCluster::from_env();
    let (n1, n3) = (Ch::new(cluster.url(1)), Ch::new(cluster.url(3)));
    let db = unique_db("c2x1");
    let t0 = Instant::now();
    let gws =
        vec![Gateway::start(cluster.url(1), &db, "sy_2x1").await, Gateway::start(cluster.url(3), &db, "sy_2x1").await];
    let load = Load::start(&gws);
    for (i, g) in gws.iter().enumerate() {
        let ships =
            eventually(Duration::from_secs(60), async || records_total(&g.metrics().await, "shipped") > 0).await;
        assert!(ships, "gateway {i} ships ({:.1} s)", t0.elapsed().as_secs_f64());
    }
    tokio::time::sleep(Duration::from_secs(8)).await;
    let (done, failed) = load.finish().await;
    let sent: HashSet<String> = done.iter().cloned().collect();
    assert_eq!(sent.len(), done.len(), "request ids are unique");
    let n = sent.len();
    let all_in = drained(&n3, &db, GROUP_TABLE, n, Duration::from_secs(60)).await;
    let local = format!("local_{GROUP_TABLE}");
    let (s1, s2) = (ids(&n1, &db, &local).await, ids(&n3, &db, &local).await);
    let via_dist = ids(&n1, &db, GROUP_TABLE).await;
    let via_merge = n3.scalar(&db, "SELECT uniqExact(request_id) FROM inferences").await;
    let analytics = experiment_requests(&gws[0]).await;
    let both = s1.intersection(&s2).count();
    let summary = format!(
        "answered 200: {n} (failed {failed}); shard 1 {} ids, shard 2 {} ids, on both {both}; Distributed {}; \
         `inferences` {via_merge}; control API {analytics}; test {:.1} s",
        s1.len(),
        s2.len(),
        via_dist.len(),
        t0.elapsed().as_secs_f64()
    );
    eprintln!("cluster 2x1: {summary}");
    if !all_in {
        for (i, g) in gws.iter().enumerate() {
            eprintln!("gateway {i} log tail:\n{}", g.log_tail(30));
        }
    }
    assert!(n > 200, "enough load: {summary}");
    assert!(all_in, "{summary}");
    assert_eq!(failed, 0, "{summary}");
    assert_eq!(both, 0, "a request lives on one shard: {summary}");
    assert!(!s1.is_empty() && !s2.is_empty(), "both shards take rows: {summary}");
    assert_eq!(s1.len() + s2.len(), n, "{summary}");
    assert_eq!(via_dist, sent, "{summary}");
    assert_eq!((via_merge, analytics), (n as u64, n as u64), "{summary}");
    futures_util::future::join_all(gws.into_iter().map(Gateway::stop)).await;
    let _ = n1.try_query("default", &format!("DROP DATABASE IF EXISTS `{db}` ON CLUSTER sy_2x1")).await;
}
