//! Group tables (`inferences_<group>`, created when a group appears) and the columns
//! added to the inference tables since their first release, on either layout.
//!
//! Invariants: a column is added to a cluster's local tables, then the `Distributed`
//! table is re-created over them (18.16 cannot `ALTER` it `ON CLUSTER`); the `inferences` table (Merge, or Distributed over Merge) holds no data and is
//! rebuilt, never altered.

use clickhouse::Client;

use super::{
    add_column, create_group_table, exec, group_table, local_table, Cluster, Step, ADDED_INFERENCE_COLUMNS, GROUP_KEYS,
    GROUP_SHARD_BY, INFERENCE_COLUMNS,
};
use crate::RecordsError;

/// Brings every existing `inferences_<group>` table and the `inferences` table up to
/// [`INFERENCE_COLUMNS`] by adding [`ADDED_INFERENCE_COLUMNS`] where missing.
/// Idempotent; a no-op on a schema created by this version.
pub(super) async fn add_inference_columns(
    root: &Client,
    db: &str,
    cluster: Option<Cluster<'_>>,
) -> Result<(), RecordsError> {
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Column {
        table: String,
        name: String,
    }
    let columns: Vec<Column> = root
        .query(
            "SELECT table, name FROM system.columns \
             WHERE database = ? AND (table = 'inferences' OR startsWith(table, 'inferences_'))",
        )
        .bind(db)
        .fetch_all()
        .await
        .map_err(|e| RecordsError::clickhouse("read inference columns", e))?;
    let mut tables: Vec<&str> = columns.iter().map(|c| c.table.as_str()).collect();
    tables.sort_unstable();
    tables.dedup();
    let has = |table: &str, name: &str| columns.iter().any(|c| c.table == table && c.name == name);
    for table in tables.iter().filter(|t| **t != "inferences") {
        add_missing_columns(root, Some(db), table, cluster, |name| has(table, name)).await?;
    }
    let merge_stale =
        tables.contains(&"inferences") && ADDED_INFERENCE_COLUMNS.iter().any(|(name, _)| !has("inferences", name));
    if merge_stale {
        // A Merge (or Distributed-over-Merge) table holds no data: rebuilding it with the
        // new columns loses nothing.
        let (drop, create) = match cluster {
            None => (vec![format!("DROP TABLE IF EXISTS `{db}`.inferences")], Step::Inferences.statements(db, None)),
            Some(c) => (c.drop_inferences().to_vec(), c.create_inferences(INFERENCE_COLUMNS).to_vec()),
        };
        for sql in drop {
            exec(root, &sql, "drop stale inferences merge").await?;
        }
        for sql in create {
            exec(root, &sql, "recreate inferences merge").await?;
        }
    }
    Ok(())
}

/// Creates `inferences_<group>` if missing, or adds columns it lacks (a table created
/// by an older version when `migrate` was not run since); returns the table name.
/// One server: the table in `client`'s database.
pub async fn ensure_group_table(client: &Client, group: &str) -> Result<String, RecordsError> {
    ensure_group_table_on(client, None, group).await
}

/// [`ensure_group_table`] for either layout; on a cluster it creates the replicated and
/// the `Distributed` table `ON CLUSTER` when this server lacks either.
pub async fn ensure_group_table_on(
    client: &Client,
    cluster: Option<Cluster<'_>>,
    group: &str,
) -> Result<String, RecordsError> {
    let table = group_table(group);
    let present: Vec<String> = match cluster {
        None => {
            exec(client, &create_group_table(&format!("`{table}`")), "create group table").await?;
            client
                .query("SELECT name FROM system.columns WHERE database = currentDatabase() AND table = ?")
                .bind(&table)
                .fetch_all()
                .await
                .map_err(|e| RecordsError::clickhouse("read group table columns", e))?
        }
        Some(c) => {
            if !(c.has_table(client, &table).await? && c.has_table(client, &local_table(&table)).await?) {
                for sql in c.create_table(&table, INFERENCE_COLUMNS, GROUP_KEYS, GROUP_SHARD_BY) {
                    exec(client, &sql, "create group table on cluster").await?;
                }
            }
            client
                .query("SELECT name FROM system.columns WHERE database = ? AND table = ?")
                .bind(c.database)
                .bind(&table)
                .fetch_all()
                .await
                .map_err(|e| RecordsError::clickhouse("read group table columns", e))?
        }
    };
    let db = cluster.map(|c| c.database);
    add_missing_columns(client, db, &table, cluster, |name| present.iter().any(|p| p == name)).await?;
    Ok(table)
}

/// Adds each of [`ADDED_INFERENCE_COLUMNS`] that `has` says `table` (in `db`, or the
/// client's database) lacks; on a cluster to its local tables, then re-creates its
/// `Distributed` table with every column.
async fn add_missing_columns(
    client: &Client,
    db: Option<&str>,
    table: &str,
    cluster: Option<Cluster<'_>>,
    has: impl Fn(&str) -> bool,
) -> Result<(), RecordsError> {
    let mut added = false;
    for (name, ty) in ADDED_INFERENCE_COLUMNS.iter().filter(|(name, _)| !has(name)) {
        let sql = match cluster {
            None => {
                let target = db.map_or_else(|| format!("`{table}`"), |db| format!("`{db}`.`{table}`"));
                add_column(&target, name, ty)
            }
            Some(c) => c.add_column(table, name, ty),
        };
        exec(client, &sql, "add inference column").await?;
        tracing::info!(table, column = name, "column added");
        added = true;
    }
    if let Some(c) = cluster.filter(|_| added) {
        for sql in c.recreate_distributed(table, INFERENCE_COLUMNS, GROUP_KEYS, GROUP_SHARD_BY) {
            exec(client, &sql, "re-create distributed group table").await?;
        }
    }
    Ok(())
}
