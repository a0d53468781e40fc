//! `GET /openapi.json`: the control API's OpenAPI 3 document, generated from the route
//! annotations in [`crate::routes`] (utoipa), so it cannot drift from the code.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Switchyard control API", description = "Operate model groups, run champion/challenger experiments, browse inferences, keep the model catalog, run fine-tuning jobs."),
    paths(
        routes::groups::list, routes::groups::get_one, routes::groups::create, routes::groups::replace,
        routes::groups::remove, routes::groups::weights, routes::groups::promote, routes::groups::pause,
        routes::groups::add_member, routes::groups::remove_member,
        routes::config::versions, routes::config::version_text, routes::config::rollback, routes::config::audit, routes::cluster::cluster,
        routes::providers::list, routes::providers::get_one, routes::providers::put, routes::providers::remove,
        routes::clients::list, routes::clients::create, routes::clients::edit, routes::clients::revoke,
        routes::rate_limits::get, routes::rate_limits::put,
        routes::insights::experiment, routes::insights::explanations, routes::insights::list_inferences,
        routes::insights::get_inference, routes::series::series,
        routes::models::list, routes::models::get_one, routes::models::put, routes::models::remove,
        routes::models::validate, routes::models::schema,
        routes::import::discover, routes::import::import_provider, routes::import::import_file,
        routes::transform::transform,
        routes::jobs::create, routes::jobs::list, routes::jobs::get_one, routes::jobs::events,
        routes::jobs::start, routes::jobs::cancel,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Serves the document.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
