//! The dataset builder: a group's recorded traffic (or a JSONL file under
//! `jobs.dataset_dir`) → the trainer's format, OpenAI chat JSONL
//! (`{"messages": [...request messages, {"role": "assistant", "content": answer}]}`),
//! written as a training and a validation file in the job's work directory.
//!
//! Invariants:
//! - streamed: rows come from ClickHouse through a cursor and go to disk one line at a
//!   time; the dataset is never held in memory (uploads stream the files too);
//! - only the job's tenant's records (records without a tenant when the job names none),
//!   only successful answers, each request once (rows collapsed by `request_id`); with a
//!   feedback filter, a request is kept when the **last** value of the metric on it (by
//!   time) is at least `min`; with `dedup`, identical request bodies count once;
//! - records without logged bodies cannot become examples: when no matching record has
//!   them, validation fails with that reason (`records.log_bodies`);
//! - the redaction patterns (`jobs.redact`) run over every message text before a line is
//!   written, so nothing unredacted leaves the gateway;
//! - the split is by a hash of the request id (of the line number for files), so a
//!   rebuilt dataset splits the same way; both counts are recorded.
//!
//! SQL: the 18.16 subset (`any`, `argMax`, `countIf`, `IN (subquery)`, `assumeNotNull`);
//! strings are bound client-side, numbers inlined, identifiers validated.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufWriter};

use super::model::{DatasetInfo, DatasetSource, Job};
use super::redact::Redactor;
use crate::Analytics;

/// Why a dataset could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DatasetError {
    /// The job cannot have this dataset (validation fails with this reason).
    #[error("{0}")]
    Invalid(String),
    /// ClickHouse or the disk failed; building again later may work.
    #[error("{0}")]
    Transient(String),
}

/// What the builder needs besides the job.
pub struct Builder<'a> {
    /// ClickHouse, when records are shipped there.
    pub analytics: Option<&'a Analytics>,
    /// `jobs.dataset_dir`, resolved.
    pub dataset_dir: Option<PathBuf>,
    /// The job's work directory (created here).
    pub dir: PathBuf,
    /// Share of examples in the validation file.
    pub validation_fraction: f64,
    /// `jobs.redact`.
    pub redactor: &'a Redactor,
    /// Whether the group logs bodies now (for the failure's wording).
    pub logs_bodies: bool,
}

/// A built dataset.
#[derive(Debug, Clone)]
pub struct Built {
    /// Counts and description.
    pub info: DatasetInfo,
    /// The training file.
    pub train: PathBuf,
    /// The validation file (`None` when it is empty).
    pub validation: Option<PathBuf>,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct ExampleRow {
    rid: String,
    rq: String,
    rs: String,
}

/// The two output files and their counts.
struct Sink {
    train: BufWriter<tokio::fs::File>,
    validation: BufWriter<tokio::fs::File>,
    fraction: f64,
    info: DatasetInfo,
}

// === impl Builder ===

impl Builder<'_> {
    /// Builds `job`'s dataset.
    pub async fn build(&self, job: &Job) -> Result<Built, DatasetError> {
        tokio::fs::create_dir_all(&self.dir).await.map_err(|e| io("work directory", &self.dir, e))?;
        let mut sink = Sink::open(&self.dir, self.validation_fraction).await?;
        match job.spec.dataset.source {
            DatasetSource::Records => self.read_records(job, &mut sink).await?,
            DatasetSource::File => self.read_file(job, &mut sink).await?,
        }
        sink.finish(&self.dir).await
    }

    async fn read_records(&self, job: &Job, sink: &mut Sink) -> Result<(), DatasetError> {
        let a = self.analytics.ok_or_else(|| {
            DatasetError::Invalid("records are not shipped to ClickHouse (records.clickhouse is not configured)".into())
        })?;
        let db = crate::analytics::checked_database(&a.database).map_err(|e| DatasetError::Invalid(e.to_string()))?;
        let table = switchyard_records::group_table(&job.spec.group);
        let exists = crate::analytics::table_exists(&a.client, db, &table)
            .await
            .map_err(|e| DatasetError::Transient(e.to_string()))?;
        if !exists {
            return Err(DatasetError::Invalid(format!("group `{}` has no records", job.spec.group)));
        }
        let tenant = job.spec.tenant.clone().unwrap_or_default();
        let metric = job.spec.dataset.feedback.as_ref().map(|f| f.metric.clone()).unwrap_or_default();
        let (matched, with_bodies): (u64, u64) = bind(a.client.query(&count_sql(db, &table, job)), &tenant, &metric)
            .fetch_one()
            .await
            .map_err(|e| DatasetError::Transient(format!("counting records: {e}")))?;
        if with_bodies == 0 {
            return Err(DatasetError::Invalid(no_bodies(job, matched, self.logs_bodies)));
        }
        let mut cursor = bind(a.client.query(&rows_sql(db, &table, job)), &tenant, &metric)
            .fetch::<ExampleRow>()
            .map_err(|e| DatasetError::Transient(format!("reading records: {e}")))?;
        while let Some(row) =
            cursor.next().await.map_err(|e| DatasetError::Transient(format!("reading records: {e}")))?
        {
            match example(&row.rq, &row.rs) {
                Some(messages) => sink.push(&row.rid, messages, self.redactor).await?,
                None => sink.info.skipped_rows += 1,
            }
        }
        sink.info.skipped_rows += matched - with_bodies;
        sink.info.description = describe(job);
        Ok(())
    }

    async fn read_file(&self, job: &Job, sink: &mut Sink) -> Result<(), DatasetError> {
        let (Some(dir), Some(rel)) = (&self.dataset_dir, &job.spec.dataset.path) else {
            return Err(DatasetError::Invalid("`source: file` needs `jobs.dataset_dir` and `dataset.path`".into()));
        };
        let path = dir.join(rel);
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| DatasetError::Invalid(format!("dataset.path `{rel}`: {e}")))?;
        let mut lines = tokio::io::BufReader::new(file).lines();
        let mut n = 0u64;
        while let Some(line) = lines.next_line().await.map_err(|e| DatasetError::Invalid(format!("`{rel}`: {e}")))? {
            n += 1;
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(&line)
                .map_err(|e| DatasetError::Invalid(format!("`{rel}` line {n}: not JSON: {e}")))?;
            let Some(Value::Array(messages)) = v.get("messages").cloned() else {
                return Err(DatasetError::Invalid(format!("`{rel}` line {n}: no `messages` array")));
            };
            sink.push(&n.to_string(), messages, self.redactor).await?;
        }
        sink.info.description = format!("file `{rel}`");
        Ok(())
    }
}

// === impl Sink ===

impl Sink {
    async fn open(dir: &Path, fraction: f64) -> Result<Self, DatasetError> {
        let create = |name: &'static str| {
            let path = dir.join(name);
            async move { tokio::fs::File::create(&path).await.map(BufWriter::new).map_err(|e| io("create", &path, e)) }
        };
        Ok(Self {
            train: create("train.jsonl").await?,
            validation: create("validation.jsonl").await?,
            fraction,
            info: DatasetInfo::default(),
        })
    }

    async fn push(&mut self, key: &str, mut messages: Vec<Value>, redactor: &Redactor) -> Result<(), DatasetError> {
        for m in &mut messages {
            self.info.redactions += redactor.message(m);
        }
        let mut line = serde_json::to_vec(&json!({ "messages": messages }))
            .map_err(|e| DatasetError::Transient(format!("example to JSON: {e}")))?;
        line.push(b'\n');
        let digest = Sha256::digest(key.as_bytes());
        let bucket = f64::from(u16::from_be_bytes([digest[0], digest[1]])) / 65_536.0;
        let (out, count) = if bucket < self.fraction {
            (&mut self.validation, &mut self.info.validation_rows)
        } else {
            (&mut self.train, &mut self.info.train_rows)
        };
        out.write_all(&line).await.map_err(|e| DatasetError::Transient(format!("writing the dataset: {e}")))?;
        *count += 1;
        Ok(())
    }

    async fn finish(mut self, dir: &Path) -> Result<Built, DatasetError> {
        for w in [&mut self.train, &mut self.validation] {
            w.flush().await.map_err(|e| DatasetError::Transient(format!("writing the dataset: {e}")))?;
            w.get_ref().sync_all().await.map_err(|e| DatasetError::Transient(format!("writing the dataset: {e}")))?;
        }
        let info = self.info;
        if info.train_rows == 0 {
            return Err(DatasetError::Invalid(format!(
                "no training examples: {} in the validation split, {} records skipped (no chat request and answer)",
                info.validation_rows, info.skipped_rows
            )));
        }
        let validation = (info.validation_rows > 0).then(|| dir.join("validation.jsonl"));
        Ok(Built { train: dir.join("train.jsonl"), validation, info })
    }
}

/// The builder's two queries for `job` on `database`, named `count` and `rows`, with `?`
/// where the tenant and then (with a feedback filter) the metric are bound — exactly what
/// [`Builder::build`] runs (for the SQL compatibility test).
pub fn dataset_sql(database: &str, job: &Job) -> [(&'static str, String); 2] {
    let table = switchyard_records::group_table(&job.spec.group);
    [("count", count_sql(database, &table, job)), ("rows", rows_sql(database, &table, job))]
}

/// Binds the query's strings in order: the tenant, then the feedback metric when filtered.
fn bind(q: clickhouse::query::Query, tenant: &str, metric: &str) -> clickhouse::query::Query {
    let q = q.bind(tenant);
    if metric.is_empty() {
        q
    } else {
        q.bind(metric)
    }
}

/// The per-request collapse with every filter (`?` = tenant, then metric).
fn collapsed_sql(db: &str, table: &str, job: &Job) -> String {
    let d = &job.spec.dataset;
    let mut filter = String::from("tenant = ? AND status >= 200 AND status < 300 AND error_class = ''");
    if let Some(s) = d.since {
        filter.push_str(&format!(" AND timestamp_ms >= {s}"));
    }
    if let Some(u) = d.until {
        filter.push_str(&format!(" AND timestamp_ms < {u}"));
    }
    if let Some(f) = &d.feedback {
        filter.push_str(&format!(
            " AND request_id IN (SELECT request_id FROM (SELECT request_id, argMax(value, timestamp_ms) AS v \
             FROM `{db}`.feedback WHERE metric = ? GROUP BY request_id) WHERE v >= {})",
            f.min
        ));
    }
    format!(
        "SELECT request_id, any(request_body) AS req, any(response_body) AS resp, max(timestamp_ms) AS t \
         FROM `{db}`.`{table}` WHERE {filter} GROUP BY request_id"
    )
}

fn count_sql(db: &str, table: &str, job: &Job) -> String {
    format!(
        "SELECT toUInt64(count()), toUInt64(countIf(isNotNull(req) AND isNotNull(resp))) FROM ({})",
        collapsed_sql(db, table, job)
    )
}

fn rows_sql(db: &str, table: &str, job: &Job) -> String {
    let bodies = format!(
        "SELECT request_id, assumeNotNull(req) AS rq, assumeNotNull(resp) AS rs, t FROM ({}) \
         WHERE isNotNull(req) AND isNotNull(resp)",
        collapsed_sql(db, table, job)
    );
    let chosen = if job.spec.dataset.dedup {
        // Of identical requests the newest is kept (deterministic on every engine).
        format!(
            "SELECT argMax(request_id, t) AS rid, rq, argMax(rs, t) AS rs2, max(t) AS t2 FROM ({bodies}) GROUP BY rq"
        )
    } else {
        format!("SELECT request_id AS rid, rq, rs AS rs2, t AS t2 FROM ({bodies})")
    };
    let limit = job.spec.dataset.max_examples.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
    format!("SELECT rid, rq, rs2 AS rs FROM ({chosen}) ORDER BY t2 DESC, rid{limit}")
}

/// The request's messages and the answer as one chat example (`None` when the record is
/// not a chat with an answer).
pub fn example(request: &str, response: &str) -> Option<Vec<Value>> {
    let req: Value = serde_json::from_str(request).ok()?;
    let mut messages = req.get("messages")?.as_array()?.clone();
    let answer = match serde_json::from_str::<Value>(response) {
        Ok(v) => v["choices"][0]["message"]["content"].as_str()?.to_owned(),
        Err(_) => streamed_answer(response)?,
    };
    if answer.is_empty() || messages.is_empty() {
        return None;
    }
    messages.push(json!({"role": "assistant", "content": answer}));
    Some(messages)
}

/// The text of a streamed (SSE) chat answer: the `delta.content` of every chunk.
fn streamed_answer(body: &str) -> Option<String> {
    let mut out = String::new();
    let mut any = false;
    for data in body.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim) {
        if data == "[DONE]" {
            continue;
        }
        let v: Value = serde_json::from_str(data).ok()?;
        if let Some(s) = v["choices"][0]["delta"]["content"].as_str() {
            out.push_str(s);
        }
        any = true;
    }
    any.then_some(out)
}

fn no_bodies(job: &Job, matched: u64, logs_bodies: bool) -> String {
    let g = &job.spec.group;
    if matched == 0 {
        return format!("no record of group `{g}` matches the dataset's filters (tenant, time window, feedback)");
    }
    let now = if logs_bodies { " (it does now; only records made since carry bodies)" } else { "" };
    format!(
        "the {matched} matching records of group `{g}` have no logged bodies: a dataset needs \
         groups.{g}.records.log_bodies: true{now}"
    )
}

fn describe(job: &Job) -> String {
    let d = &job.spec.dataset;
    let mut s = format!("records of group `{}`", job.spec.group);
    s.push_str(&format!(", tenant `{}`", job.spec.tenant.as_deref().unwrap_or("")));
    if d.since.is_some() || d.until.is_some() {
        s.push_str(&format!(
            ", window [{}, {}) ms",
            d.since.unwrap_or(0),
            d.until.map_or("now".into(), |u| u.to_string())
        ));
    }
    if let Some(f) = &d.feedback {
        s.push_str(&format!(", feedback {} >= {}", f.metric, f.min));
    }
    if d.dedup {
        s.push_str(", deduplicated");
    }
    if let Some(n) = d.max_examples {
        s.push_str(&format!(", at most {n}"));
    }
    s
}

fn io(what: &str, path: &Path, e: std::io::Error) -> DatasetError {
    DatasetError::Transient(format!("{what} {}: {e}", path.display()))
}
