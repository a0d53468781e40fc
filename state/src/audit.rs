//! The audit trail: who changed what, when, with the target before and after.
//!
//! Invariants:
//! - an entry is stored once: `audit_id` is unique, and appending or importing an entry
//!   whose id is already stored changes nothing (so imports and retried appends are
//!   idempotent);
//! - listings are newest first by (`timestamp_ms`, insertion order), and the cursor is a
//!   keyset position, so pages neither skip nor repeat entries while new ones arrive;
//! - retention deletes by the database server's clock.
//!
//! `before` and `after` are stored as JSON text exactly as given; the caller keeps secrets
//! out of them (references or `enc:` only), as `control-api/src/audit.rs` does today.

use serde::{Deserialize, Serialize};
use sqlx::query::Query;
use sqlx::{Database, Encode, Type};

use crate::db::{on_pool, to_i64, to_u64, BeginWrite, Pool};
use crate::error::StateError;

/// One audited change. The JSON shape is the file era's `audit.jsonl` line plus `tenant`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Unique id (`switchyard_core::new_id()`).
    pub audit_id: String,
    /// When, Unix ms (the acting replica's clock).
    pub timestamp_ms: i64,
    /// The admin token's name, or `auto-promotion`.
    pub actor: String,
    /// What was done, e.g. `group.weights`, `config.rollback`.
    pub action: String,
    /// What it was done to, e.g. `groups.support-bot`.
    pub target: String,
    /// The tenant the change concerns, when it concerns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The config version it produced.
    pub config_version: u64,
    /// The target before (JSON).
    pub before: serde_json::Value,
    /// The target after (JSON).
    pub after: serde_json::Value,
    /// Why; may be empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// Which entries to list. Every filter is optional; `limit` defaults to 100 (at most 1000).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Entries at or after this time, Unix ms.
    pub since_ms: Option<i64>,
    /// Entries before this time, Unix ms.
    pub until_ms: Option<i64>,
    /// Exactly this actor.
    pub actor: Option<String>,
    /// Exactly this action.
    pub action: Option<String>,
    /// Exactly this target.
    pub target: Option<String>,
    /// Exactly this tenant.
    pub tenant: Option<String>,
    /// Continue after this position (a previous page's `next_cursor`).
    pub cursor: Option<String>,
    /// Most entries to return (1..=1000); `None` is 100.
    pub limit: Option<u32>,
}

/// One page of entries, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditPage {
    /// The entries.
    pub entries: Vec<AuditEntry>,
    /// Pass as `cursor` for the next (older) page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// The audit repository of a [`crate::StateStore`].
#[derive(Debug, Clone)]
pub struct Audit {
    pool: Pool,
}

type AuditRow = (i64, String, i64, String, String, String, Option<String>, i64, String, String, String);

/// An entry as bound into SQL.
pub(crate) struct Encoded<'a> {
    entry: &'a AuditEntry,
    config_version: i64,
    before: String,
    after: String,
}

enum Arg {
    Int(i64),
    Text(String),
}

pub(crate) const INSERT: &str =
    "INSERT INTO audit (audit_id, timestamp_ms, actor, action, target, tenant, config_version, \
     before_json, after_json, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
     ON CONFLICT (audit_id) DO NOTHING";
const MAX_LIMIT: u32 = 1000;

// === impl Audit ===

impl Audit {
    pub(crate) fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// Stores `entry`; `false` when an entry with its `audit_id` was already stored.
    pub async fn append(&self, entry: &AuditEntry) -> Result<bool, StateError> {
        let encoded = Encoded::new(entry)?;
        let done = on_pool!(&self.pool, |p| bind_entry(sqlx::query(INSERT), &encoded)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StateError::from_sqlx("audit.append", e))?;
        Ok(done == 1)
    }

    /// Stores `entries` in one transaction; returns how many were new (the rest were
    /// already stored).
    pub async fn append_batch(&self, entries: &[AuditEntry]) -> Result<u64, StateError> {
        let encoded = entries.iter().map(Encoded::new).collect::<Result<Vec<_>, _>>()?;
        let err = |e| StateError::from_sqlx("audit.append_batch", e);
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await.map_err(err)?;
            let mut inserted = 0;
            for e in &encoded {
                inserted += bind_entry(sqlx::query(INSERT), e).execute(&mut *tx).await.map_err(err)?.rows_affected();
            }
            tx.commit().await.map_err(err)?;
            Ok(inserted)
        })
    }

    /// Entries matching `filter`, newest first, one page at a time.
    pub async fn list(&self, filter: &AuditFilter) -> Result<AuditPage, StateError> {
        let limit = filter.limit.unwrap_or(100);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(StateError::invalid("limit", format!("must be between 1 and {MAX_LIMIT}")));
        }
        let (sql, args) = list_query(filter, limit)?;
        let rows: Vec<AuditRow> = on_pool!(&self.pool, |p| {
            let mut q = sqlx::query_as(&sql);
            for arg in &args {
                q = match arg {
                    Arg::Int(v) => q.bind(*v),
                    Arg::Text(s) => q.bind(s.as_str()),
                };
            }
            q.fetch_all(p).await
        })
        .map_err(|e| StateError::from_sqlx("audit.list", e))?;
        let full = rows.len() == limit as usize;
        let next_cursor = full.then(|| rows.last().map(|r| format!("{}.{}", r.2, r.0))).flatten();
        let entries = rows.into_iter().map(from_row).collect::<Result<_, _>>()?;
        Ok(AuditPage { entries, next_cursor })
    }

    /// Deletes entries older than `days` days (database server clock); returns how many.
    pub async fn delete_older_than(&self, days: u32) -> Result<u64, StateError> {
        let horizon_ms = i64::from(days) * 86_400_000;
        let sql = self.pool.sql("DELETE FROM audit WHERE timestamp_ms < {now_ms} - $1");
        let done =
            on_pool!(&self.pool, |p| sqlx::query(&sql).bind(horizon_ms).execute(p).await.map(|r| r.rows_affected()))
                .map_err(|e| StateError::from_sqlx("audit.delete_older_than", e))?;
        Ok(done)
    }
}

/// The SELECT for `filter` with its binds in placeholder order.
fn list_query(filter: &AuditFilter, limit: u32) -> Result<(String, Vec<Arg>), StateError> {
    let mut sql = String::from(
        "SELECT seq, audit_id, timestamp_ms, actor, action, target, tenant, config_version, before_json, \
         after_json, reason FROM audit WHERE 1 = 1",
    );
    let mut args = Vec::new();
    let mut push = |sql: &mut String, clause: &str, arg: Arg| {
        args.push(arg);
        sql.push_str(&clause.replace("$?", &format!("${}", args.len())));
    };
    if let Some(v) = filter.since_ms {
        push(&mut sql, " AND timestamp_ms >= $?", Arg::Int(v));
    }
    if let Some(v) = filter.until_ms {
        push(&mut sql, " AND timestamp_ms < $?", Arg::Int(v));
    }
    for (column, value) in
        [("actor", &filter.actor), ("action", &filter.action), ("target", &filter.target), ("tenant", &filter.tenant)]
    {
        if let Some(v) = value {
            push(&mut sql, &format!(" AND {column} = $?"), Arg::Text(v.clone()));
        }
    }
    if let Some(cursor) = &filter.cursor {
        let (ts, seq) = parse_cursor(cursor)?;
        push(&mut sql, " AND (timestamp_ms < $?", Arg::Int(ts));
        push(&mut sql, " OR (timestamp_ms = $?", Arg::Int(ts));
        push(&mut sql, " AND seq < $?))", Arg::Int(seq));
    }
    push(&mut sql, " ORDER BY timestamp_ms DESC, seq DESC LIMIT $?", Arg::Int(i64::from(limit)));
    Ok((sql, args))
}

fn parse_cursor(cursor: &str) -> Result<(i64, i64), StateError> {
    cursor
        .split_once('.')
        .and_then(|(ts, seq)| Some((ts.parse().ok()?, seq.parse().ok()?)))
        .ok_or_else(|| StateError::invalid("cursor", "not a cursor from a previous page"))
}

pub(crate) fn bind_entry<'q, DB: Database>(
    query: Query<'q, DB, DB::Arguments<'q>>,
    e: &'q Encoded<'q>,
) -> Query<'q, DB, DB::Arguments<'q>>
where
    &'q str: Encode<'q, DB> + Type<DB>,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
{
    query
        .bind(e.entry.audit_id.as_str())
        .bind(e.entry.timestamp_ms)
        .bind(e.entry.actor.as_str())
        .bind(e.entry.action.as_str())
        .bind(e.entry.target.as_str())
        .bind(e.entry.tenant.as_deref())
        .bind(e.config_version)
        .bind(e.before.as_str())
        .bind(e.after.as_str())
        .bind(e.entry.reason.as_str())
}

fn from_row(row: AuditRow) -> Result<AuditEntry, StateError> {
    let (_seq, audit_id, timestamp_ms, actor, action, target, tenant, config_version, before, after, reason) = row;
    let json = |text: &str, which: &str| {
        serde_json::from_str(text).map_err(|e| StateError::corrupt(format!("audit entry {audit_id}: {which}: {e}")))
    };
    Ok(AuditEntry {
        before: json(&before, "before")?,
        after: json(&after, "after")?,
        config_version: to_u64(config_version, "audit config_version")?,
        audit_id,
        timestamp_ms,
        actor,
        action,
        target,
        tenant,
        reason,
    })
}

/// Checks what the store requires of an entry (ids and names present, version in range).
pub(crate) fn validate(entry: &AuditEntry) -> Result<(), StateError> {
    Encoded::new(entry).map(|_| ())
}

// === impl Encoded ===

impl<'a> Encoded<'a> {
    pub(crate) fn new(entry: &'a AuditEntry) -> Result<Self, StateError> {
        if entry.audit_id.is_empty() || entry.actor.is_empty() || entry.action.is_empty() {
            return Err(StateError::invalid("audit", "audit_id, actor and action must not be empty"));
        }
        Ok(Self {
            entry,
            config_version: to_i64(entry.config_version, "config_version")?,
            before: entry.before.to_string(),
            after: entry.after.to_string(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_query_numbers_its_placeholders_in_bind_order() {
        let filter = AuditFilter {
            since_ms: Some(1),
            actor: Some("ops".into()),
            tenant: Some("acme".into()),
            cursor: Some("500.7".into()),
            ..AuditFilter::default()
        };
        let (sql, args) = list_query(&filter, 10).unwrap();
        assert!(sql.contains("timestamp_ms >= $1 AND actor = $2 AND tenant = $3"), "{sql}");
        assert!(sql.contains("(timestamp_ms < $4 OR (timestamp_ms = $5 AND seq < $6))"), "{sql}");
        assert!(sql.ends_with("LIMIT $7"), "{sql}");
        assert_eq!(args.len(), 7);
    }

    #[test]
    fn a_bad_cursor_is_the_callers_error() {
        for bad in ["", "12", "a.b", "1.2.3"] {
            let e = parse_cursor(bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert_eq!(e, "cursor: not a cursor from a previous page", "{bad:?}");
        }
        assert_eq!(parse_cursor("1700000000000.42").ok(), Some((1_700_000_000_000, 42)));
    }
}
