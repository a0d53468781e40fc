//! Route table of the control API. Handlers live in one module per resource.

pub mod clients;
pub mod cluster;
pub mod config;
pub mod groups;
pub mod import;
pub mod insights;
pub mod jobs;
pub mod models;
pub mod providers;
pub mod rate_limits;
pub mod series;
pub mod transform;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{middleware, Json, Router};
use serde::Serialize;

use crate::auth::require_token;
use crate::error::ApiError;
use crate::{ControlState, MAX_BODY_BYTES};

pub use clients::{ClientCreated, ClientEdit, ClientView, NewClient};
pub use config::{RollbackRequest, VersionsView};
pub use groups::{GroupView, MemberName, NewGroup, WeightsRequest};
pub use providers::{ProviderView, SecretView};

/// Builds the router.
pub fn router(state: ControlState) -> Router {
    let api = Router::new()
        .route("/groups", get(groups::list).post(groups::create))
        .route("/groups/{group}", get(groups::get_one).put(groups::replace).delete(groups::remove))
        .route("/groups/{group}/weights", put(groups::weights))
        .route("/groups/{group}/promote", post(groups::promote))
        .route("/groups/{group}/pause", post(groups::pause))
        .route("/groups/{group}/members", post(groups::add_member))
        .route("/groups/{group}/members/{member}", delete(groups::remove_member))
        .route("/groups/{group}/experiment", get(insights::experiment))
        .route("/groups/{group}/explanations", get(insights::explanations))
        .route("/groups/{group}/series", get(series::series))
        .route("/inferences", get(insights::list_inferences))
        .route("/inferences/{id}", get(insights::get_inference))
        .route("/config/versions", get(config::versions))
        .route("/config/versions/{version}", get(config::version_text))
        .route("/config/rollback", post(config::rollback))
        .route("/providers", get(providers::list))
        .route("/providers/{provider}", get(providers::get_one).put(providers::put).delete(providers::remove))
        .route("/providers/{provider}/discover", post(import::discover))
        .route("/clients", get(clients::list).post(clients::create))
        .route("/clients/{client}", put(clients::edit).delete(clients::revoke))
        .route("/models", get(models::list))
        .route("/models/schema.json", get(models::schema))
        .route("/models/validate", post(models::validate))
        .route("/models/import", post(import::import_provider))
        .route("/models/transform", post(transform::transform))
        .route("/models/import-file", post(import::import_file).layer(DefaultBodyLimit::max(import::MAX_FILE_BYTES)))
        .route("/models/{provider}/{*name}", get(models::get_one).put(models::put).delete(models::remove))
        .route("/jobs", get(jobs::list).post(jobs::create))
        .route("/jobs/{id}", get(jobs::get_one))
        .route("/jobs/{id}/events", get(jobs::events))
        .route("/jobs/{id}/start", post(jobs::start))
        .route("/jobs/{id}/cancel", post(jobs::cancel))
        .route("/audit", get(config::audit))
        .route("/cluster", get(cluster::cluster))
        .route("/rate-limits", get(rate_limits::get).put(rate_limits::put))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .nest("/api/v1", api)
        .route("/openapi.json", get(crate::openapi::document))
        .merge(crate::console::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Unknown paths answer in the API's error shape (axum's default is an empty 404).
async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", uri.path()))
}

/// A known path with another method: 405 in the API's error shape (axum adds `Allow`).
async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}

/// A JSON response carrying `ETag: "<version>"`.
pub fn tagged<T: Serialize>(version: u64, body: T) -> Response {
    let mut resp = Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}
