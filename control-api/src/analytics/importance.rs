//! `GET /api/v1/groups/{g}/explanations`: feature importance per arm (SPEC §9).
//!
//! One query over `explanations` gives, per (day, member, feature), the count, sum and
//! sum of squares of |value| — rows first collapsed by their key (`request_id, source,
//! method, instance, output, ordinal`), so a replayed row counts once; anchors (whose
//! value is a precision, not an attribution) and non-finite values are left out. The
//! window's figures per member are the days' sums combined ([`crate::stats::importance`]
//! gives the interval); a second query counts explained requests per (day, member).
//! Daily buckets carry each member's top features for attribution drift.

use std::collections::{BTreeMap, HashMap};

use clickhouse::Client;
use serde::{Deserialize, Serialize};
use switchyard_records::rows::seconds;
use utoipa::ToSchema;

use super::{checked_database, table_exists, AnalyticsError, MemberView};
use crate::stats::importance::{mean_interval, spearman};

/// Features per member without `top`.
pub const DEFAULT_TOP: u32 = 20;
/// Largest `top`.
pub const MAX_TOP: u32 = 1000;
/// Features listed in a comparison's `most_different`.
const MOST_DIFFERENT: usize = 5;

/// The report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExplanationReport {
    /// Group.
    pub group: String,
    /// Window start, Unix ms (inclusive).
    pub since_ms: i64,
    /// Window end, Unix ms (exclusive).
    pub until_ms: i64,
    /// How `ci_low`/`ci_high` are computed.
    pub interval: String,
    /// Per member, features by `mean_abs` descending (at most `top`).
    pub members: Vec<MemberImportance>,
    /// Each challenger against the champion.
    pub comparisons: Vec<Comparison>,
    /// Per day and member, the member's top features that day.
    pub daily: Vec<DailyImportance>,
}

/// One member's importance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MemberImportance {
    /// Member.
    pub member: String,
    /// Role in the current config (`removed` for a member no longer configured).
    pub role: String,
    /// Explained requests.
    pub samples: u64,
    /// Features by `mean_abs` descending.
    pub features: Vec<FeatureImportance>,
}

/// One feature's importance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FeatureImportance {
    /// Feature name.
    pub feature: String,
    /// Mean |attribution|.
    pub mean_abs: f64,
    /// Lower end of the 95 % interval.
    pub ci_low: f64,
    /// Upper end of the 95 % interval.
    pub ci_high: f64,
    /// Attributions averaged.
    pub n: u64,
}

/// A challenger against the champion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Comparison {
    /// Challenger.
    pub challenger: String,
    /// Champion.
    pub champion: String,
    /// Spearman's ρ of the two arms' `mean_abs` over their common features; null with
    /// fewer than two common features.
    pub rank_correlation: Option<f64>,
    /// Features both arms have.
    pub common_features: u64,
    /// Common features by |challenger − champion| `mean_abs`, largest first (at most 5).
    pub most_different: Vec<FeatureDifference>,
}

/// One feature's importance in both arms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FeatureDifference {
    /// Feature.
    pub feature: String,
    /// Champion's mean |attribution|.
    pub champion_mean_abs: f64,
    /// Challenger's mean |attribution|.
    pub challenger_mean_abs: f64,
    /// Challenger − champion.
    pub difference: f64,
    /// Whether the two 95 % intervals are disjoint.
    pub intervals_disjoint: bool,
}

/// One member's importance on one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DailyImportance {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Member.
    pub member: String,
    /// Explained requests that day.
    pub samples: u64,
    /// That day's figures for the member's top features of the window.
    pub features: Vec<FeatureImportance>,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Cell {
    day: u32,
    member: String,
    feature: String,
    n: u64,
    sum: f64,
    sum_sq: f64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Samples {
    day: u32,
    member: String,
    requests: u64,
}

/// Running sums of |value|.
#[derive(Debug, Default, Clone, Copy)]
struct Sums {
    n: u64,
    sum: f64,
    sum_sq: f64,
}

/// The SQL of the report for `db`: per-cell sums, then explained requests (the window's
/// bounds are bound: group, since s, until s, since ms, until ms).
pub fn importance_sql(db: &str) -> (String, String) {
    importance_sql_in(db, None)
}

/// [`importance_sql`], with `tenant_table` (a group's records table): only requests whose
/// record carries the tenant bound last.
fn importance_sql_in(db: &str, tenant_table: Option<&str>) -> (String, String) {
    let tenant = tenant_table
        .map(|t| format!(" AND request_id IN (SELECT request_id FROM `{db}`.`{t}` WHERE tenant = ?)"))
        .unwrap_or_default();
    let rows = format!(
        "SELECT toYYYYMMDD(any(ts)) AS day, member, feature, request_id, abs(any(value)) AS a \
         FROM `{db}`.explanations \
         WHERE group_name = ? AND ts >= toDateTime(?) AND ts <= toDateTime(?) \
           AND timestamp_ms >= ? AND timestamp_ms < ? AND method != 'anchor'{tenant} \
         GROUP BY member, feature, request_id, source, method, instance, output, ordinal"
    );
    let cells = format!(
        "SELECT day, member, feature, count() AS n, sum(a) AS sum, sum(a * a) AS sum_sq \
         FROM ({rows}) WHERE isFinite(a) GROUP BY day, member, feature ORDER BY day, member, feature"
    );
    let samples = format!(
        "SELECT toYYYYMMDD(ts) AS day, member, uniqExact(request_id) AS requests FROM `{db}`.explanations \
         WHERE group_name = ? AND ts >= toDateTime(?) AND ts <= toDateTime(?) \
           AND timestamp_ms >= ? AND timestamp_ms < ? AND method != 'anchor'{tenant} \
         GROUP BY day, member ORDER BY day, member"
    );
    (cells, samples)
}

/// The report for `group` over `[since_ms, until_ms)`, `top` features per member; with
/// `tenant`, of that tenant's clients' requests only (a tenant-scoped token's view: the
/// explanation rows carry no tenant, their requests' records do).
pub async fn importance(
    client: &Client,
    database: &str,
    group: &str,
    members: &[MemberView],
    (since_ms, until_ms): (i64, i64),
    top: u32,
    tenant: Option<&str>,
) -> Result<ExplanationReport, AnalyticsError> {
    let db = checked_database(database)?;
    let top = top.clamp(1, MAX_TOP) as usize;
    let records = switchyard_records::group_table(group);
    let tenant_table = tenant.map(|_| records.as_str());
    let (cells_sql, samples_sql) = importance_sql_in(db, tenant_table);
    let readable = table_exists(client, db, "explanations").await?
        && (tenant.is_none() || table_exists(client, db, &records).await?);
    let (cells, samples): (Vec<Cell>, Vec<Samples>) = if readable {
        let bind = |q: clickhouse::query::Query| {
            let q = q.bind(group).bind(seconds(since_ms)).bind(seconds(until_ms)).bind(since_ms).bind(until_ms);
            match tenant {
                Some(t) => q.bind(t),
                None => q,
            }
        };
        let cells = bind(client.query(&cells_sql)).fetch_all().await;
        let samples = bind(client.query(&samples_sql)).fetch_all().await;
        (
            cells.map_err(|e| AnalyticsError::clickhouse("explanation importance", e))?,
            samples.map_err(|e| AnalyticsError::clickhouse("explained requests", e))?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(assemble(group, members, (since_ms, until_ms), top, &cells, &samples))
}

fn assemble(
    group: &str,
    members: &[MemberView],
    (since_ms, until_ms): (i64, i64),
    top: usize,
    cells: &[Cell],
    samples: &[Samples],
) -> ExplanationReport {
    let mut window: BTreeMap<&str, BTreeMap<&str, Sums>> = BTreeMap::new();
    for c in cells {
        let s = window.entry(&c.member).or_default().entry(&c.feature).or_default();
        *s = Sums { n: s.n + c.n, sum: s.sum + c.sum, sum_sq: s.sum_sq + c.sum_sq };
    }
    let role = |m: &str| members.iter().find(|v| v.name == m).map_or("removed", |v| v.role.as_str()).to_owned();
    let requests = |m: &str| samples.iter().filter(|s| s.member == m).map(|s| s.requests).sum();
    let mut ranked: HashMap<&str, Vec<FeatureImportance>> = HashMap::new();
    let mut out_members = Vec::new();
    for (member, features) in &window {
        let mut all: Vec<FeatureImportance> = features.iter().map(|(f, s)| figure(f, *s)).collect();
        all.sort_by(|a, b| b.mean_abs.total_cmp(&a.mean_abs).then_with(|| a.feature.cmp(&b.feature)));
        out_members.push(MemberImportance {
            member: (*member).to_owned(),
            role: role(member),
            samples: requests(member),
            features: all.iter().take(top).cloned().collect(),
        });
        ranked.insert(member, all);
    }
    out_members.sort_by_key(|m| (m.role != "champion", m.member.clone()));
    let comparisons = comparisons(members, &ranked);
    let daily = daily(cells, samples, &out_members);
    ExplanationReport {
        group: group.to_owned(),
        since_ms,
        until_ms,
        interval: "normal-approximation 95% interval on the mean of |attribution| per feature: \
                   mean ± 1.96·s/√n (s: sample standard deviation), floored at 0"
            .into(),
        members: out_members,
        comparisons,
        daily,
    }
}

fn figure(feature: &str, s: Sums) -> FeatureImportance {
    let (mean_abs, ci_low, ci_high) = mean_interval(s.n, s.sum, s.sum_sq);
    FeatureImportance { feature: feature.to_owned(), mean_abs, ci_low, ci_high, n: s.n }
}

/// Every challenger with data against the champion (over all their features, not only
/// the top ones).
fn comparisons(members: &[MemberView], ranked: &HashMap<&str, Vec<FeatureImportance>>) -> Vec<Comparison> {
    let Some(champion) = members.iter().find(|m| m.role == "champion") else { return Vec::new() };
    let Some(base) = ranked.get(champion.name.as_str()) else { return Vec::new() };
    let mut out = Vec::new();
    for ch in members.iter().filter(|m| m.role == "challenger") {
        let Some(theirs) = ranked.get(ch.name.as_str()) else { continue };
        let mut pairs: Vec<(&FeatureImportance, &FeatureImportance)> =
            base.iter().filter_map(|b| theirs.iter().find(|t| t.feature == b.feature).map(|t| (b, t))).collect();
        let (a, b): (Vec<f64>, Vec<f64>) = pairs.iter().map(|(x, y)| (x.mean_abs, y.mean_abs)).unzip();
        let rank_correlation = spearman(&a, &b);
        pairs.sort_by(|x, y| {
            let dx = (x.1.mean_abs - x.0.mean_abs).abs();
            let dy = (y.1.mean_abs - y.0.mean_abs).abs();
            dy.total_cmp(&dx).then_with(|| x.0.feature.cmp(&y.0.feature))
        });
        out.push(Comparison {
            challenger: ch.name.clone(),
            champion: champion.name.clone(),
            rank_correlation,
            common_features: pairs.len() as u64,
            most_different: pairs
                .iter()
                .take(MOST_DIFFERENT)
                .map(|(c, t)| FeatureDifference {
                    feature: c.feature.clone(),
                    champion_mean_abs: c.mean_abs,
                    challenger_mean_abs: t.mean_abs,
                    difference: t.mean_abs - c.mean_abs,
                    intervals_disjoint: c.ci_high < t.ci_low || t.ci_high < c.ci_low,
                })
                .collect(),
        });
    }
    out
}

/// Per day and member: that day's figures for the member's top features.
fn daily(cells: &[Cell], samples: &[Samples], members: &[MemberImportance]) -> Vec<DailyImportance> {
    let mut out: Vec<DailyImportance> = Vec::new();
    for m in members {
        let days: std::collections::BTreeSet<u32> =
            cells.iter().filter(|c| c.member == m.member).map(|c| c.day).collect();
        for day in days {
            let features = m
                .features
                .iter()
                .filter_map(|f| cells.iter().find(|c| c.day == day && c.member == m.member && c.feature == f.feature))
                .map(|c| figure(&c.feature, Sums { n: c.n, sum: c.sum, sum_sq: c.sum_sq }))
                .collect();
            let samples = samples.iter().find(|s| s.day == day && s.member == m.member).map_or(0, |s| s.requests);
            out.push(DailyImportance { day: format_day(day), member: m.member.clone(), samples, features });
        }
    }
    out.sort_by(|a, b| a.day.cmp(&b.day).then_with(|| a.member.cmp(&b.member)));
    out
}

fn format_day(d: u32) -> String {
    format!("{:04}-{:02}-{:02}", d / 10_000, d / 100 % 100, d % 100)
}
