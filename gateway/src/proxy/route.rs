//! Which data-plane route a request takes (SPEC §3), decided from its method and path
//! alone, before anything is read. Inference routes go through all seven phases; the
//! rest are answered by their own modules ([`super::models`], [`super::feedback`],
//! [`super::oip`]). The route also fixes the wire format errors are answered in.

use http::Method;

use super::oip::OipRoute;
use crate::error::GatewayError;
use crate::providers::{Endpoint, WireFormat};

/// What a request asks for.
pub enum Route {
    /// An inference request.
    Infer(Ingress),
    /// `GET /v1/models`.
    Models,
    /// `POST /v1/feedback`.
    Feedback,
    /// An OIP route answered without an upstream (health, metadata).
    Oip(OipRoute),
    /// No such route, or the wrong method.
    Refused(GatewayError),
}

/// What the route says about an inference request.
pub struct Ingress {
    /// The operation (and wire format).
    pub endpoint: Endpoint,
    /// The group named by the path (OIP), when the body does not name one.
    pub path_group: Option<String>,
}

// === impl Route ===

impl Route {
    /// OIP's liveness and readiness probes, answered even while not ready.
    pub fn is_health(&self) -> bool {
        matches!(self, Route::Oip(OipRoute::Live | OipRoute::Ready))
    }
}

/// The route and the client's wire format.
pub fn route(method: &Method, path: &str) -> (WireFormat, Route) {
    if path.starts_with("/v2") {
        let route = match OipRoute::parse(method, path) {
            Ok(OipRoute::Infer(group)) => {
                Route::Infer(Ingress { endpoint: Endpoint::OipInfer, path_group: Some(group) })
            }
            Ok(other) => Route::Oip(other),
            Err(e) => Route::Refused(e),
        };
        return (WireFormat::Oip, route);
    }
    let infer = |endpoint| Route::Infer(Ingress { endpoint, path_group: None });
    let route = match (method, path) {
        (&Method::POST, "/v1/chat/completions") => infer(Endpoint::ChatCompletions),
        (&Method::POST, "/v1/completions") => infer(Endpoint::Completions),
        (&Method::POST, "/v1/embeddings") => infer(Endpoint::Embeddings),
        (&Method::POST, "/v1/messages") => infer(Endpoint::Messages),
        (&Method::GET, "/v1/models") => Route::Models,
        (&Method::POST, "/v1/feedback") => Route::Feedback,
        (_, "/v1/chat/completions" | "/v1/completions" | "/v1/embeddings" | "/v1/feedback" | "/v1/messages") => {
            Route::Refused(GatewayError::MethodNotAllowed("POST"))
        }
        (_, "/v1/models") => Route::Refused(GatewayError::MethodNotAllowed("GET")),
        (_, path) => Route::Refused(GatewayError::NotFound(sanitize(path))),
    };
    let format = if path == "/v1/messages" { WireFormat::Anthropic } else { WireFormat::OpenAi };
    (format, route)
}

/// A client-supplied string safe to echo: printable ASCII, at most 64 characters.
pub fn sanitize(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_graphic()).take(64).collect()
}
