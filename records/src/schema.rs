//! The ClickHouse schema: table names, DDL and idempotent migrations (SPEC §6).
//!
//! Every statement is in the SQL subset both ClickHouse 18.16 and current releases accept:
//! new-style `ENGINE = ReplacingMergeTree() PARTITION BY … ORDER BY …`, plain types
//! (`String`, `UInt*`, `Int64`, `Float64`, `Decimal(38, 12)`, `DateTime`, `Nullable`,
//! `Array`), no TTL, codecs,
//! Map, DateTime64 or server-side parameters.
//!
//! Invariants:
//! - every data table is a `ReplacingMergeTree` whose sorting key identifies one event
//!   (`(ts, request_id)` for inferences), so a row inserted twice (spool replay, retried
//!   batch) collapses into one; analytics count with `uniqExact(request_id)` or `FINAL`,
//!   which also hides duplicates not yet merged;
//! - group table names are an injective escaping of the group name ([`group_table`]), so
//!   two groups never share a table;
//! - migrations are `IF NOT EXISTS` statements recorded in `schema_migrations` after they
//!   succeed: a second run is a no-op and a partly applied run completes;
//! - with `records.clickhouse.cluster` every data table is a replicated local table plus a
//!   `Distributed` table of the same name as here ([`cluster`]), so writers and readers
//!   use the same names on either layout.

use clickhouse::Client;

use crate::{ClickHouseOptions, RecordsError};

pub mod cluster;
mod explanations;
mod group;
mod names;

pub use cluster::{local_table, Cluster};
use explanations::{upgrade_explanations, EXPLANATIONS};
use group::add_inference_columns;
pub use group::{ensure_group_table, ensure_group_table_on};
pub use names::{group_table, validate_database, MAX_TABLE_NAME};

/// Columns of every `inferences_<group>` table and of the `inferences` Merge table.
/// Order matches [`crate::rows::InferenceRow`]; columns added later go last (where
/// `ALTER TABLE … ADD COLUMN` puts them).
const INFERENCE_COLUMNS: &str = "
    request_id String,
    ts DateTime,
    timestamp_ms Int64,
    tenant String,
    client String,
    group_name String,
    member String,
    role String,
    provider String,
    provider_kind String,
    upstream_model String,
    assignment String,
    sticky_key_hash UInt64,
    weight Float64,
    config_version UInt64,
    endpoint String,
    stream UInt8,
    status UInt16,
    error_class String,
    total_us UInt64,
    upstream_us UInt64,
    overhead_us UInt64,
    ttft_us Nullable(UInt64),
    input_tokens Nullable(UInt32),
    output_tokens Nullable(UInt32),
    request_body Nullable(String),
    response_body Nullable(String),
    attribution_method String,
    attribution_base_value Nullable(Float64),
    attribution_names Array(String),
    attribution_values Array(Float64),
    client_request_id String,
    logprob_tokens Nullable(UInt32),
    logprob_mean Nullable(Float64),
    logprob_min Nullable(Float64),
    perplexity Nullable(Float64),
    trace_id String,
    cost Nullable(Decimal(38, 12)),
    currency String";

/// Columns added to the inference tables after they were first created:
/// `(name, type)`. [`migrate`] adds a missing one to every existing
/// `inferences_<group>` table (ClickHouse 18.16 has no `ADD COLUMN IF NOT EXISTS`) and
/// rebuilds the `inferences` Merge table over them.
const ADDED_INFERENCE_COLUMNS: &[(&str, &str)] = &[
    ("client_request_id", "String"),
    ("logprob_tokens", "Nullable(UInt32)"),
    ("logprob_mean", "Nullable(Float64)"),
    ("logprob_min", "Nullable(Float64)"),
    ("perplexity", "Nullable(Float64)"),
    ("trace_id", "String"),
    ("cost", "Nullable(Decimal(38, 12))"),
    ("currency", "String"),
];

/// A data table: its name, columns, `PARTITION BY … ORDER BY …` and, on a cluster, the
/// `Distributed` sharding key (the event's id, so replays land on one shard).
#[derive(Debug)]
struct TableSpec {
    name: &'static str,
    columns: &'static str,
    keys: &'static str,
    shard_by: &'static str,
}

/// What one migration creates.
#[derive(Debug)]
enum Step {
    Table(TableSpec),
    /// The `inferences` table over every group table.
    Inferences,
}

/// One schema migration.
#[derive(Debug)]
struct Migration {
    version: u32,
    name: &'static str,
    steps: &'static [Step],
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "feedback",
        steps: &[Step::Table(TableSpec {
            name: "feedback",
            columns: "
            feedback_id String, request_id String, ts DateTime, timestamp_ms Int64,
            metric String, value Float64, tenant String, client String",
            keys: "PARTITION BY toYYYYMMDD(ts) ORDER BY (request_id, metric, feedback_id)",
            shard_by: "cityHash64(request_id)",
        })],
    },
    Migration {
        version: 2,
        name: "explanations",
        // The long layout since issue 14; a database that has the first layout is
        // upgraded by `upgrade_explanations`.
        steps: &[Step::Table(EXPLANATIONS)],
    },
    Migration {
        version: 3,
        name: "control_audit",
        steps: &[Step::Table(TableSpec {
            name: "control_audit",
            columns: "
            audit_id String, ts DateTime, timestamp_ms Int64, actor String, action String,
            target String, before_json String, after_json String, config_version UInt64,
            reason String",
            keys: "PARTITION BY toYYYYMM(ts) ORDER BY (ts, audit_id)",
            shard_by: "cityHash64(audit_id)",
        })],
    },
    Migration { version: 4, name: "inferences_merge", steps: &[Step::Inferences] },
];

/// Sorting and partitioning of every `inferences_<group>` table.
const GROUP_KEYS: &str = "PARTITION BY toYYYYMMDD(ts) ORDER BY (ts, request_id)";

/// The `Distributed` sharding key of every `inferences_<group>` table on a cluster.
const GROUP_SHARD_BY: &str = "cityHash64(request_id)";

// === impl Step ===

impl Step {
    /// The statements of this step for database `db` (on `cluster`, if any).
    fn statements(&self, db: &str, cluster: Option<Cluster<'_>>) -> Vec<String> {
        match (self, cluster) {
            (Self::Table(t), None) => vec![create_replacing(&format!("`{db}`.{}", t.name), t.columns, t.keys)],
            (Self::Table(t), Some(c)) => c.create_table(t.name, t.columns, t.keys, t.shard_by).to_vec(),
            (Self::Inferences, None) => vec![format!(
                "CREATE TABLE IF NOT EXISTS `{db}`.inferences ({INFERENCE_COLUMNS})
            ENGINE = Merge('{db}', '^inferences_')"
            )],
            (Self::Inferences, Some(c)) => c.create_inferences(INFERENCE_COLUMNS).to_vec(),
        }
    }
}

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// The server's `version()`.
    pub server_version: String,
    /// Migration versions applied by this run (empty on a second run).
    pub applied: Vec<u32>,
}

/// A client for `opts` (RowBinary without schema validation: 18.16 lacks
/// `RowBinaryWithNamesAndTypes`), bound to `opts.database`. On a cluster its inserts into
/// `Distributed` tables are synchronous (`insert_distributed_sync = 1`): acknowledged once
/// every shard's rows are written on a replica, never merely queued on the server the
/// client talks to.
pub fn client(opts: &ClickHouseOptions) -> Client {
    let mut c = Client::default()
        .with_url(&opts.url)
        .with_user(&opts.user)
        .with_validation(false)
        .with_database(&opts.database);
    if let Some(p) = &opts.password {
        c = c.with_password(p);
    }
    if opts.cluster.is_some() {
        c = c.with_setting("insert_distributed_sync", "1");
    }
    c
}

/// Creates the database and brings the schema to the newest version. Idempotent.
pub async fn migrate(opts: &ClickHouseOptions) -> Result<MigrationReport, RecordsError> {
    validate_database(&opts.database)?;
    let db = &opts.database;
    let cluster = Cluster::of(opts);
    // Without a database: it may not exist yet.
    let root = client(opts).with_database("default");
    let server_version = root.query("SELECT version()").fetch_one::<String>().await.map_err(|source| {
        RecordsError::ClickHouseAt { url: opts.url.clone(), op: "connect (SELECT version())", source }
    })?;
    match cluster {
        None => {
            exec(&root, &create_database(db), "create database").await?;
            exec(&root, &create_schema_migrations(db), "create schema_migrations").await?;
        }
        Some(c) => {
            c.check_layout(&root).await?;
            if !c.has_database(&root).await? {
                exec(&root, &c.create_database(), "create database on cluster").await?;
            }
            if !c.has_table(&root, "schema_migrations").await? {
                exec(&root, &c.create_schema_migrations(), "create schema_migrations on cluster").await?;
            }
        }
    }
    let done: Vec<u32> = root
        .query(&format!("SELECT DISTINCT version FROM `{db}`.schema_migrations"))
        .fetch_all::<u32>()
        .await
        .map_err(|e| RecordsError::clickhouse("read schema_migrations", e))?;
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
        for statement in m.steps.iter().flat_map(|s| s.statements(db, cluster)) {
            exec(&root, &statement, m.name).await?;
        }
        root.query(&format!("INSERT INTO `{db}`.schema_migrations (version, name, applied_at) VALUES (?, ?, now())"))
            .bind(m.version)
            .bind(m.name)
            .execute()
            .await
            .map_err(|e| RecordsError::clickhouse("record migration", e))?;
        tracing::info!(database = %db, version = m.version, name = m.name, cluster = ?opts.cluster, "schema migration applied");
        applied.push(m.version);
    }
    add_inference_columns(&root, db, cluster).await?;
    // A clustered database is created with the long layout: nothing to upgrade.
    if cluster.is_none() {
        upgrade_explanations(&root, db).await?;
        // A clustered database is newer than the `reason` column.
        add_audit_reason(&root, db).await?;
    }
    Ok(MigrationReport { server_version, applied })
}

/// `control_audit.reason` (why a change was made: an auto-promotion's evidence, a
/// rollback's credentials) came after the table; added where missing. Idempotent.
async fn add_audit_reason(root: &Client, db: &str) -> Result<(), RecordsError> {
    let present: u64 = root
        .query(
            "SELECT count() FROM system.columns \
             WHERE database = ? AND table = 'control_audit' AND name = 'reason'",
        )
        .bind(db)
        .fetch_one()
        .await
        .map_err(|e| RecordsError::clickhouse("read control_audit columns", e))?;
    if present == 0 {
        exec(root, &format!("ALTER TABLE `{db}`.control_audit ADD COLUMN reason String"), "add control_audit.reason")
            .await?;
    }
    Ok(())
}

/// Every DDL statement [`migrate`] and the shipper run for `database` and `groups`, in
/// order, with fully qualified table names — for compatibility tests against other
/// ClickHouse versions (`records/tests/sql_compat.rs`). `database` must pass
/// [`validate_database`].
pub fn ddl_statements(database: &str, groups: &[&str]) -> Vec<String> {
    let mut out = vec![create_database(database), create_schema_migrations(database)];
    for m in MIGRATIONS {
        out.extend(m.steps.iter().flat_map(|s| s.statements(database, None)));
    }
    for g in groups {
        out.push(create_group_table(&format!("`{database}`.`{}`", group_table(g))));
    }
    out
}

/// [`ddl_statements`] on `cluster`.
pub fn cluster_ddl_statements(cluster: Cluster<'_>, groups: &[&str]) -> Vec<String> {
    let mut out = vec![cluster.create_database(), cluster.create_schema_migrations()];
    for m in MIGRATIONS {
        out.extend(m.steps.iter().flat_map(|s| s.statements(cluster.database, Some(cluster))));
    }
    for g in groups {
        out.extend(cluster.create_table(&group_table(g), INFERENCE_COLUMNS, GROUP_KEYS, GROUP_SHARD_BY));
    }
    out
}

/// The statements that bring an inference table of the first released shape (`table`,
/// quoted, maybe qualified) up to [`INFERENCE_COLUMNS`] — what [`migrate`] and the shipper
/// run for each missing column; for compatibility tests.
pub fn upgrade_statements(table: &str) -> Vec<String> {
    ADDED_INFERENCE_COLUMNS.iter().map(|(name, ty)| add_column(table, name, ty)).collect()
}

fn add_column(table: &str, name: &str, ty: &str) -> String {
    format!("ALTER TABLE {table} ADD COLUMN {name} {ty}")
}

fn create_database(db: &str) -> String {
    format!("CREATE DATABASE IF NOT EXISTS `{db}`")
}

fn create_schema_migrations(db: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS `{db}`.schema_migrations (
            version UInt32, name String, applied_at DateTime
        ) ENGINE = ReplacingMergeTree() ORDER BY version"
    )
}

/// A statement template for database `db` (`{db}` → the quoted name).
pub(crate) fn expand(statement: &str, db: &str) -> String {
    statement.replace("{db}", &format!("`{db}`"))
}

/// `CREATE TABLE IF NOT EXISTS` of a one-server `ReplacingMergeTree` named `table`
/// (already quoted, maybe qualified).
fn create_replacing(table: &str, columns: &str, keys: &str) -> String {
    format!("CREATE TABLE IF NOT EXISTS {table} ({columns}\n        ) ENGINE = ReplacingMergeTree() {keys}")
}

/// `CREATE TABLE` of a group table named `table` (already quoted, maybe qualified).
fn create_group_table(table: &str) -> String {
    create_replacing(table, INFERENCE_COLUMNS, GROUP_KEYS)
}

pub(crate) async fn exec(client: &Client, sql: &str, op: &'static str) -> Result<(), RecordsError> {
    client.query(sql).execute().await.map_err(|e| RecordsError::clickhouse(op, e))
}
