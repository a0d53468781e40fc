//! `/api/v1/models…`: the model catalog (SPEC §8) — list and search, read, create or
//! replace, delete, validate without storing, and the entry's JSON Schema.
//!
//! An entry's URL is `/models/{provider}/{name…}` (the name is the rest of the path and
//! may hold `/`); its ETag is the entry's own version (`"1"`, `"2"`, …), not the config
//! version. Writes need `If-Match` (or `If-None-Match: *` to create), checked before the
//! body is read: a stale tag is 412 whatever the body. A PUT takes the entry itself:
//! its identity must be the URL's (it may be left out), `created_at`/`updated_at` are
//! read-only, and the fields it changes get provenance `operator` unless it gives them
//! another. A PUT that changes nothing stores nothing (same version, no audit entry).
//! Problems are 422 with every path (`limits.max_input_tokens: …`). Viewers read only.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use switchyard_catalog::{CatalogEntry, Problem};
use switchyard_state::CatalogFilter;

use super::tagged;
use crate::auth::{Operator, Writer};
use crate::catalog::{self, Change};
use crate::error::ApiError;
use crate::extract::RawJson;
use crate::ControlState;

/// A catalog entry (its JSON Schema: `GET /api/v1/models/schema.json`).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelEntry {
    /// The entry's fields.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// `GET /models` filters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct ModelQuery {
    /// Exactly this provider.
    pub provider: Option<String>,
    /// Exactly this kind (`chat`, `embedding`, …).
    pub kind: Option<String>,
    /// Case-insensitive substring of the id or the display name.
    pub q: Option<String>,
    /// A previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Most entries per page (1..=1000, default 100).
    pub limit: Option<u32>,
}

/// One page of entries, by id.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelPage {
    /// The entries.
    pub models: Vec<ModelEntry>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// `POST /models/validate` reply for a valid entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Validated {
    /// Always true (an invalid entry is a 422 with its problems).
    pub valid: bool,
    /// The entry as it would be stored (normalised: prices as decimal strings, every key).
    pub entry: ModelEntry,
}

/// `GET /api/v1/models`
#[utoipa::path(get, path = "/api/v1/models", tag = "catalog", params(ModelQuery),
    responses((status = 200, body = ModelPage), (status = 400)))]
pub async fn list(
    State(state): State<ControlState>,
    _: Operator,
    Query(q): Query<ModelQuery>,
) -> Result<Json<ModelPage>, ApiError> {
    let filter = CatalogFilter { provider: q.provider, kind: q.kind, q: q.q, cursor: q.cursor, limit: q.limit };
    let page = state.plane.store().catalog().list(&filter).await?;
    let models = page.rows.into_iter().map(|r| catalog::decode(r).map(|s| doc(&s.entry))).collect::<Result<_, _>>()?;
    Ok(Json(ModelPage { models, next_cursor: page.next_cursor }))
}

/// `GET /api/v1/models/{provider}/{name}`: the entry itself, with its `ETag`.
#[utoipa::path(get, path = "/api/v1/models/{provider}/{name}", tag = "catalog",
    responses((status = 200, body = ModelEntry), (status = 404)))]
pub async fn get_one(
    State(state): State<ControlState>,
    _: Operator,
    Path((provider, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = format!("{provider}/{name}");
    let stored = catalog::get(&state, &id).await?.ok_or_else(|| missing(&id))?;
    Ok(tagged(stored.version, doc(&stored.entry)))
}

/// `PUT /api/v1/models/{provider}/{name}`: create (`If-None-Match: *`) or replace
/// (`If-Match`).
#[utoipa::path(put, path = "/api/v1/models/{provider}/{name}", tag = "catalog", request_body = ModelEntry,
    responses((status = 200, body = ModelEntry), (status = 201, body = ModelEntry), (status = 400), (status = 412),
        (status = 422), (status = 428)))]
pub async fn put(
    State(state): State<ControlState>,
    Writer(op): Writer,
    Path((provider, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: RawJson,
) -> Result<Response, ApiError> {
    let id = format!("{provider}/{name}");
    let current = catalog::get(&state, &id).await?;
    let expect = catalog::precondition(&headers, &id, current.as_ref().map(|s| s.version))?;
    let mut value = json_value(&body.checked()?)?;
    if let Some(obj) = value.as_object_mut() {
        // The identity may be left out: the URL states it.
        obj.entry("id").or_insert_with(|| id.clone().into());
        obj.entry("provider").or_insert_with(|| provider.clone().into());
        obj.entry("name").or_insert_with(|| name.clone().into());
    }
    let incoming = shape(value)?;
    let before = current.as_ref().map(|s| &s.entry);
    let entry = switchyard_catalog::write::prepare_put(&id, incoming, before, now())
        .map_err(|p| ApiError::invalid_entry(format!("catalog entry `{id}` is invalid"), p))?;
    if let Some(same) = current.as_ref().filter(|s| s.entry == entry) {
        return Ok(tagged(same.version, doc(&same.entry)));
    }
    let action = if current.is_some() { "model.update" } else { "model.create" };
    let change = Change { actor: &op.name, action, reason: "" };
    let stored = catalog::write(&state, change, &entry, before, expect).await?;
    catalog::published(&state).await;
    let mut resp = tagged(stored.version, doc(&stored.entry));
    if current.is_none() {
        *resp.status_mut() = StatusCode::CREATED;
    }
    Ok(resp)
}

/// `DELETE /api/v1/models/{provider}/{name}` (`If-Match` required).
#[utoipa::path(delete, path = "/api/v1/models/{provider}/{name}", tag = "catalog",
    responses((status = 204), (status = 404), (status = 412), (status = 428)))]
pub async fn remove(
    State(state): State<ControlState>,
    Writer(op): Writer,
    Path((provider, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let id = format!("{provider}/{name}");
    if !headers.contains_key(axum::http::header::IF_MATCH) {
        return Err(ApiError::EntryPreconditionRequired(id));
    }
    let stored = catalog::get(&state, &id).await?.ok_or_else(|| missing(&id))?;
    catalog::precondition(&headers, &id, Some(stored.version))?;
    catalog::delete(&state, Change { actor: &op.name, action: "model.delete", reason: "" }, &stored).await?;
    catalog::published(&state).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/models/validate`: every problem of an entry, nothing stored.
#[utoipa::path(post, path = "/api/v1/models/validate", tag = "catalog", request_body = ModelEntry,
    responses((status = 200, body = Validated), (status = 400), (status = 422)))]
pub async fn validate(_: Writer, body: RawJson) -> Result<Json<Validated>, ApiError> {
    let value = json_value(&body.checked()?)?;
    let entry = shape(value)?;
    entry.validate().map_err(|p| ApiError::invalid_entry(format!("catalog entry `{}` is invalid", entry.id), p))?;
    Ok(Json(Validated { valid: true, entry: doc(&entry) }))
}

/// `GET /api/v1/models/schema.json`: the entry's JSON Schema (draft 2020-12).
#[utoipa::path(get, path = "/api/v1/models/schema.json", tag = "catalog",
    responses((status = 200, content_type = "application/schema+json")))]
pub async fn schema(_: Operator) -> Response {
    let mut resp = Json(switchyard_catalog::entry_schema()).into_response();
    resp.headers_mut()
        .insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/schema+json"));
    resp
}

/// The body as JSON (400 when it is not JSON at all).
pub fn json_value(bytes: &[u8]) -> Result<serde_json::Value, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest(format!("malformed JSON body: {e}")))
}

/// The body as an entry's shape (422 with the path of the first key that does not fit).
fn shape(value: serde_json::Value) -> Result<CatalogEntry, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        ApiError::invalid_entry(
            "the catalog entry does not fit the schema",
            vec![Problem::new(path, e.into_inner().to_string())],
        )
    })
}

/// An entry as the API shows it.
pub fn doc(entry: &CatalogEntry) -> ModelEntry {
    match catalog::json(Some(entry)) {
        serde_json::Value::Object(fields) => ModelEntry { fields },
        _ => ModelEntry { fields: serde_json::Map::new() },
    }
}

/// The 404 for an entry that does not exist.
pub fn missing(id: &str) -> ApiError {
    ApiError::NotFound(format!("catalog entry `{id}` does not exist"))
}

/// Now, for the entry's timestamps.
pub fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}
