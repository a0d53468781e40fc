//! The admin listener: `/metrics`, `/healthz`, `/readyz`, and whatever the binary mounts
//! (the control API under `/api/` and `/openapi.json`, the operator console under `/ui/`).
//!
//! `/healthz` answers 200 while the process runs; `/readyz` answers 200 only while the
//! data plane takes traffic (503 while starting and while draining), so a load balancer
//! stops sending before shutdown completes. Any other path is 404 and another method on
//! these three is 405 (with `Allow: GET`), both as the control API's JSON error
//! `{"error":{"message","code"}}`.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use prometheus::{Encoder, Registry, TextEncoder};
use tower::util::BoxCloneSyncService;
use tower::ServiceExt;

use crate::proxy::Shared;

/// A boxed error for admin bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The admin listener's response body.
pub type AdminBody = UnsyncBoxBody<Bytes, BoxError>;
/// A service mounted on the admin listener (the control API).
pub type AdminService = BoxCloneSyncService<Request<Incoming>, Response<AdminBody>, std::convert::Infallible>;

/// Boxes any tower service answering HTTP (e.g. an axum router) for mounting.
pub fn mountable<S, B>(service: S) -> AdminService
where
    S: tower::Service<Request<Incoming>, Response = Response<B>, Error = std::convert::Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    BoxCloneSyncService::new(
        service.map_response(|resp: Response<B>| resp.map(|b| b.map_err(Into::into).boxed_unsync())),
    )
}

/// Handles one admin request.
pub async fn handle(
    shared: Arc<Shared>,
    registry: Registry,
    mounted: Option<AdminService>,
    req: Request<Incoming>,
) -> Response<AdminBody> {
    let path = req.uri().path();
    if let Some(service) = mounted {
        if path.starts_with("/api/") || path == "/openapi.json" || path == "/ui" || path.starts_with("/ui/") {
            return match service.oneshot(req).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            };
        }
    }
    builtin(&shared, &registry, &req).map(|b| b.map_err(|never| match never {}).boxed_unsync())
}

fn builtin(shared: &Shared, registry: &Registry, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => {
            let mut buf = Vec::with_capacity(16 * 1024);
            let encoder = TextEncoder::new();
            if let Err(error) = encoder.encode(&registry.gather(), &mut buf) {
                tracing::error!(%error, "metrics encoding failed");
                return text(StatusCode::INTERNAL_SERVER_ERROR, "metrics encoding failed\n");
            }
            let mut resp = Response::new(Full::new(Bytes::from(buf)));
            resp.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
            resp
        }
        (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n"),
        (&Method::GET, "/readyz") => {
            if shared.is_ready() {
                text(StatusCode::OK, "ready\n")
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
            }
        }
        (_, "/metrics" | "/healthz" | "/readyz") => {
            let mut resp = json_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "use GET");
            resp.headers_mut().insert(ALLOW, HeaderValue::from_static("GET"));
            resp
        }
        (method, path) => json_error(StatusCode::NOT_FOUND, "not_found", &format!("no route for {method} {path}")),
    }
}

/// An error in the control API's shape.
fn json_error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "error": { "message": message, "code": code } }).to_string();
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}
