//! The `explanations` table's layout and the upgrade from its first layout (one set per
//! request) to the long one (SPEC §9). Same SQL subset as the rest of [`super`].

use clickhouse::Client;

use super::{create_replacing, exec, expand, TableSpec};
use crate::RecordsError;

/// `explanations`: one row per (request, source, method, instance, output, feature) —
/// SPEC §9; two methods (TrustyAI LIME and SHAP) of one output are two rows.
/// Partitioned by day and group so retention drops a group's days whole.
pub(super) const EXPLANATIONS: TableSpec = TableSpec {
    name: "explanations",
    columns: "
            request_id String, ts DateTime, timestamp_ms Int64, group_name String, member String,
            config_version UInt64, source String, method String, instance UInt32, output UInt32,
            output_name String, ordinal UInt32, feature String, value Float64,
            base_value Nullable(Float64), output_value Nullable(Float64),
            confidence Nullable(Float64), coverage Nullable(Float64),
            explainer_latency_us Nullable(UInt64)",
    keys: "PARTITION BY (toYYYYMMDD(ts), group_name) ORDER BY (request_id, source, method, instance, output, ordinal)",
    shard_by: "cityHash64(request_id)",
};

/// Copies the rows of the first `explanations` layout (one set per request, renamed to
/// `explanations_v1`) into the long layout: instance 0, output 0, source `inline`.
const COPY_EXPLANATIONS_V1: &str = "INSERT INTO {db}.explanations (request_id, ts, timestamp_ms, group_name,
            member, config_version, source, method, instance, output, output_name, ordinal, feature, value,
            base_value, output_value, confidence, coverage, explainer_latency_us)
        SELECT request_id, ts, timestamp_ms, group_name, member, toUInt64(0), 'inline', method, toUInt32(0),
            toUInt32(0), '', ordinal, feature, value, base_value, CAST(NULL AS Nullable(Float64)),
            CAST(NULL AS Nullable(Float64)), CAST(NULL AS Nullable(Float64)), CAST(NULL AS Nullable(UInt64))
        FROM {db}.explanations_v1";

/// Moves a first-layout `explanations` table (one set per request: no `instance`
/// column) to the long layout: rename it to `explanations_v1`, create the new table, copy
/// the rows, drop the old one. Idempotent at every step: a run cut short is completed by
/// the next (a repeated copy collapses in the ReplacingMergeTree).
pub(super) async fn upgrade_explanations(root: &Client, db: &str) -> Result<(), RecordsError> {
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Column {
        table: String,
        name: String,
    }
    let columns: Vec<Column> = root
        .query("SELECT table, name FROM system.columns WHERE database = ? AND table IN ('explanations', 'explanations_v1')")
        .bind(db)
        .fetch_all()
        .await
        .map_err(|e| RecordsError::clickhouse("read explanations columns", e))?;
    let has_table = |t: &str| columns.iter().any(|c| c.table == t);
    let old_layout =
        has_table("explanations") && !columns.iter().any(|c| c.table == "explanations" && c.name == "instance");
    if old_layout && !has_table("explanations_v1") {
        exec(root, &format!("RENAME TABLE `{db}`.explanations TO `{db}`.explanations_v1"), "rename explanations v1")
            .await?;
    } else if old_layout {
        // Both exist and `explanations` is old: an earlier run failed after its rename
        // and before the create; cannot happen with the order below, refuse to guess.
        return Err(RecordsError::InvalidOption {
            field: "records.clickhouse.database",
            message: "explanations and explanations_v1 both have the first layout; drop one by hand".into(),
        });
    }
    if old_layout || has_table("explanations_v1") {
        let create =
            create_replacing(&format!("`{db}`.{}", EXPLANATIONS.name), EXPLANATIONS.columns, EXPLANATIONS.keys);
        exec(root, &create, "create explanations").await?;
        exec(root, &expand(COPY_EXPLANATIONS_V1, db), "copy explanations v1").await?;
        exec(root, &format!("DROP TABLE IF EXISTS `{db}`.explanations_v1"), "drop explanations v1").await?;
        tracing::info!(database = %db, "explanations table moved to the long layout");
    }
    Ok(())
}
