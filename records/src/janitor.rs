//! Retention: drops whole daily partitions older than a group's `retention_days`.
//!
//! Partitions of `inferences_<group>` are `toYYYYMMDD(ts)` (UTC server time zone assumed
//! for the cut-off day); a partition is dropped when its day is strictly before
//! `today - retention_days`. Idempotent; a missing table is not an error.

use clickhouse::Client;

use crate::schema::group_table;
use crate::RecordsError;

/// Drops the expired partitions of `group`'s table; returns the dropped `YYYYMMDD` days.
pub async fn drop_expired_partitions(
    client: &Client,
    database: &str,
    group: &str,
    retention_days: u32,
    now_ms: i64,
) -> Result<Vec<u32>, RecordsError> {
    let table = group_table(group);
    let cutoff = yyyymmdd(now_ms.div_euclid(86_400_000) - i64::from(retention_days));
    let partitions: Vec<String> = client
        .query("SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = ? AND active")
        .bind(database)
        .bind(table.as_str())
        .fetch_all::<String>()
        .await
        .map_err(|e| RecordsError::clickhouse("list partitions", e))?;
    let mut dropped = Vec::new();
    for p in partitions {
        let Ok(day) = p.trim_matches('\'').parse::<u32>() else {
            continue;
        };
        if day >= cutoff {
            continue;
        }
        client
            .query(&format!("ALTER TABLE `{table}` DROP PARTITION {day}"))
            .execute()
            .await
            .map_err(|e| RecordsError::clickhouse("drop partition", e))?;
        tracing::info!(table = %table, partition = day, retention_days, "dropped expired partition");
        dropped.push(day);
    }
    dropped.sort_unstable();
    Ok(dropped)
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
    }
}
