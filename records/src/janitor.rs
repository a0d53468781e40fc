//! Retention: drops whole daily partitions older than a group's `retention_days`.
//!
//! Partitions of `inferences_<group>` are `toYYYYMMDD(ts)` (UTC server time zone assumed
//! for the cut-off day); a partition is dropped when its day is strictly before
//! `today - retention_days`. The group's `explanations` rows go with them: that table is
//! partitioned by `(toYYYYMMDD(ts), group_name)`. Idempotent; a missing table is not an
//! error. On a cluster the same happens to the replicated local tables, `ON CLUSTER`.
//!
//! The shared tables ([`drop_expired_shared`], `retention:` in the config): `feedback`
//! loses whole days older than `feedback_days`; `explanations` whole (day, group)
//! partitions older than `explanations_days`, of every group (deleted ones too);
//! `control_audit` (partitioned by month) whole months whose last day is older than
//! `audit_days`.

use clickhouse::Client;

use crate::schema::{group_table, Cluster};
use crate::RecordsError;

/// Drops the expired partitions of `group`'s table; returns the dropped `YYYYMMDD` days.
pub async fn drop_expired_partitions(
    client: &Client,
    database: &str,
    group: &str,
    retention_days: u32,
    now_ms: i64,
) -> Result<Vec<u32>, RecordsError> {
    drop_expired_partitions_on(client, None, database, group, retention_days, now_ms).await
}

/// [`drop_expired_partitions`] for either layout. On a cluster the days are read through
/// the `Distributed` table (a shard may hold days another lacks) and each is dropped from
/// the replicated local tables `ON CLUSTER`.
pub async fn drop_expired_partitions_on(
    client: &Client,
    cluster: Option<Cluster<'_>>,
    database: &str,
    group: &str,
    retention_days: u32,
    now_ms: i64,
) -> Result<Vec<u32>, RecordsError> {
    let table = group_table(group);
    let cutoff = yyyymmdd(now_ms.div_euclid(86_400_000) - i64::from(retention_days));
    let days: Vec<u32> = match cluster {
        None => client
            .query("SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = ? AND active")
            .bind(database)
            .bind(table.as_str())
            .fetch_all::<String>()
            .await
            .map_err(|e| RecordsError::clickhouse("list partitions", e))?
            .iter()
            .filter_map(|p| p.trim_matches('\'').parse::<u32>().ok())
            .collect(),
        Some(_) => client
            .query(&format!("SELECT DISTINCT toYYYYMMDD(ts) FROM `{database}`.`{table}` WHERE ts < toDateTime(?)"))
            .bind(cutoff_seconds(cutoff))
            .fetch_all::<u32>()
            .await
            .map_err(|e| RecordsError::clickhouse("list partitions", e))?,
    };
    let mut dropped = Vec::new();
    for day in days.into_iter().filter(|day| *day < cutoff) {
        let sql = match cluster {
            None => format!("ALTER TABLE `{table}` DROP PARTITION {day}"),
            Some(c) => c.drop_partition(&table, &day.to_string()),
        };
        client.query(&sql).execute().await.map_err(|e| RecordsError::clickhouse("drop partition", e))?;
        tracing::info!(table = %table, partition = day, retention_days, "dropped expired partition");
        dropped.push(day);
    }
    drop_expired_explanations(client, cluster, database, group, cutoff).await?;
    dropped.sort_unstable();
    Ok(dropped)
}

/// Drops the `explanations` partitions `(day, group)` with `day < cutoff`.
async fn drop_expired_explanations(
    client: &Client,
    cluster: Option<Cluster<'_>>,
    database: &str,
    group: &str,
    cutoff: u32,
) -> Result<(), RecordsError> {
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Part {
        day: u32,
    }
    // The partition value is `(20240501,'group')`; the day is read from `min_date`-free
    // rows: the table's `ts` of the partition, so no tuple parsing is needed.
    let days: Vec<Part> = client
        .query(&format!(
            "SELECT DISTINCT toYYYYMMDD(ts) AS day FROM `{database}`.explanations \
             WHERE group_name = ? AND ts < toDateTime(?)"
        ))
        .bind(group)
        .bind(cutoff_seconds(cutoff))
        .fetch_all()
        .await
        .map_err(|e| RecordsError::clickhouse("list explanation partitions", e))?;
    for Part { day } in days {
        let sql = match cluster {
            None => format!("ALTER TABLE `{database}`.explanations DROP PARTITION ({day}, ?)"),
            Some(c) => c.drop_partition("explanations", &format!("({day}, ?)")),
        };
        client
            .query(&sql)
            .bind(group)
            .execute()
            .await
            .map_err(|e| RecordsError::clickhouse("drop explanation partition", e))?;
        tracing::info!(group, partition = day, "dropped expired explanations");
    }
    Ok(())
}

/// How long the shared tables keep rows, days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedRetention {
    /// `feedback`. Default 90.
    pub feedback_days: u32,
    /// `explanations` (every group). Default 30.
    pub explanations_days: u32,
    /// `control_audit`. Default 365.
    pub audit_days: u32,
    /// The dead-letter file (this process's). Default 30.
    pub dead_letter_days: u32,
}

impl Default for SharedRetention {
    fn default() -> Self {
        Self { feedback_days: 90, explanations_days: 30, audit_days: 365, dead_letter_days: 30 }
    }
}

/// Drops the expired partitions of `feedback`, `explanations` and `control_audit`; returns
/// how many partitions were dropped.
pub async fn drop_expired_shared(
    client: &Client,
    cluster: Option<Cluster<'_>>,
    database: &str,
    retention: &SharedRetention,
    now_ms: i64,
) -> Result<usize, RecordsError> {
    let today = now_ms.div_euclid(86_400_000);
    let cutoff = |days: u32| cutoff_seconds(yyyymmdd(today - i64::from(days)));
    let mut dropped = 0;
    // Whole days / months whose newest row is before the cut-off.
    for (table, partition, before_s) in [
        ("feedback", "toYYYYMMDD(ts)", cutoff(retention.feedback_days)),
        ("control_audit", "toYYYYMM(ts)", cutoff(retention.audit_days)),
    ] {
        let sql = format!(
            "SELECT {partition} AS p FROM `{database}`.{table} GROUP BY p HAVING max(ts) < toDateTime({before_s})"
        );
        let parts: Vec<u32> =
            client.query(&sql).fetch_all().await.map_err(|e| RecordsError::clickhouse("list expired partitions", e))?;
        for p in parts {
            let sql = match cluster {
                None => format!("ALTER TABLE `{database}`.{table} DROP PARTITION {p}"),
                Some(c) => c.drop_partition(table, &p.to_string()),
            };
            client.query(&sql).execute().await.map_err(|e| RecordsError::clickhouse("drop partition", e))?;
            tracing::info!(table, partition = p, "dropped expired partition");
            dropped += 1;
        }
    }
    dropped += drop_expired_explanations_of_all(client, cluster, database, cutoff(retention.explanations_days)).await?;
    Ok(dropped)
}

/// Drops the `explanations` partitions (day, group) of every group whose day is before
/// `before_s` (Unix seconds of a day's start).
async fn drop_expired_explanations_of_all(
    client: &Client,
    cluster: Option<Cluster<'_>>,
    database: &str,
    before_s: u32,
) -> Result<usize, RecordsError> {
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Part {
        day: u32,
        group_name: String,
    }
    let parts: Vec<Part> = client
        .query(&format!(
            "SELECT DISTINCT toYYYYMMDD(ts) AS day, group_name FROM `{database}`.explanations WHERE ts < toDateTime(?)"
        ))
        .bind(before_s)
        .fetch_all()
        .await
        .map_err(|e| RecordsError::clickhouse("list expired explanation partitions", e))?;
    for Part { day, group_name } in &parts {
        let sql = match cluster {
            None => format!("ALTER TABLE `{database}`.explanations DROP PARTITION ({day}, ?)"),
            Some(c) => c.drop_partition("explanations", &format!("({day}, ?)")),
        };
        client
            .query(&sql)
            .bind(group_name.as_str())
            .execute()
            .await
            .map_err(|e| RecordsError::clickhouse("drop explanation partition", e))?;
        tracing::info!(group = %group_name, partition = day, "dropped expired explanations");
    }
    Ok(parts.len())
}

/// Unix seconds of 00:00 UTC of the `YYYYMMDD` day `day`.
fn cutoff_seconds(day: u32) -> u32 {
    let (y, m, d) = (i64::from(day / 10_000), i64::from(day / 100 % 100), i64::from(day % 100));
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u32::try_from(days * 86_400).unwrap_or(0)
}

/// `YYYYMMDD` of a day number since 1970-01-01 (proleptic Gregorian, UTC).
pub fn yyyymmdd(days: i64) -> u32 {
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    u32::try_from(y * 10_000 + m * 100 + d).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(yyyymmdd(0), 19_700_101);
        assert_eq!(yyyymmdd(59), 19_700_301);
        assert_eq!(yyyymmdd(11_015), 20_000_228);
        assert_eq!(yyyymmdd(11_016), 20_000_229);
        assert_eq!(yyyymmdd(19_723), 20_240_101);
        for days in [0, 59, 11_015, 11_016, 19_723, 20_000] {
            assert_eq!(i64::from(cutoff_seconds(yyyymmdd(days))), days * 86_400);
        }
    }
}
