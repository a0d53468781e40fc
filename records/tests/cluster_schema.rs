//! The schema on a real ClickHouse 18.16 cluster (`scripts/clickhouse-cluster.sh`,
//! `sy_2x1`: nodes 1 and 3, one shard each): `migrate` creates replicated local tables and
//! `Distributed` tables of the usual names on every server and is a no-op the second time;
//! a group table of an older shape is brought up to date on both shards (local tables
//! altered, the `Distributed` table re-created); the janitor drops an expired day on every
//! shard; a database created for one server is refused.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::*;
use switchyard_records::schema::{self, local_table, Cluster};
use switchyard_records::{drop_expired_partitions_on, migrate, ClickHouseOptions};
use switchyard_testkit::clickhouse::{Ch, ClickHouseCluster};

const CLUSTER: &str = "sy_2x1";

fn cluster_opts(url: &str, db: &str) -> ClickHouseOptions {
    ClickHouseOptions { cluster: Some(CLUSTER.into()), ..ch_opts(url, db) }
}

#[tokio::test]
async fn migrate_upgrade_and_retention_run_on_every_shard() {
    let nodes = ClickHouseCluster::from_env();
    let (n1, n3) = (Ch::new(nodes.url(1)), Ch::new(nodes.url(3)));
    let db = unique_db("clschema");
    let opts = cluster_opts(nodes.url(1), &db);

    let first = migrate(&opts).await.unwrap();
    assert_eq!(first.applied, vec![1, 2, 3, 4]);
    assert!(migrate(&opts).await.unwrap().applied.is_empty(), "a second run is a no-op");
    let client = schema::client(&opts);
    let cluster = Cluster::of(&opts);
    let table = schema::ensure_group_table_on(&client, cluster, "demo").await.unwrap();
    let engines = "SELECT name, engine FROM system.tables WHERE database = currentDatabase() \
                   AND name != 'schema_migrations' ORDER BY name";
    let expected = [
        ["control_audit", "Distributed"],
        ["explanations", "Distributed"],
        ["feedback", "Distributed"],
        ["inferences", "Distributed"],
        ["inferences_demo", "Distributed"],
        ["local_control_audit", "ReplicatedReplacingMergeTree"],
        ["local_explanations", "ReplicatedReplacingMergeTree"],
        ["local_feedback", "ReplicatedReplacingMergeTree"],
        ["local_inferences", "Merge"],
        ["local_inferences_demo", "ReplicatedReplacingMergeTree"],
    ];
    for ch in [&n1, &n3] {
        let rows = ch.rows(&db, engines).await;
        let got: Vec<[&str; 2]> = rows.iter().map(|r| [r[0].as_str(), r[1].as_str()]).collect();
        assert_eq!(got, expected, "tables on {}", ch.url);
    }

    // An older shape: `trace_id` missing on the shards and in the Distributed table.
    let local = local_table(&table);
    n1.query("default", &format!("ALTER TABLE `{db}`.`{local}` ON CLUSTER {CLUSTER} DROP COLUMN trace_id")).await;
    n1.query("default", &format!("DROP TABLE `{db}`.`{table}` ON CLUSTER {CLUSTER}")).await;
    n1.query(
        "default",
        &format!(
            "CREATE TABLE `{db}`.`{table}` ON CLUSTER {CLUSTER} AS `{db}`.`{local}` \
             ENGINE = Distributed('{CLUSTER}', '{db}', '{local}', cityHash64(request_id))"
        ),
    )
    .await;
    let has_trace = format!(
        "SELECT count() FROM system.columns WHERE database = currentDatabase() AND name = 'trace_id' \
         AND table IN ('{table}', '{local}')"
    );
    assert_eq!(n3.scalar(&db, &has_trace).await, 0);
    // The shipper's path (a fresh process: the table is not known to be ready).
    schema::ensure_group_table_on(&client, cluster, "demo").await.unwrap();
    for ch in [&n1, &n3] {
        assert_eq!(ch.scalar(&db, &has_trace).await, 2, "local and Distributed table upgraded on {}", ch.url);
    }

    // Rows on both shards, one expired day; the janitor drops it everywhere.
    let now = now_ms();
    let old_ms = now - 40 * 86_400_000;
    let mut values = Vec::new();
    for i in 0..40 {
        let ts = (if i % 2 == 0 { old_ms } else { now }) / 1000;
        values.push(format!("('r{i}', {ts}, {}, 'demo')", ts * 1000));
    }
    // Through the Distributed table, synchronously (the client's setting on a cluster).
    client
        .query(&format!(
            "INSERT INTO `{table}` (request_id, ts, timestamp_ms, group_name) VALUES {}",
            values.join(", ")
        ))
        .execute()
        .await
        .unwrap();
    let count = format!("SELECT count() FROM `{table}`");
    assert_eq!(n3.scalar(&db, &count).await, 40);
    let per_shard = format!("SELECT count() FROM `{local}`");
    let (s1, s3) = (n1.scalar(&db, &per_shard).await, n3.scalar(&db, &per_shard).await);
    assert!(s1 > 0 && s3 > 0 && s1 + s3 == 40, "rows spread over both shards: {s1} + {s3}");
    let dropped = drop_expired_partitions_on(&client, cluster, &db, "demo", 30, now).await.unwrap();
    assert_eq!(dropped.len(), 1, "the expired day: {dropped:?}");
    assert_eq!(n3.scalar(&db, &count).await, 20, "the expired day is gone from both shards");

    // A database of the one-server layout is refused with a cluster.
    let single = unique_db("clsingle");
    migrate(&ch_opts(nodes.url(1), &single)).await.unwrap();
    let err = migrate(&cluster_opts(nodes.url(1), &single)).await.unwrap_err();
    assert!(err.to_string().contains("was created for one server"), "{err}");
    assert!(!err.is_retryable());

    n1.drop_db(&single).await;
    let _ = n1.try_query("default", &format!("DROP DATABASE IF EXISTS `{db}` ON CLUSTER {CLUSTER}")).await;
}
