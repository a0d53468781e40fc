//! The model catalog's rows (SPEC §8): one JSON document per entry id, with a version.
//!
//! The store does not know the entry's schema (that is `switchyard-catalog`'s); it keeps
//! the document as given plus copies of the fields listings filter on (`provider`, `kind`,
//! `display_name`).
//!
//! Invariants:
//! - an entry's `version` is 1 when created and grows by one with every stored change; it
//!   is the entry's ETag;
//! - every write is a compare-and-set ([`Expect`]): one statement creates only while the id
//!   is absent, or updates only while the version is the expected one, so two racing
//!   writers of one entry cannot both win — on one SQLite file and across PostgreSQL
//!   replicas alike. The loser gets [`StateError::StaleEntry`] with the version that won
//!   (`None`: the entry does not exist);
//! - a write with an audit entry stores both in one transaction, or neither;
//! - listings are ordered by id, and the cursor is the last id of a page, so pages neither
//!   skip nor repeat entries while others are written.

use crate::audit::{bind_entry, AuditEntry, Encoded, INSERT as INSERT_AUDIT};
use crate::db::{on_pool, to_i64, to_u64, BeginWrite, Pool};
use crate::error::StateError;

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogRow {
    /// `<provider>/<name>`.
    pub id: String,
    /// The provider.
    pub provider: String,
    /// The model's name at the provider.
    pub name: String,
    /// The entry's `kind`, when known.
    pub kind: Option<String>,
    /// The entry's `display_name`, when known.
    pub display_name: Option<String>,
    /// The entry as JSON text.
    pub document: String,
    /// 1, 2, …: the entry's ETag.
    pub version: u64,
    /// When the row was created, Unix ms (database server clock).
    pub created_at_ms: i64,
    /// When the row last changed, Unix ms (database server clock).
    pub updated_at_ms: i64,
}

/// What a write stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogWrite<'a> {
    /// `<provider>/<name>`.
    pub id: &'a str,
    /// The provider.
    pub provider: &'a str,
    /// The model's name.
    pub name: &'a str,
    /// The entry's `kind`, when known.
    pub kind: Option<&'a str>,
    /// The entry's `display_name`, when known.
    pub display_name: Option<&'a str>,
    /// The entry as JSON text.
    pub document: &'a str,
}

/// The state a write expects the entry to be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// It does not exist (`If-None-Match: *`).
    Absent,
    /// It exists at this version (`If-Match: "<version>"`).
    Version(u64),
    /// It exists, at whatever version (`If-Match: *`).
    Exists,
}

/// Which entries to list. Every filter is optional; `limit` defaults to 100 (at most 1000).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogFilter {
    /// Exactly this provider.
    pub provider: Option<String>,
    /// Exactly this kind.
    pub kind: Option<String>,
    /// Case-insensitive substring of the id or the display name.
    pub q: Option<String>,
    /// Entries after this id (a previous page's `next_cursor`).
    pub cursor: Option<String>,
    /// Most entries to return (1..=1000); `None` is 100.
    pub limit: Option<u32>,
}

/// One page of entries, by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogPage {
    /// The entries.
    pub rows: Vec<CatalogRow>,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// The catalog repository of a [`crate::StateStore`].
#[derive(Debug, Clone)]
pub struct Catalog {
    pool: Pool,
}

type Row = (String, String, String, Option<String>, Option<String>, String, i64, i64, i64);

const COLUMNS: &str = "id, provider, name, kind, display_name, document, version, created_at_ms, updated_at_ms";
const CREATE: &str = "INSERT INTO catalog_entries \
     (id, provider, name, kind, display_name, document, version, created_at_ms, updated_at_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, 1, {now_ms}, {now_ms}) ON CONFLICT (id) DO NOTHING \
     RETURNING version";
const UPDATE: &str = "UPDATE catalog_entries SET provider = $2, name = $3, kind = $4, display_name = $5, \
     document = $6, version = version + 1, updated_at_ms = {now_ms} WHERE id = $1 AND version = $7 \
     RETURNING version";
const UPDATE_ANY: &str = "UPDATE catalog_entries SET provider = $2, name = $3, kind = $4, display_name = $5, \
     document = $6, version = version + 1, updated_at_ms = {now_ms} WHERE id = $1 AND version > $7 \
     RETURNING version";
const MAX_LIMIT: u32 = 1000;

/// Within the open transaction `$tx`: the compare-and-set write, then the audit entry when
/// it won. Evaluates to `Result<Option<version>, sqlx::Error>`.
macro_rules! write_in {
    ($tx:ident, $sql:expr, $w:expr, $expected:expr, $encoded:expr) => {
        async {
            let w: &CatalogWrite<'_> = $w;
            let mut q = sqlx::query_scalar::<_, i64>($sql)
                .bind(w.id)
                .bind(w.provider)
                .bind(w.name)
                .bind(w.kind)
                .bind(w.display_name)
                .bind(w.document);
            if let Some(v) = $expected {
                q = q.bind(v);
            }
            let row: Option<i64> = q.fetch_optional(&mut *$tx).await?;
            if let (Some(_), Some(entry)) = (row, $encoded) {
                bind_entry(sqlx::query(INSERT_AUDIT), entry).execute(&mut *$tx).await?;
            }
            Ok::<_, sqlx::Error>(row)
        }
        .await
    };
}

/// Within `$tx`: the delete, then the audit entry when it deleted. Evaluates to
/// `Result<bool, sqlx::Error>`.
macro_rules! delete_in {
    ($tx:ident, $id:expr, $expected:expr, $encoded:expr) => {
        async {
            let done = sqlx::query("DELETE FROM catalog_entries WHERE id = $1 AND version = $2")
                .bind($id)
                .bind($expected)
                .execute(&mut *$tx)
                .await?
                .rows_affected();
            if let (1, Some(entry)) = (done, $encoded) {
                bind_entry(sqlx::query(INSERT_AUDIT), entry).execute(&mut *$tx).await?;
            }
            Ok::<_, sqlx::Error>(done == 1)
        }
        .await
    };
}

// === impl Catalog ===

impl Catalog {
    pub(crate) fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// The entry `id`, if stored.
    pub async fn get(&self, id: &str) -> Result<Option<CatalogRow>, StateError> {
        let sql = format!("SELECT {COLUMNS} FROM catalog_entries WHERE id = $1");
        let row: Option<Row> = on_pool!(&self.pool, |p| sqlx::query_as(&sql).bind(id).fetch_optional(p).await)
            .map_err(|e| StateError::from_sqlx("catalog.get", e))?;
        row.map(from_row).transpose()
    }

    /// Stores `write` if the entry is as `expect` says, with `audit` in the same
    /// transaction; the stored row. Otherwise [`StateError::StaleEntry`] with the current
    /// version (`None` when the entry does not exist).
    pub async fn put(
        &self,
        write: &CatalogWrite<'_>,
        expect: Expect,
        audit: Option<&AuditEntry>,
    ) -> Result<CatalogRow, StateError> {
        if write.id.is_empty() || write.document.is_empty() {
            return Err(StateError::invalid("catalog", "id and document must not be empty"));
        }
        let encoded = audit.map(Encoded::new).transpose()?;
        let (template, expected) = match expect {
            Expect::Absent => (CREATE, None),
            Expect::Version(v) => (UPDATE, Some(to_i64(v, "expected version")?)),
            Expect::Exists => (UPDATE_ANY, Some(0)),
        };
        let sql = self.pool.sql(template);
        let err = |e| StateError::from_sqlx("catalog.put", e);
        let won = on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await.map_err(err)?;
            let row = write_in!(tx, &*sql, write, expected, &encoded).map_err(err)?;
            tx.commit().await.map_err(err)?;
            row
        });
        if won.is_none() {
            let current = self.get(write.id).await?.map(|r| r.version);
            return Err(StateError::StaleEntry { current });
        }
        tracing::debug!(id = write.id, version = ?won, "catalog entry stored");
        self.get(write.id).await?.ok_or_else(|| StateError::corrupt(format!("catalog entry {} vanished", write.id)))
    }

    /// Stores many writes in one transaction (an import): each is a compare-and-set of its
    /// own, with its audit entry; one that loses is left out (`Err` with the entry's
    /// current version) and the others are stored. Per item: the new version, or the
    /// current one.
    pub async fn put_many(
        &self,
        items: &[(CatalogWrite<'_>, Expect, AuditEntry)],
    ) -> Result<Vec<Result<u64, Option<u64>>>, StateError> {
        let mut prepared = Vec::with_capacity(items.len());
        for (w, expect, audit) in items {
            if w.id.is_empty() || w.document.is_empty() {
                return Err(StateError::invalid("catalog", "id and document must not be empty"));
            }
            let (template, expected) = match expect {
                Expect::Absent => (CREATE, None),
                Expect::Version(v) => (UPDATE, Some(to_i64(*v, "expected version")?)),
                Expect::Exists => (UPDATE_ANY, Some(0)),
            };
            prepared.push((w, self.pool.sql(template), expected, Some(Encoded::new(audit)?)));
        }
        let err = |e| StateError::from_sqlx("catalog.put_many", e);
        let out = on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await.map_err(err)?;
            let mut out = Vec::with_capacity(prepared.len());
            for (w, sql, expected, encoded) in &prepared {
                let won = write_in!(tx, &**sql, w, *expected, encoded).map_err(err)?;
                out.push(match won {
                    Some(v) => Ok(to_u64(v, "catalog entry version")?),
                    None => {
                        let current: Option<i64> =
                            sqlx::query_scalar("SELECT version FROM catalog_entries WHERE id = $1")
                                .bind(w.id)
                                .fetch_optional(&mut *tx)
                                .await
                                .map_err(err)?;
                        Err(current.map(|v| to_u64(v, "catalog entry version")).transpose()?)
                    }
                });
            }
            tx.commit().await.map_err(err)?;
            out
        });
        Ok(out)
    }

    /// Deletes the entry `id` if it is at `version`, with `audit` in the same transaction;
    /// otherwise [`StateError::StaleEntry`] with the current version.
    pub async fn delete(&self, id: &str, version: u64, audit: Option<&AuditEntry>) -> Result<(), StateError> {
        let encoded = audit.map(Encoded::new).transpose()?;
        let expected = to_i64(version, "expected version")?;
        let err = |e| StateError::from_sqlx("catalog.delete", e);
        let done = on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await.map_err(err)?;
            let done = delete_in!(tx, id, expected, &encoded).map_err(err)?;
            tx.commit().await.map_err(err)?;
            done
        });
        if !done {
            let current = self.get(id).await?.map(|r| r.version);
            return Err(StateError::StaleEntry { current });
        }
        Ok(())
    }

    /// Entries matching `filter`, by id, one page at a time.
    pub async fn list(&self, filter: &CatalogFilter) -> Result<CatalogPage, StateError> {
        let limit = filter.limit.unwrap_or(100);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(StateError::invalid("limit", format!("must be between 1 and {MAX_LIMIT}")));
        }
        let (sql, args) = list_query(filter, limit);
        let rows: Vec<Row> = on_pool!(&self.pool, |p| {
            let mut q = sqlx::query_as(&sql);
            for arg in &args {
                q = match arg {
                    Arg::Int(v) => q.bind(*v),
                    Arg::Text(s) => q.bind(s.as_str()),
                };
            }
            q.fetch_all(p).await
        })
        .map_err(|e| StateError::from_sqlx("catalog.list", e))?;
        let full = rows.len() == limit as usize;
        let next_cursor = full.then(|| rows.last().map(|r| r.0.clone())).flatten();
        let rows = rows.into_iter().map(from_row).collect::<Result<_, _>>()?;
        Ok(CatalogPage { rows, next_cursor })
    }

    /// A cheap fingerprint of the whole catalog — (entries, newest change, sum of
    /// versions) — that changes with every stored write or delete, for replicas that poll
    /// for changes instead of reading every entry.
    pub async fn fingerprint(&self) -> Result<(i64, i64, i64), StateError> {
        let sql = "SELECT CAST(COUNT(*) AS BIGINT), CAST(COALESCE(MAX(updated_at_ms), 0) AS BIGINT), \
                   CAST(COALESCE(SUM(version), 0) AS BIGINT) FROM catalog_entries";
        on_pool!(&self.pool, |p| sqlx::query_as(sql).fetch_one(p).await)
            .map_err(|e| StateError::from_sqlx("catalog.fingerprint", e))
    }

    /// Every entry, by id (pages through [`Catalog::list`]).
    pub async fn all(&self) -> Result<Vec<CatalogRow>, StateError> {
        let mut out = Vec::new();
        let mut filter = CatalogFilter { limit: Some(MAX_LIMIT), ..CatalogFilter::default() };
        loop {
            let page = self.list(&filter).await?;
            out.extend(page.rows);
            match page.next_cursor {
                Some(c) => filter.cursor = Some(c),
                None => return Ok(out),
            }
        }
    }
}

enum Arg {
    Int(i64),
    Text(String),
}

/// The SELECT for `filter` with its binds in placeholder order.
fn list_query(filter: &CatalogFilter, limit: u32) -> (String, Vec<Arg>) {
    let mut sql = format!("SELECT {COLUMNS} FROM catalog_entries WHERE 1 = 1");
    let mut args = Vec::new();
    let mut push = |sql: &mut String, clause: &str, arg: Arg| {
        args.push(arg);
        sql.push_str(&clause.replace("$?", &format!("${}", args.len())));
    };
    if let Some(v) = &filter.provider {
        push(&mut sql, " AND provider = $?", Arg::Text(v.clone()));
    }
    if let Some(v) = &filter.kind {
        push(&mut sql, " AND kind = $?", Arg::Text(v.clone()));
    }
    if let Some(q) = filter.q.as_deref().filter(|q| !q.is_empty()) {
        let pattern = format!("%{}%", escape_like(&q.to_lowercase()));
        push(&mut sql, " AND (LOWER(id) LIKE $? ESCAPE '\\'", Arg::Text(pattern.clone()));
        push(&mut sql, " OR LOWER(COALESCE(display_name, '')) LIKE $? ESCAPE '\\')", Arg::Text(pattern));
    }
    if let Some(c) = &filter.cursor {
        push(&mut sql, " AND id > $?", Arg::Text(c.clone()));
    }
    push(&mut sql, " ORDER BY id LIMIT $?", Arg::Int(i64::from(limit)));
    (sql, args)
}

/// `text` with LIKE's wildcards and the escape character taken literally.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn from_row(row: Row) -> Result<CatalogRow, StateError> {
    let (id, provider, name, kind, display_name, document, version, created_at_ms, updated_at_ms) = row;
    Ok(CatalogRow {
        version: to_u64(version, "catalog entry version")?,
        id,
        provider,
        name,
        kind,
        display_name,
        document,
        created_at_ms,
        updated_at_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_numbers_its_placeholders_and_escapes_wildcards() {
        let filter = CatalogFilter {
            provider: Some("openai".into()),
            q: Some("GPT_4%".into()),
            cursor: Some("openai/a".into()),
            ..CatalogFilter::default()
        };
        let (sql, args) = list_query(&filter, 10);
        assert!(sql.contains("provider = $1 AND (LOWER(id) LIKE $2 ESCAPE '\\'"), "{sql}");
        assert!(sql.contains("LIKE $3 ESCAPE '\\') AND id > $4 ORDER BY id LIMIT $5"), "{sql}");
        assert_eq!(args.len(), 5);
        match &args[1] {
            Arg::Text(p) => assert_eq!(p, "%gpt\\_4\\%%"),
            Arg::Int(_) => panic!("text"),
        }
    }
}
