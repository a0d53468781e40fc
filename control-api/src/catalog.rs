//! The model catalog as the control API keeps it (SPEC §8): entries in the state store,
//! their preconditions, and audited writes.
//!
//! - An entry is stored as its JSON document with a version per entry (its ETag, `"3"`);
//!   [`precondition`] turns `If-Match` / `If-None-Match: *` into the store's
//!   compare-and-set ([`Expect`]), evaluated before the body is read: a stale version is
//!   412 whatever the body, a write without either header is 428.
//! - Every stored change — an operator's PUT or DELETE, an import's item — goes through
//!   [`write`] or [`delete`], which store the audit entry (actor, action, target
//!   `models.<id>`, the entry before and after, reason) in the same transaction as the
//!   change, then publish it like a config edit's entry.
//! - What the store holds is always a valid entry: documents are validated before they
//!   are written, and one that no longer parses is an internal error, never served.

pub mod import;

use axum::http::{header, HeaderMap};
use switchyard_catalog::CatalogEntry;
use switchyard_state::{CatalogRow, CatalogWrite, Expect, StateError};

use crate::error::ApiError;
use crate::extract::Condition;
use crate::{AuditEntry, ControlState};

/// How often a replica looks for catalog changes other replicas stored.
pub const SYNC_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// An entry as stored, with its version.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// The entry.
    pub entry: CatalogEntry,
    /// Its version (ETag).
    pub version: u64,
}

/// Publishes the store's catalog into the routing table (members' prices, kinds and
/// tensors; SPEC §8). Called after every catalog write of this replica and by [`spawn_sync`]
/// for the writes of others. An entry that does not parse is left out (and logged).
pub async fn publish(state: &ControlState) -> Result<(), ApiError> {
    let rows = state.plane.store().catalog().all().await?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        match decode(row) {
            Ok(s) => entries.push(s.entry),
            Err(e) => tracing::error!(error = %e, "catalog entry left out of the routing table"),
        }
    }
    state.editor.set_catalog(std::sync::Arc::new(switchyard_config::CatalogView::new(entries))).await;
    Ok(())
}

/// [`publish`] after a write; a failure is logged (the sync task catches up).
pub async fn published(state: &ControlState) {
    if let Err(error) = publish(state).await {
        tracing::warn!(%error, "catalog change not yet in the routing table; retried within a second");
    }
}

/// Publishes the catalog now and whenever the store's catalog changes (polled every
/// [`SYNC_INTERVAL`]: one cheap query), so every replica prices with the current catalog
/// within about two seconds of a write.
pub fn spawn_sync(state: ControlState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen = None;
        loop {
            match state.plane.store().catalog().fingerprint().await {
                Ok(now) if seen != Some(now) => match publish(&state).await {
                    Ok(()) => seen = Some(now),
                    Err(error) => tracing::warn!(%error, "catalog not published to the routing table"),
                },
                Ok(_) => {}
                Err(error) => tracing::debug!(%error, "catalog fingerprint unavailable"),
            }
            tokio::time::sleep(SYNC_INTERVAL).await;
        }
    })
}

/// Who writes, what the audit trail calls it, and why.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    /// The operator (token name).
    pub actor: &'a str,
    /// `model.create`, `model.update`, `model.delete`, `model.import`.
    pub action: &'a str,
    /// Why; may be empty.
    pub reason: &'a str,
}

/// The entry `id`, if stored.
pub async fn get(state: &ControlState, id: &str) -> Result<Option<Stored>, ApiError> {
    state.plane.store().catalog().get(id).await?.map(decode).transpose()
}

/// A stored row as an entry.
pub fn decode(row: CatalogRow) -> Result<Stored, ApiError> {
    let entry = switchyard_catalog::parse_entry(row.document.as_bytes()).map_err(|problems| {
        let first = problems.first().map(ToString::to_string).unwrap_or_default();
        ApiError::Internal(format!("stored catalog entry `{}` does not parse: {first}", row.id))
    })?;
    Ok(Stored { entry, version: row.version })
}

/// The target of an entry's audit entries.
pub fn target(id: &str) -> String {
    format!("models.{id}")
}

/// The JSON of an entry (null for none), for replies and audit views.
pub fn json(entry: Option<&CatalogEntry>) -> serde_json::Value {
    entry.map_or(serde_json::Value::Null, |e| serde_json::to_value(e).unwrap_or_default())
}

/// What a write's conditional headers ask for, given the entry's `current` version:
/// `If-Match` (a tag naming the current version, or `*` for an entry that exists) or
/// `If-None-Match: *` (create). 428 without either; 412 when the condition fails.
pub fn precondition(headers: &HeaderMap, id: &str, current: Option<u64>) -> Result<Expect, ApiError> {
    let stale = || ApiError::StaleEntry { id: id.to_owned(), current };
    if headers.contains_key(header::IF_MATCH) {
        let condition = Condition::from_headers(headers)?;
        let Some(version) = current else { return Err(stale()) };
        return match condition {
            Condition::Any => Ok(Expect::Version(version)),
            Condition::Tags(tags) if tags.contains(&Some(version)) => Ok(Expect::Version(version)),
            Condition::Tags(_) => Err(stale()),
        };
    }
    let mut none_match = headers.get_all(header::IF_NONE_MATCH).iter().peekable();
    if none_match.peek().is_none() {
        return Err(ApiError::EntryPreconditionRequired(id.to_owned()));
    }
    if !none_match.all(|v| v.as_bytes().trim_ascii() == b"*") {
        return Err(ApiError::BadRequest(
            "If-None-Match must be `*` (create the entry only if it does not exist)".into(),
        ));
    }
    match current {
        None => Ok(Expect::Absent),
        Some(_) => Err(stale()),
    }
}

/// Stores `entry` (already validated) if the store is as `expect` says, audited as
/// `change` with `before` (the stored entry, if any); the stored entry and its version.
pub async fn write(
    state: &ControlState,
    change: Change<'_>,
    entry: &CatalogEntry,
    before: Option<&CatalogEntry>,
    expect: Expect,
) -> Result<Stored, ApiError> {
    let document = serde_json::to_string(entry).map_err(|e| ApiError::Internal(format!("entry to JSON: {e}")))?;
    let audit = audit_entry(change, &entry.id, json(before), json(Some(entry)));
    let stored = audit.to_stored().map_err(|e| ApiError::Internal(format!("audit entry: {e}")))?;
    let w = CatalogWrite {
        id: &entry.id,
        provider: &entry.provider,
        name: &entry.name,
        kind: entry.kind.map(|k| k.as_str()),
        display_name: entry.display_name.as_deref(),
        document: &document,
    };
    let row =
        state.plane.store().catalog().put(&w, expect, Some(&stored)).await.map_err(|e| store_error(&entry.id, e))?;
    state.audit.published(&audit);
    decode(row)
}

/// Deletes `stored` if it is still at its version, audited as `change`.
pub async fn delete(state: &ControlState, change: Change<'_>, stored: &Stored) -> Result<(), ApiError> {
    let id = &stored.entry.id;
    let audit = audit_entry(change, id, json(Some(&stored.entry)), serde_json::Value::Null);
    let encoded = audit.to_stored().map_err(|e| ApiError::Internal(format!("audit entry: {e}")))?;
    state.plane.store().catalog().delete(id, stored.version, Some(&encoded)).await.map_err(|e| store_error(id, e))?;
    state.audit.published(&audit);
    Ok(())
}

/// A store error about entry `id` as the API's error (a lost compare-and-set is 412).
pub fn store_error(id: &str, e: StateError) -> ApiError {
    match e {
        StateError::StaleEntry { current } => ApiError::StaleEntry { id: id.to_owned(), current },
        e => e.into(),
    }
}

fn audit_entry(change: Change<'_>, id: &str, before: serde_json::Value, after: serde_json::Value) -> AuditEntry {
    AuditEntry {
        audit_id: switchyard_core::new_id(),
        timestamp_ms: switchyard_core::unix_ms(),
        actor: change.actor.to_owned(),
        action: change.action.to_owned(),
        target: target(id),
        tenant: None,
        config_version: 0,
        before,
        after,
        reason: change.reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn preconditions_of_catalog_writes() {
        let id = "openai/gpt-4o";
        let code = |r: Result<Expect, ApiError>| match r {
            Ok(e) => format!("{e:?}"),
            Err(e) => e.status().as_u16().to_string(),
        };
        assert_eq!(code(precondition(&HeaderMap::new(), id, Some(3))), "428");
        assert_eq!(code(precondition(&HeaderMap::new(), id, None)), "428");
        assert_eq!(code(precondition(&headers(&[(header::IF_MATCH, "\"3\"")]), id, Some(3))), "Version(3)");
        assert_eq!(code(precondition(&headers(&[(header::IF_MATCH, "\"2\"")]), id, Some(3))), "412");
        assert_eq!(code(precondition(&headers(&[(header::IF_MATCH, "*")]), id, Some(3))), "Version(3)");
        assert_eq!(code(precondition(&headers(&[(header::IF_MATCH, "*")]), id, None)), "412");
        assert_eq!(code(precondition(&headers(&[(header::IF_MATCH, "bogus")]), id, Some(3))), "400");
        assert_eq!(code(precondition(&headers(&[(header::IF_NONE_MATCH, "*")]), id, None)), "Absent");
        assert_eq!(code(precondition(&headers(&[(header::IF_NONE_MATCH, "*")]), id, Some(1))), "412");
        assert_eq!(code(precondition(&headers(&[(header::IF_NONE_MATCH, "\"1\"")]), id, None)), "400");
        // If-Match wins over If-None-Match.
        let both = headers(&[(header::IF_MATCH, "\"1\""), (header::IF_NONE_MATCH, "*")]);
        assert_eq!(code(precondition(&both, id, Some(1))), "Version(1)");
    }
}
