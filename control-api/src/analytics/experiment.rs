//! `GET /api/v1/groups/{g}/experiment`: per-member aggregates from the group's table, then
//! [`crate::stats::evaluate`] for the SRM check, the confidence sequences and the verdict.
//!
//! Four queries over the same deduplicated window (one row per `request_id`):
//! 1. per member: requests, errors, latency p50/p95/p99 (`quantilesExact`), TTFT p50/p95 over
//!    the requests that have one, token sums, the range of recorded weights;
//! 2. per member: requests slower than the champion's p95 (the slow-rate threshold);
//! 3. per member and feedback metric: count, mean and variance of one value per request
//!    (feedback deduplicated by `feedback_id`, the last value per (request, metric) wins:
//!    `argMax` by (timestamp, `feedback_id`)), joined to
//!    the window's requests by `request_id`;
//! 4. per member and currency: requests with a cost, their exact total and the variance of
//!    the per-request cost (SPEC §8: cost per request per arm, with an interval).
//!
//! Invariants: members come from the config (`members`, in its order) plus any member seen in
//! the window but no longer configured (role `removed`, share 0, outside SRM and verdict); a
//! group without a table yet reports zeros (`no_difference_yet`).

use clickhouse::Client;
use serde::Deserialize;
use switchyard_records::rows::seconds;

use super::{checked_database, table_exists, AnalyticsError, ERROR_SQL};
use rust_decimal::Decimal;

use crate::stats::{
    evaluate, CostStats, EvalConfig, ExperimentReport, FeedbackStats, LatencyQuantiles, MemberStats, TtftQuantiles,
};

/// A member as the config has it now.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberView {
    /// Member name.
    pub name: String,
    /// `champion`, `challenger` or `shadow`.
    pub role: String,
    /// Normalised share of traffic in `[0, 1]` (shadows: 0).
    pub share: f64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct AggregateRow {
    member: String,
    requests: u64,
    errors: u64,
    latency: Vec<f64>,
    ttft_samples: u64,
    ttft: Vec<f64>,
    input_tokens: u64,
    output_tokens: u64,
    min_weight: f64,
    max_weight: f64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct SlowRow {
    member: String,
    slow: u64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct CostRow {
    member: String,
    currency: String,
    requests: u64,
    total: String,
    var_samp: f64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct FeedbackRow {
    member: String,
    metric: String,
    samples: u64,
    mean: f64,
    var_pop: f64,
}

/// The experiment report of `group` over `[since_ms, until_ms)`; with `tenant`, of that
/// tenant's clients' requests only (a tenant-scoped token's view).
pub async fn experiment(
    client: &Client,
    database: &str,
    group: &str,
    members: &[MemberView],
    (since_ms, until_ms): (i64, i64),
    tenant: Option<&str>,
    cfg: &EvalConfig,
) -> Result<ExperimentReport, AnalyticsError> {
    let db = checked_database(database)?;
    let table = switchyard_records::group_table(group);
    let mut stats: Vec<MemberStats> = members
        .iter()
        .map(|m| MemberStats { member: m.name.clone(), role: m.role.clone(), share: m.share, ..Default::default() })
        .collect();
    if !table_exists(client, db, &table).await? {
        let mut report = evaluate(group, since_ms, until_ms, stats, None, cfg);
        report.notes.push("no records for this group yet".to_owned());
        return Ok(report);
    }
    let window = Window { db, table: &table, since_ms, until_ms, tenant };
    let mut notes = Vec::new();
    // Feedback and cost do not depend on the aggregates: fetched at the same time (the
    // overview asks for one report per group), applied in the same order as before.
    let (aggregates, feedback, costs) = tokio::try_join!(
        fetch_aggregates(client, &window),
        fetch_feedback(client, &window),
        fetch_costs(client, &window)
    )?;
    apply_aggregates(&mut stats, aggregates, &mut notes);
    let threshold = stats.iter().find(|s| s.role == "champion" && s.requests > 0).map(|s| s.latency_us.p95);
    if let Some(p95) = threshold {
        // quantilesExact returns one of the (integer) latencies, so the cast is exact.
        for row in fetch_slow(client, &window, p95 as u64).await? {
            if let Some(s) = stats.iter_mut().find(|s| s.member == row.member) {
                s.slow = row.slow;
            }
        }
    }
    apply_feedback(&mut stats, feedback);
    apply_costs(&mut stats, costs, &mut notes);
    let mut report = evaluate(group, since_ms, until_ms, stats, threshold, cfg);
    report.notes.extend(notes);
    Ok(report)
}

/// Fills each member's counts, latencies and tokens from its aggregate row (a member no
/// longer configured is added as `removed`), noting weights that changed inside the window.
fn apply_aggregates(stats: &mut Vec<MemberStats>, rows: Vec<AggregateRow>, notes: &mut Vec<String>) {
    for row in rows {
        let idx = match stats.iter().position(|s| s.member == row.member) {
            Some(i) => i,
            None => {
                stats.push(MemberStats { member: row.member.clone(), role: "removed".into(), ..Default::default() });
                stats.len() - 1
            }
        };
        let s = &mut stats[idx];
        if s.role != "shadow" && (row.max_weight - row.min_weight > 1e-9 || (row.max_weight - s.share).abs() > 1e-6) {
            notes.push(format!(
                "member {} was served at weights {:.4}..{:.4} inside the window (configured {:.4}); the SRM check \
                 assumes the configured weights — start the window at the last weight change",
                row.member, row.min_weight, row.max_weight, s.share
            ));
        }
        s.requests = row.requests;
        s.errors = row.errors;
        s.latency_us = LatencyQuantiles {
            p50: row.latency.first().copied().unwrap_or(0.0),
            p95: row.latency.get(1).copied().unwrap_or(0.0),
            p99: row.latency.get(2).copied().unwrap_or(0.0),
        };
        let ttft = |i: usize| if row.ttft_samples > 0 { row.ttft.get(i).copied() } else { None };
        s.ttft_us = TtftQuantiles { samples: row.ttft_samples, p50: ttft(0), p95: ttft(1) };
        s.input_tokens = row.input_tokens;
        s.output_tokens = row.output_tokens;
    }
}

/// Adds each member's feedback means and sample variances.
fn apply_feedback(stats: &mut [MemberStats], rows: Vec<FeedbackRow>) {
    for row in rows {
        if let Some(s) = stats.iter_mut().find(|s| s.member == row.member) {
            let n = row.samples as f64;
            let variance = if row.samples > 1 { row.var_pop * n / (n - 1.0) } else { 0.0 };
            s.feedback.push(FeedbackStats { metric: row.metric, samples: row.samples, mean: row.mean, variance });
        }
    }
}

/// Adds each member's cost per currency (a total that is not a decimal becomes a note).
fn apply_costs(stats: &mut [MemberStats], rows: Vec<CostRow>, notes: &mut Vec<String>) {
    for row in rows {
        let Some(s) = stats.iter_mut().find(|s| s.member == row.member) else { continue };
        match Decimal::from_str_exact(&row.total) {
            Ok(total) => s.cost.push(CostStats::new(row.currency, row.requests, total, row.var_samp)),
            Err(e) => {
                notes.push(format!("member {}: the cost total {:?} is not a decimal: {e}", row.member, row.total))
            }
        }
    }
}

/// The SQL of the experiment's three queries, named `aggregates`, `slow` and `feedback`, with
/// every value inlined (all are integers, so there is nothing to escape). The executor runs
/// exactly these strings; they are public so compatibility tests can run them on other
/// ClickHouse versions.
pub fn experiment_sql(
    database: &str,
    group: &str,
    since_ms: i64,
    until_ms: i64,
    slow_threshold_us: u64,
) -> Result<[(&'static str, String); 3], AnalyticsError> {
    let db = checked_database(database)?;
    let table = switchyard_records::group_table(group);
    let w = Window { db, table: &table, since_ms, until_ms, tenant: None };
    Ok([("aggregates", w.aggregates_sql()), ("slow", w.slow_sql(slow_threshold_us)), ("feedback", w.feedback_sql())])
}

/// The deduplicated window of one group table.
struct Window<'a> {
    db: &'a str,
    table: &'a str,
    since_ms: i64,
    until_ms: i64,
    /// Only this tenant's requests.
    tenant: Option<&'a str>,
}

// === impl Window ===

impl Window<'_> {
    /// The tenant condition (empty without one). Tenant names are restricted to a safe
    /// alphabet by config validation; quotes and backslashes are escaped all the same.
    fn tenant_sql(&self) -> String {
        self.tenant
            .map_or_else(String::new, |t| format!(" AND tenant = '{}'", t.replace('\\', "\\\\").replace('\'', "\\'")))
    }

    /// One row per request id in the window (randomized traffic only).
    fn dedup_sql(&self) -> String {
        format!(
            "SELECT request_id, any(member) AS mem, max({ERROR_SQL}) AS err, any(total_us) AS tot, \
             any(ttft_us) AS ttft, any(input_tokens) AS itok, any(output_tokens) AS otok, any(weight) AS w \
             FROM `{db}`.`{table}` \
             WHERE ts >= toDateTime({since_s}) AND ts <= toDateTime({until_s}) \
             AND timestamp_ms >= {since_ms} AND timestamp_ms < {until_ms} AND assignment != 'pinned'{tenant} \
             GROUP BY request_id",
            db = self.db,
            table = self.table,
            since_s = seconds(self.since_ms),
            until_s = seconds(self.until_ms),
            since_ms = self.since_ms,
            until_ms = self.until_ms,
            tenant = self.tenant_sql(),
        )
    }

    fn aggregates_sql(&self) -> String {
        format!(
            "SELECT mem, toUInt64(count()), toUInt64(sum(err)), \
             quantilesExact(0.5, 0.95, 0.99)(toFloat64(tot)), \
             toUInt64(countIf(isNotNull(ttft))), \
             quantilesExactIf(0.5, 0.95)(toFloat64(ifNull(ttft, 0)), isNotNull(ttft)), \
             toUInt64(sum(ifNull(itok, 0))), toUInt64(sum(ifNull(otok, 0))), \
             toFloat64(min(w)), toFloat64(max(w)) \
             FROM ({dedup}) GROUP BY mem ORDER BY mem",
            dedup = self.dedup_sql()
        )
    }

    /// Per member and currency: requests with a cost, their exact total (as text, so no
    /// float touches it) and the sample variance of the per-request cost.
    fn cost_sql(&self) -> String {
        format!(
            "SELECT mem, cur, toUInt64(count()), toString(sum(assumeNotNull(c))), \
             varSamp(toFloat64(assumeNotNull(c))) FROM ( \
               SELECT request_id, any(member) AS mem, any(cost) AS c, any(currency) AS cur FROM `{db}`.`{table}` \
               WHERE ts >= toDateTime({since_s}) AND ts <= toDateTime({until_s}) \
               AND timestamp_ms >= {since_ms} AND timestamp_ms < {until_ms} AND assignment != 'pinned'{tenant} \
               GROUP BY request_id \
             ) WHERE isNotNull(c) GROUP BY mem, cur ORDER BY mem, cur",
            db = self.db,
            table = self.table,
            since_s = seconds(self.since_ms),
            until_s = seconds(self.until_ms),
            since_ms = self.since_ms,
            until_ms = self.until_ms,
            tenant = self.tenant_sql(),
        )
    }

    fn slow_sql(&self, threshold_us: u64) -> String {
        format!(
            "SELECT mem, toUInt64(countIf(tot > {threshold_us})) FROM ({dedup}) GROUP BY mem ORDER BY mem",
            dedup = self.dedup_sql()
        )
    }

    fn feedback_sql(&self) -> String {
        format!(
            "SELECT mem, metric, toUInt64(count()), avg(v), varPop(v) FROM ( \
               SELECT request_id, metric, argMax(fv, (t, feedback_id)) AS v FROM ( \
                 SELECT request_id, metric, feedback_id, any(value) AS fv, any(timestamp_ms) AS t \
                 FROM `{db}`.feedback \
                 WHERE ts >= toDateTime({since_s}) GROUP BY request_id, metric, feedback_id \
               ) GROUP BY request_id, metric \
             ) AS f ALL INNER JOIN ( \
               SELECT request_id, mem FROM ({dedup}) \
             ) AS i USING request_id \
             GROUP BY mem, metric ORDER BY mem, metric",
            db = self.db,
            since_s = seconds(self.since_ms),
            dedup = self.dedup_sql()
        )
    }
}

async fn fetch_aggregates(client: &Client, w: &Window<'_>) -> Result<Vec<AggregateRow>, AnalyticsError> {
    client
        .query(&w.aggregates_sql())
        .fetch_all()
        .await
        .map_err(|e| AnalyticsError::clickhouse("experiment aggregates", e))
}

async fn fetch_slow(client: &Client, w: &Window<'_>, threshold_us: u64) -> Result<Vec<SlowRow>, AnalyticsError> {
    client
        .query(&w.slow_sql(threshold_us))
        .fetch_all()
        .await
        .map_err(|e| AnalyticsError::clickhouse("experiment slow rate", e))
}

async fn fetch_costs(client: &Client, w: &Window<'_>) -> Result<Vec<CostRow>, AnalyticsError> {
    client.query(&w.cost_sql()).fetch_all().await.map_err(|e| AnalyticsError::clickhouse("experiment costs", e))
}

async fn fetch_feedback(client: &Client, w: &Window<'_>) -> Result<Vec<FeedbackRow>, AnalyticsError> {
    client.query(&w.feedback_sql()).fetch_all().await.map_err(|e| AnalyticsError::clickhouse("experiment feedback", e))
}
