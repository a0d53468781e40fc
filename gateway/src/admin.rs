//! The admin listener: `/metrics`, `/healthz`, `/readyz` (and later the control API).
//!
//! `/healthz` answers 200 while the process runs; `/readyz` answers 200 only while the
//! data plane takes traffic (503 while starting and while draining), so a load balancer
//! stops sending before shutdown completes.

use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use prometheus::{Encoder, Registry, TextEncoder};

use crate::proxy::Shared;

/// Handles one admin request.
pub async fn handle(shared: Arc<Shared>, registry: Registry, req: Request<Incoming>) -> Response<Full<Bytes>> {
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
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}
