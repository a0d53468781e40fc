//! The schema on a ClickHouse cluster (`records.clickhouse.cluster`, SPEC §7).
//!
//! Every data table `T` of the one-server layout becomes two tables, both created with
//! `ON CLUSTER` on every server of the cluster:
//! - `local_T`, a `ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/<db>/local_T',
//!   '{replica}')` with `T`'s columns, partitions and sorting key — the servers' `{shard}`
//!   and `{replica}` macros make the replicas of one shard share one ZooKeeper path, and
//!   the database and table in the path keep it stable and unique per table;
//! - `T` itself, a `Distributed(<cluster>, <db>, local_T, <sharding key>)` table: what the
//!   shipper inserts into and what analytics read, so neither needs to know the layout.
//!
//! The sharding key is `cityHash64` of the event's id (`request_id`, `audit_id`), so every
//! copy of a row lands on the same shard and the `ReplacingMergeTree` there (and
//! `uniqExact(request_id)` / `GROUP BY request_id` in reads) collapses replays; a batch
//! re-inserted unchanged is also dropped by the replicated tables' block deduplication.
//! Clients of a clustered database insert with `insert_distributed_sync = 1` (a setting
//! ClickHouse 18.16 has, and current releases still accept as an alias of
//! `distributed_foreground_insert`): an insert is acknowledged only after every shard's
//! part is written on one of its replicas, so the spool only acks what is durable.
//!
//! `inferences` (all groups) is `Distributed(<cluster>, <db>, local_inferences)` over a
//! per-server `Merge` table `local_inferences` of the `^local_inferences_` tables, rather
//! than a `Merge` over the `Distributed` group tables: a read then sends one query per
//! shard whatever the number of groups, and each shard aggregates over its own tables. (A
//! `Merge` over one-shard `Distributed` tables also answered `count()`, `uniqExact` and
//! `GROUP BY request_id` correctly on 18.16 when tried, but costs a remote query per group
//! table and shard.)
//!
//! Invariants:
//! - names: `local_` + the one-server name; `local_inferences_*` never matches the
//!   `^inferences_` pattern and group names are escaped ([`super::group_table`]), so the
//!   two families never mix;
//! - DDL runs `ON CLUSTER` only for what this server lacks: a distributed DDL waits for
//!   every server (`distributed_ddl_task_timeout`, 180 s), so a gateway that restarts
//!   while a replica is down must not need one to start shipping;
//! - a database first created without a cluster is refused, not silently mixed.

use clickhouse::Client;

use crate::{ClickHouseOptions, RecordsError};

/// Prefix of the replicated per-server tables.
pub const LOCAL_PREFIX: &str = "local_";

/// A database spread over a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cluster<'a> {
    /// The cluster's name in the servers' `remote_servers`.
    pub name: &'a str,
    /// The database.
    pub database: &'a str,
}

// === impl Cluster ===

impl<'a> Cluster<'a> {
    /// The cluster of `opts`, if any.
    pub fn of(opts: &'a ClickHouseOptions) -> Option<Self> {
        opts.cluster.as_deref().map(|name| Self { name, database: &opts.database })
    }

    /// `CREATE DATABASE … ON CLUSTER`.
    pub(super) fn create_database(&self) -> String {
        format!("CREATE DATABASE IF NOT EXISTS `{}` ON CLUSTER `{}`", self.database, self.name)
    }

    /// `schema_migrations` on every server (each server's record of what ran through it;
    /// the statements themselves are idempotent).
    pub(super) fn create_schema_migrations(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS `{}`.schema_migrations ON CLUSTER `{}` (
            version UInt32, name String, applied_at DateTime
        ) ENGINE = ReplacingMergeTree() ORDER BY version",
            self.database, self.name
        )
    }

    /// The replicated local table and the `Distributed` table of the data table `name`.
    pub(super) fn create_table(&self, name: &str, columns: &str, keys: &str, shard_by: &str) -> [String; 2] {
        let (db, cluster, local) = (self.database, self.name, local_table(name));
        [
            format!(
                "CREATE TABLE IF NOT EXISTS `{db}`.`{local}` ON CLUSTER `{cluster}` ({columns}
        ) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{{shard}}/{db}/{local}', '{{replica}}') {keys}"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS `{db}`.`{name}` ON CLUSTER `{cluster}` ({columns}
        ) ENGINE = Distributed('{cluster}', '{db}', '{local}', {shard_by})"
            ),
        ]
    }

    /// `local_inferences` (Merge over this server's group tables) and `inferences`
    /// (Distributed over it); see the module docs.
    pub(super) fn create_inferences(&self, columns: &str) -> [String; 2] {
        let (db, cluster) = (self.database, self.name);
        [
            format!(
                "CREATE TABLE IF NOT EXISTS `{db}`.local_inferences ON CLUSTER `{cluster}` ({columns}
        ) ENGINE = Merge('{db}', '^local_inferences_')"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS `{db}`.inferences ON CLUSTER `{cluster}` ({columns}
        ) ENGINE = Distributed('{cluster}', '{db}', 'local_inferences')"
            ),
        ]
    }

    /// Drops `inferences` and `local_inferences` (they hold no data) so that
    /// [`Cluster::create_inferences`] can rebuild them with new columns.
    pub(super) fn drop_inferences(&self) -> [String; 2] {
        let (db, cluster) = (self.database, self.name);
        [
            format!("DROP TABLE IF EXISTS `{db}`.inferences ON CLUSTER `{cluster}`"),
            format!("DROP TABLE IF EXISTS `{db}`.local_inferences ON CLUSTER `{cluster}`"),
        ]
    }

    /// Adds a column to the replicated local table behind the data table `name`.
    /// 18.16 refuses `ALTER … ON CLUSTER` of a `Distributed` table on a cluster whose
    /// shards use internal replication ("isn't replicated, but shard #1 is replicated");
    /// [`Cluster::recreate_distributed`] brings that table up to date instead.
    pub(super) fn add_column(&self, name: &str, column: &str, ty: &str) -> String {
        let (db, cluster, local) = (self.database, self.name, local_table(name));
        format!("ALTER TABLE `{db}`.`{local}` ON CLUSTER `{cluster}` ADD COLUMN {column} {ty}")
    }

    /// Drops and creates the `Distributed` table `name` with `columns` (it holds no data:
    /// inserts are synchronous). An insert in between fails as a missing table and is
    /// retried after the shipper re-creates it.
    pub(super) fn recreate_distributed(&self, name: &str, columns: &str, keys: &str, shard_by: &str) -> [String; 2] {
        let [_, create] = self.create_table(name, columns, keys, shard_by);
        [format!("DROP TABLE IF EXISTS `{}`.`{name}` ON CLUSTER `{}`", self.database, self.name), create]
    }

    /// Drops partition `partition` (an SQL literal) of the data table `name` on every
    /// shard.
    pub fn drop_partition(&self, name: &str, partition: &str) -> String {
        format!(
            "ALTER TABLE `{}`.`{}` ON CLUSTER `{}` DROP PARTITION {partition}",
            self.database,
            local_table(name),
            self.name
        )
    }

    /// Whether this server has table `name` in the database.
    pub(super) async fn has_table(&self, client: &Client, name: &str) -> Result<bool, RecordsError> {
        has_table(client, self.database, name).await
    }

    /// Whether this server has the database.
    pub(super) async fn has_database(&self, client: &Client) -> Result<bool, RecordsError> {
        let n: u64 = client
            .query("SELECT count() FROM system.databases WHERE name = ?")
            .bind(self.database)
            .fetch_one()
            .await
            .map_err(|e| RecordsError::clickhouse("read databases", e))?;
        Ok(n > 0)
    }

    /// Refuses a database whose shared tables are not `Distributed` (it was created for
    /// one server): writing around them would split the data.
    pub(super) async fn check_layout(&self, client: &Client) -> Result<(), RecordsError> {
        #[derive(clickhouse::Row, serde::Deserialize)]
        struct Table {
            name: String,
            engine: String,
        }
        let tables: Vec<Table> = client
            .query(
                "SELECT name, engine FROM system.tables WHERE database = ? \
                 AND (name IN ('inferences', 'feedback', 'explanations', 'control_audit') \
                 OR startsWith(name, 'inferences_'))",
            )
            .bind(self.database)
            .fetch_all()
            .await
            .map_err(|e| RecordsError::clickhouse("read table engines", e))?;
        match tables.iter().find(|t| t.engine != "Distributed") {
            None => Ok(()),
            Some(t) => Err(RecordsError::InvalidOption {
                field: "records.clickhouse.cluster",
                message: format!(
                    "database {} was created for one server ({} is {}, not Distributed); use a new database \
                     for the cluster",
                    self.database, t.name, t.engine
                ),
            }),
        }
    }
}

/// The replicated per-server table behind the data table `name`.
pub fn local_table(name: &str) -> String {
    format!("{LOCAL_PREFIX}{name}")
}

/// Whether table `name` exists in `database` on the server `client` talks to.
pub(super) async fn has_table(client: &Client, database: &str, name: &str) -> Result<bool, RecordsError> {
    let n: u64 = client
        .query("SELECT count() FROM system.tables WHERE database = ? AND name = ?")
        .bind(database)
        .bind(name)
        .fetch_one()
        .await
        .map_err(|e| RecordsError::clickhouse("read tables", e))?;
    Ok(n > 0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_replicated_per_shard_and_distributed_by_key() {
        let c = Cluster { name: "sy_1x2", database: "sy" };
        let [local, dist] =
            c.create_table("inferences_g", "request_id String", "ORDER BY request_id", "cityHash64(request_id)");
        assert!(local.starts_with("CREATE TABLE IF NOT EXISTS `sy`.`local_inferences_g` ON CLUSTER `sy_1x2` ("));
        assert!(local.contains(
            "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/sy/local_inferences_g', '{replica}') ORDER BY"
        ));
        assert!(dist.ends_with("ENGINE = Distributed('sy_1x2', 'sy', 'local_inferences_g', cityHash64(request_id))"));
        let [merge, all] = c.create_inferences("request_id String");
        assert!(merge.ends_with("Merge('sy', '^local_inferences_')"));
        assert!(all.ends_with("Distributed('sy_1x2', 'sy', 'local_inferences')"));
        assert_eq!(
            c.drop_partition("inferences_g", "20250101"),
            "ALTER TABLE `sy`.`local_inferences_g` ON CLUSTER `sy_1x2` DROP PARTITION 20250101"
        );
    }
}
