//! A group's latency and error series (the console's group page, SPEC §12): per time
//! bucket and member, the requests, the member's errors (the experiment's definition,
//! [`super::ERROR_SQL`]) and latency p50 / p95. Every request counts once (rows are first
//! collapsed by `request_id`); pinned requests count too (this is what the group served,
//! not the experiment). Buckets without a request are left out.

use clickhouse::Client;
use serde::{Deserialize, Serialize};
use switchyard_records::rows::seconds;
use utoipa::ToSchema;

use super::{checked_database, table_exists, AnalyticsError, ERROR_SQL};

/// The most buckets one series may have.
pub const MAX_BUCKETS: i64 = 1_000;

/// `GET /api/v1/groups/{group}/series`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesReport {
    /// The group.
    pub group: String,
    /// The window's start, Unix ms (inclusive).
    pub since_ms: i64,
    /// The window's end, Unix ms (exclusive).
    pub until_ms: i64,
    /// The bucket width, ms; a bucket starts at a multiple of it.
    pub step_ms: i64,
    /// One series per member that served a request in the window, by name.
    pub members: Vec<MemberSeries>,
}

/// One member's buckets.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberSeries {
    /// The member.
    pub member: String,
    /// Oldest first; only buckets with requests.
    pub points: Vec<SeriesPoint>,
}

/// One bucket of one member.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesPoint {
    /// The bucket's start, Unix ms.
    pub t_ms: i64,
    /// Requests.
    pub requests: u64,
    /// Requests that failed through the member's fault.
    pub errors: u64,
    /// Median total latency, µs.
    pub p50_us: f64,
    /// 95th percentile of total latency, µs.
    pub p95_us: f64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Row {
    t: i64,
    member: String,
    requests: u64,
    errors: u64,
    q: Vec<f64>,
}

/// The query of `table` over `[since_ms, until_ms)` in buckets of `step_ms` (all integers
/// inlined; `db` and `table` already validated).
pub fn series_sql(db: &str, table: &str, (since_ms, until_ms): (i64, i64), step_ms: i64) -> String {
    format!(
        "SELECT toInt64(intDiv(ms, {step_ms}) * {step_ms}) AS t, mem, toUInt64(count()), toUInt64(sum(err)), \
         quantilesExact(0.5, 0.95)(toFloat64(tot)) \
         FROM (SELECT request_id, any(member) AS mem, max({ERROR_SQL}) AS err, any(total_us) AS tot, \
               any(timestamp_ms) AS ms \
               FROM `{db}`.`{table}` \
               WHERE ts >= toDateTime({since_s}) AND ts <= toDateTime({until_s}) \
               AND timestamp_ms >= {since_ms} AND timestamp_ms < {until_ms} \
               GROUP BY request_id) \
         GROUP BY t, mem ORDER BY mem, t",
        since_s = seconds(since_ms),
        until_s = seconds(until_ms),
    )
}

/// The series of `group` over `[since_ms, until_ms)` in buckets of `step_ms`.
pub async fn series(
    client: &Client,
    database: &str,
    group: &str,
    (since_ms, until_ms): (i64, i64),
    step_ms: i64,
) -> Result<SeriesReport, AnalyticsError> {
    let db = checked_database(database)?;
    let table = switchyard_records::group_table(group);
    let mut report = SeriesReport { group: group.to_owned(), since_ms, until_ms, step_ms, members: Vec::new() };
    if !table_exists(client, db, &table).await? {
        return Ok(report);
    }
    let rows: Vec<Row> = client
        .query(&series_sql(db, &table, (since_ms, until_ms), step_ms))
        .fetch_all()
        .await
        .map_err(|e| AnalyticsError::clickhouse("latency and error series", e))?;
    for r in rows {
        let point = SeriesPoint {
            t_ms: r.t,
            requests: r.requests,
            errors: r.errors,
            p50_us: r.q.first().copied().unwrap_or(0.0),
            p95_us: r.q.get(1).copied().unwrap_or(0.0),
        };
        match report.members.last_mut() {
            Some(m) if m.member == r.member => m.points.push(point),
            _ => report.members.push(MemberSeries { member: r.member, points: vec![point] }),
        }
    }
    Ok(report)
}
