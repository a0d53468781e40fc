//! Discovery and import (SPEC §8): `POST /providers/{p}/discover`, `POST /models/import`
//! (from a configured provider) and `POST /models/import-file` (a LiteLLM catalog file,
//! up to 16 MiB). How items are merged, stored and audited: `crate::catalog::import`.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use switchyard_catalog::discover::{compare, Status as Seen};
use switchyard_catalog::{FieldChange, Problem};

use super::models::{doc, json_value, ModelEntry};
use crate::auth::Writer;
use crate::catalog::import::{self, counts, Counts, Incoming, Item, OnError, Options};
use crate::catalog::{self as cat};
use crate::error::ApiError;
use crate::extract::{Body, RawJson};
use crate::ControlState;

/// Largest catalog file accepted by `import-file`.
pub const MAX_FILE_BYTES: usize = 16 << 20;

/// `POST /providers/{p}/discover` body (optional).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoverRequest {
    /// OIP: the models to describe (default: those the config's members use).
    #[serde(default)]
    pub models: Vec<String>,
}

/// One discovered model against the catalog.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Discovered {
    /// The entry id.
    pub id: String,
    /// `new`, `in_catalog` or `changed`.
    #[schema(value_type = String)]
    pub status: Seen,
    /// For `changed`: the fields the provider states differently (before = catalog).
    #[schema(value_type = Vec<Object>)]
    pub changes: Vec<FieldChange>,
    /// What the provider states, as an entry.
    pub entry: ModelEntry,
}

/// `POST /providers/{p}/discover` reply.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DiscoverReply {
    /// The provider.
    pub provider: String,
    /// What it offers.
    pub models: Vec<Discovered>,
    /// Items of its answer left out, or fields left unknown, with paths into the answer.
    #[schema(value_type = Vec<Object>)]
    pub problems: Vec<Problem>,
}

/// `POST /models/import` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// A configured provider to discover from.
    pub provider: String,
    /// Only these models (names at the provider, or entry ids); empty: everything it offers.
    #[serde(default)]
    pub models: Vec<String>,
    /// `skip` (default) or `fail_fast`.
    #[serde(default)]
    pub on_error: OnError,
    /// Plan only; store nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// `POST /models/import` reply.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportReply {
    /// The provider.
    pub provider: String,
    /// Whether nothing was stored.
    pub dry_run: bool,
    /// Items by status.
    #[serde(flatten)]
    pub counts: Counts,
    /// Per item, in the provider's order.
    pub items: Vec<Item>,
    /// Items of the provider's answer left out, or fields left unknown.
    #[schema(value_type = Vec<Object>)]
    pub problems: Vec<Problem>,
}

/// `POST /models/import-file` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct FileQuery {
    /// Plan only; store nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// One row of the file.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FileRow {
    /// The row's key in the file.
    pub key: String,
    /// The entry id, or null when the row does not map.
    pub id: Option<String>,
    /// What became of the entry (null when the row does not map).
    pub status: Option<import::Status>,
    /// The entry's version after the import.
    pub version: Option<u64>,
    /// Why the row does not map, or which fields were left unknown (paths: the row's keys).
    #[schema(value_type = Vec<Object>)]
    pub problems: Vec<Problem>,
}

/// `POST /models/import-file` reply.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FileReply {
    /// Rows that map (new, changed and unchanged entries).
    pub mapped: usize,
    /// Rows that do not.
    pub skipped: usize,
    /// Whether nothing was stored.
    pub dry_run: bool,
    /// Mapped entries created.
    pub created: usize,
    /// Mapped entries changed.
    pub updated: usize,
    /// Mapped entries that already said all this.
    pub unchanged: usize,
    /// Mapped entries not stored (a concurrent change).
    pub failed: usize,
    /// Every row, in file order.
    pub rows: Vec<FileRow>,
}

/// `POST /api/v1/providers/{provider}/discover`: what the provider offers, against the
/// catalog. Stores nothing.
#[utoipa::path(post, path = "/api/v1/providers/{provider}/discover", tag = "catalog", request_body = DiscoverRequest,
    responses((status = 200, body = DiscoverReply), (status = 400), (status = 404), (status = 502)))]
pub async fn discover(
    State(state): State<ControlState>,
    _: Writer,
    Path(provider): Path<String>,
    body: RawJson,
) -> Result<Json<DiscoverReply>, ApiError> {
    let request = optional_body::<DiscoverRequest>(body)?;
    let found = import::discover(&state, &provider, &request.models).await?;
    let mut models = Vec::with_capacity(found.entries.len());
    for entry in found.entries {
        let existing = cat::get(&state, &entry.id).await?;
        let c = compare(existing.as_ref().map(|s| &s.entry), &entry);
        models.push(Discovered { id: c.id, status: c.status, changes: c.changes, entry: doc(&entry) });
    }
    Ok(Json(DiscoverReply { provider, models, problems: found.problems }))
}

/// `POST /api/v1/models/import`: discover from a provider and import, per item.
#[utoipa::path(post, path = "/api/v1/models/import", tag = "catalog", request_body = ImportRequest,
    responses((status = 200, body = ImportReply), (status = 400), (status = 404), (status = 502)))]
pub async fn import_provider(
    State(state): State<ControlState>,
    Writer(op): Writer,
    Body(req): Body<ImportRequest>,
) -> Result<Json<ImportReply>, ApiError> {
    let found = import::discover(&state, &req.provider, &req.models).await?;
    let mut items: Vec<Incoming> = Vec::new();
    if req.models.is_empty() {
        items.extend(found.entries.into_iter().map(|e| Incoming::Entry(Box::new(e))));
    } else {
        // The named models, in the order named; one the provider does not offer fails.
        for wanted in &req.models {
            let hit = found.entries.iter().find(|e| e.name == *wanted || e.id == *wanted);
            items.push(match hit {
                Some(e) => Incoming::Entry(Box::new(e.clone())),
                None => Incoming::Failed(
                    format!("{}/{wanted}", req.provider),
                    vec![Problem::new("", format!("provider `{}` does not offer `{wanted}`", req.provider))],
                ),
            });
        }
    }
    let reason = format!("import from provider {}", req.provider);
    let options = Options { actor: &op.name, reason: &reason, on_error: req.on_error, dry_run: req.dry_run };
    let items = import::import(&state, items, options).await?;
    Ok(Json(ImportReply {
        provider: req.provider,
        dry_run: req.dry_run,
        counts: counts(&items),
        items,
        problems: found.problems,
    }))
}

/// `POST /api/v1/models/import-file?dry_run=`: a catalog file in LiteLLM's
/// `model_prices_and_context_window.json` format; rows that do not map are reported.
#[utoipa::path(post, path = "/api/v1/models/import-file", tag = "catalog", params(FileQuery),
    request_body(description = "A LiteLLM catalog file: model key → row", content_type = "application/json"),
    responses((status = 200, body = FileReply), (status = 400), (status = 413)))]
pub async fn import_file(
    State(state): State<ControlState>,
    Writer(op): Writer,
    Query(q): Query<FileQuery>,
    body: RawJson,
) -> Result<Json<FileReply>, ApiError> {
    // The real file repeats keys; the importer keeps the first and says so.
    let bytes = body.json()?;
    let file = switchyard_catalog::litellm::import_litellm(&bytes).map_err(|p| ApiError::BadRequest(p.to_string()))?;
    let items = file.entries.into_iter().map(|e| Incoming::Entry(Box::new(e))).collect();
    let options = Options {
        actor: &op.name,
        reason: "import of a LiteLLM catalog file",
        on_error: OnError::Skip,
        dry_run: q.dry_run,
    };
    let results = import::import(&state, items, options).await?;
    let c = counts(&results);
    let mut by_id: std::collections::HashMap<&str, &Item> = results.iter().map(|i| (i.id.as_str(), i)).collect();
    let rows = file
        .report
        .rows
        .into_iter()
        .map(|r| {
            let item = r.id.as_deref().and_then(|id| by_id.remove(id));
            let mut problems = r.problems;
            if let Some(i) = item {
                problems.extend(i.problems.iter().cloned());
            }
            FileRow {
                status: item.map(|i| i.status),
                version: item.and_then(|i| i.version),
                key: r.key,
                id: r.id,
                problems,
            }
        })
        .collect();
    Ok(Json(FileReply {
        mapped: file.report.mapped,
        skipped: file.report.skipped,
        dry_run: q.dry_run,
        created: c.created,
        updated: c.updated,
        unchanged: c.unchanged,
        failed: c.failed,
        rows,
    }))
}

/// A JSON body that may be empty (the default).
fn optional_body<T: serde::de::DeserializeOwned + Default>(body: RawJson) -> Result<T, ApiError> {
    if body.is_empty() {
        return Ok(T::default());
    }
    let value = json_value(&body.checked()?)?;
    serde_json::from_value(value).map_err(|e| ApiError::BadRequest(format!("malformed JSON body: {e}")))
}
