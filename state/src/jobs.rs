//! Fine-tuning jobs (SPEC §10): one JSON document per job with a version, and the job's
//! events in order.
//!
//! The store does not know the job's schema (the control API owns it); it keeps the
//! document as given plus copies of what listings and the worker filter on (`state`,
//! `tenant`, `provider_job_id`).
//!
//! Invariants:
//! - a job's `version` is 1 when created and grows by one with every stored change; every
//!   update is a compare-and-set on it, so the worker and an operator's cancel cannot both
//!   win a race: the loser gets [`StateError::StaleEntry`] and re-reads;
//! - a write with an audit entry stores both in one transaction, or neither (every
//!   transition is audited);
//! - events get a store-wide increasing `seq`; an event with a `source_id` (a trainer's
//!   own event id) is stored at most once per job, so re-reading a trainer's event list
//!   after a restart never duplicates events;
//! - listings are newest first by id (ids are time-ordered), the cursor is the last id of
//!   a page.

use crate::audit::{bind_entry, AuditEntry, Encoded, INSERT as INSERT_AUDIT};
use crate::db::{on_pool, to_u64, BeginWrite, Pool};
use crate::error::StateError;

/// One stored job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    /// The job id.
    pub id: String,
    /// Its state (`draft`, `running`, …).
    pub state: String,
    /// The tenant whose records it uses.
    pub tenant: Option<String>,
    /// The trainer's id for the job, once created there.
    pub provider_job_id: Option<String>,
    /// The job as JSON text.
    pub document: String,
    /// 1, 2, …: compare-and-set token.
    pub version: u64,
    /// Created, Unix ms (database server clock).
    pub created_at_ms: i64,
    /// Last changed, Unix ms (database server clock).
    pub updated_at_ms: i64,
}

/// What a write stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobWrite<'a> {
    /// The job id.
    pub id: &'a str,
    /// Its state.
    pub state: &'a str,
    /// Its tenant.
    pub tenant: Option<&'a str>,
    /// The trainer's job id, when known.
    pub provider_job_id: Option<&'a str>,
    /// The job as JSON text.
    pub document: &'a str,
}

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEventRow {
    /// Store-wide increasing sequence number (the SSE event id).
    pub seq: i64,
    /// The job.
    pub job_id: String,
    /// When it was stored, Unix ms (database server clock).
    pub at_ms: i64,
    /// The trainer's id of the event, for the trainer's own events.
    pub source_id: Option<String>,
    /// The event as JSON text.
    pub event: String,
}

/// Which jobs to list; `limit` defaults to 100 (at most 1000).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only jobs in one of these states (empty: any).
    pub states: Vec<String>,
    /// Jobs older than this id (a previous page's `next_cursor`).
    pub cursor: Option<String>,
    /// Most jobs to return (1..=1000); `None` is 100.
    pub limit: Option<u32>,
    /// Only jobs of this tenant (a tenant-scoped token's view).
    pub tenant: Option<String>,
}

/// A page of jobs, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobPage {
    /// The jobs.
    pub rows: Vec<JobRow>,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// The jobs repository of a [`crate::StateStore`].
#[derive(Debug, Clone)]
pub struct Jobs {
    pool: Pool,
}

type Row = (String, String, Option<String>, Option<String>, String, i64, i64, i64);
type EventRow = (i64, String, i64, Option<String>, String);

const COLUMNS: &str = "id, state, tenant, provider_job_id, document, version, created_at_ms, updated_at_ms";
const CREATE: &str = "INSERT INTO jobs (id, state, tenant, provider_job_id, document, version, created_at_ms, \
     updated_at_ms) VALUES ($1, $2, $3, $4, $5, 1, {now_ms}, {now_ms}) ON CONFLICT (id) DO NOTHING RETURNING version";
const UPDATE: &str = "UPDATE jobs SET state = $2, tenant = $3, provider_job_id = $4, document = $5, \
     version = version + 1, updated_at_ms = {now_ms} WHERE id = $1 AND version = $6 RETURNING version";
const INSERT_EVENT: &str =
    "INSERT INTO job_events (job_id, at_ms, source_id, event) VALUES ($1, {now_ms}, $2, $3) ON CONFLICT DO NOTHING";
const MAX_LIMIT: u32 = 1000;

// === impl Jobs ===

impl Jobs {
    pub(crate) fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// The job `id`, if stored.
    pub async fn get(&self, id: &str) -> Result<Option<JobRow>, StateError> {
        let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id = $1");
        let row: Option<Row> = on_pool!(&self.pool, |p| sqlx::query_as(&sql).bind(id).fetch_optional(p).await)
            .map_err(|e| StateError::from_sqlx("jobs.get", e))?;
        row.map(from_row).transpose()
    }

    /// Creates the job (with its first event and audit entry in the same transaction);
    /// [`StateError::StaleEntry`] when the id exists.
    pub async fn create(
        &self,
        write: &JobWrite<'_>,
        event: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<JobRow, StateError> {
        self.store(write, None, Some(event), audit).await
    }

    /// Replaces the job if it is at `expected`, with `event` (when given) and `audit` in
    /// the same transaction; else [`StateError::StaleEntry`] with the current version.
    pub async fn update(
        &self,
        write: &JobWrite<'_>,
        expected: u64,
        event: Option<&str>,
        audit: Option<&AuditEntry>,
    ) -> Result<JobRow, StateError> {
        self.store(write, Some(expected), event, audit).await
    }

    async fn store(
        &self,
        w: &JobWrite<'_>,
        expected: Option<u64>,
        event: Option<&str>,
        audit: Option<&AuditEntry>,
    ) -> Result<JobRow, StateError> {
        if w.id.is_empty() || w.document.is_empty() || w.state.is_empty() {
            return Err(StateError::invalid("job", "id, state and document must not be empty"));
        }
        let encoded = audit.map(Encoded::new).transpose()?;
        let expected = expected.map(|v| crate::db::to_i64(v, "expected version")).transpose()?;
        let sql = self.pool.sql(if expected.is_some() { UPDATE } else { CREATE }).into_owned();
        let event_sql = self.pool.sql(INSERT_EVENT).into_owned();
        let err = |e| StateError::from_sqlx("jobs.store", e);
        let won: Option<i64> = on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await.map_err(err)?;
            let mut q = sqlx::query_scalar::<_, i64>(&sql)
                .bind(w.id)
                .bind(w.state)
                .bind(w.tenant)
                .bind(w.provider_job_id)
                .bind(w.document);
            if let Some(v) = expected {
                q = q.bind(v);
            }
            let won: Option<i64> = q.fetch_optional(&mut *tx).await.map_err(err)?;
            if won.is_some() {
                if let Some(ev) = event {
                    sqlx::query(&event_sql)
                        .bind(w.id)
                        .bind(None::<&str>)
                        .bind(ev)
                        .execute(&mut *tx)
                        .await
                        .map_err(err)?;
                }
                if let Some(entry) = &encoded {
                    bind_entry(sqlx::query(INSERT_AUDIT), entry).execute(&mut *tx).await.map_err(err)?;
                }
            }
            tx.commit().await.map_err(err)?;
            won
        });
        if won.is_none() {
            let current = self.get(w.id).await?.map(|r| r.version);
            return Err(StateError::StaleEntry { current });
        }
        self.get(w.id).await?.ok_or_else(|| StateError::corrupt(format!("job {} vanished", w.id)))
    }

    /// Appends an event; one with a `source_id` already stored for the job is skipped
    /// (`false`).
    pub async fn add_event(&self, job_id: &str, source_id: Option<&str>, event: &str) -> Result<bool, StateError> {
        let sql = self.pool.sql(INSERT_EVENT).into_owned();
        let done = on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(job_id)
            .bind(source_id)
            .bind(event)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StateError::from_sqlx("jobs.add_event", e))?;
        Ok(done == 1)
    }

    /// The job's events after `after_seq` (0: from the start), oldest first, at most `limit`.
    pub async fn events(&self, job_id: &str, after_seq: i64, limit: u32) -> Result<Vec<JobEventRow>, StateError> {
        let limit = i64::from(limit.clamp(1, 10_000));
        let rows: Vec<EventRow> = on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT seq, job_id, at_ms, source_id, event FROM job_events WHERE job_id = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3"
        )
        .bind(job_id)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(p)
        .await)
        .map_err(|e| StateError::from_sqlx("jobs.events", e))?;
        Ok(rows
            .into_iter()
            .map(|(seq, job_id, at_ms, source_id, event)| JobEventRow { seq, job_id, at_ms, source_id, event })
            .collect())
    }

    /// Jobs matching `filter`, newest first.
    pub async fn list(&self, filter: &JobFilter) -> Result<JobPage, StateError> {
        let limit = filter.limit.unwrap_or(100);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(StateError::invalid("limit", format!("must be between 1 and {MAX_LIMIT}")));
        }
        let mut sql = format!("SELECT {COLUMNS} FROM jobs WHERE id < $1");
        for (i, _) in filter.states.iter().enumerate() {
            sql.push_str(if i == 0 { " AND state IN (" } else { ", " });
            sql.push_str(&format!("${}", i + 3));
        }
        if !filter.states.is_empty() {
            sql.push(')');
        }
        if filter.tenant.is_some() {
            sql.push_str(&format!(" AND tenant = ${}", filter.states.len() + 3));
        }
        sql.push_str(" ORDER BY id DESC LIMIT $2");
        // Ids are hex digits: "g" sorts after every one of them.
        let cursor = filter.cursor.clone().unwrap_or_else(|| "g".into());
        let rows: Vec<Row> = on_pool!(&self.pool, |p| {
            let mut q = sqlx::query_as(&sql).bind(&cursor).bind(i64::from(limit) + 1);
            for s in &filter.states {
                q = q.bind(s);
            }
            if let Some(t) = &filter.tenant {
                q = q.bind(t);
            }
            q.fetch_all(p).await
        })
        .map_err(|e| StateError::from_sqlx("jobs.list", e))?;
        let mut rows = rows.into_iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|r| r.id.clone())
        } else {
            None
        };
        Ok(JobPage { rows, next_cursor })
    }

    /// How many jobs are in each state (for `switchyard_jobs{state}`).
    pub async fn count_by_state(&self) -> Result<Vec<(String, u64)>, StateError> {
        let rows: Vec<(String, i64)> =
            on_pool!(&self.pool, |p| sqlx::query_as("SELECT state, COUNT(*) FROM jobs GROUP BY state")
                .fetch_all(p)
                .await)
            .map_err(|e| StateError::from_sqlx("jobs.count_by_state", e))?;
        rows.into_iter().map(|(s, n)| Ok((s, to_u64(n, "job count")?))).collect()
    }
}

fn from_row(row: Row) -> Result<JobRow, StateError> {
    let (id, state, tenant, provider_job_id, document, version, created_at_ms, updated_at_ms) = row;
    Ok(JobRow {
        id,
        state,
        tenant,
        provider_job_id,
        document,
        version: to_u64(version, "job version")?,
        created_at_ms,
        updated_at_ms,
    })
}
