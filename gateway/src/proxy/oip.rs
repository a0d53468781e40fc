//! Open Inference Protocol v2 routes answered without an upstream (SPEC §3).
//!
//! `POST /v2/models/{group}[/versions/{v}]/infer` is an inference request like any other
//! ([`OipRoute::Infer`], served by all seven phases). The rest are answered here: `GET
//! /v2` (server metadata), `/v2/health/live`, `/v2/health/ready` (503 while starting or
//! draining), `/v2/models/{group}[/versions/{v}]` (model metadata) and
//! `/v2/models/{group}/ready`. Model routes authenticate like inference and answer 404
//! for groups the client may not see. A group's model metadata carries its champion's
//! tensors (`inputs`, `outputs`: name, datatype, shape) from the champion's catalog entry
//! (`io_schema`, SPEC §8); empty lists when the catalog does not know them. Errors are OIP-shaped (`{"error": "<message>"}`).

use http::{HeaderMap, Method, Response, StatusCode};
use percent_encoding::percent_decode_str;
use serde_json::json;

use super::authenticate::authenticate;
use super::route::sanitize;
use super::{GatewayBody, RequestCtx, Shared};
use crate::error::GatewayError;

/// An OIP route.
pub enum OipRoute {
    /// `GET /v2`.
    Server,
    /// `GET /v2/health/live`.
    Live,
    /// `GET /v2/health/ready`.
    Ready,
    /// `GET /v2/models/{group}[/versions/{v}]`.
    Model(String),
    /// `GET /v2/models/{group}/ready`.
    ModelReady(String),
    /// `POST /v2/models/{group}[/versions/{v}]/infer`.
    Infer(String),
}

// === impl OipRoute ===

impl OipRoute {
    /// Parses a `/v2…` path.
    pub fn parse(method: &Method, path: &str) -> Result<Self, GatewayError> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(2).collect();
        let get = method == Method::GET;
        match segments.as_slice() {
            [] if get => Ok(Self::Server),
            ["health", "live"] if get => Ok(Self::Live),
            ["health", "ready"] if get => Ok(Self::Ready),
            ["models", group, "infer"] | ["models", group, "versions", _, "infer"] => {
                if method == Method::POST {
                    Ok(Self::Infer(decode(group)))
                } else {
                    Err(GatewayError::MethodNotAllowed("POST"))
                }
            }
            ["models", group] | ["models", group, "versions", _] if get => Ok(Self::Model(decode(group))),
            ["models", group, "ready"] if get => Ok(Self::ModelReady(decode(group))),
            [] | ["health", "live" | "ready"] | ["models", ..] => Err(GatewayError::MethodNotAllowed("GET")),
            _ => Err(GatewayError::NotFound(sanitize(path))),
        }
    }
}

/// Answers an OIP route other than `infer`.
pub fn answer(
    shared: &Shared,
    ctx: &mut RequestCtx,
    route: OipRoute,
    headers: &HeaderMap,
) -> Result<Response<GatewayBody>, GatewayError> {
    let body = match route {
        OipRoute::Server => json!({"name": "switchyard", "version": env!("CARGO_PKG_VERSION"), "extensions": []}),
        OipRoute::Live => json!({"live": true}),
        OipRoute::Ready => {
            let ready = shared.is_ready();
            let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            return Ok(GatewayBody::json(status, json!({"ready": ready}).to_string()));
        }
        OipRoute::Model(group) => {
            visible(ctx, headers, &group)?;
            // The champion's tensors from its catalog entry (SPEC §8); none known: empty.
            let io = ctx.group.as_ref().and_then(|g| g.champion().entry.as_ref()).and_then(|e| e.io_schema.as_ref());
            let (inputs, outputs) = io.map_or((json!([]), json!([])), |io| (json!(io.inputs), json!(io.outputs)));
            json!({
                "name": group, "versions": [ctx.table.version.to_string()], "platform": "switchyard",
                "inputs": inputs, "outputs": outputs,
            })
        }
        OipRoute::ModelReady(group) => {
            visible(ctx, headers, &group)?;
            json!({"name": group, "ready": shared.is_ready()})
        }
        OipRoute::Infer(_) => return Err(GatewayError::MethodNotAllowed("POST")),
    };
    Ok(GatewayBody::json(StatusCode::OK, body.to_string()))
}

/// Authenticates and checks that the client may see `group` (404 otherwise).
fn visible(ctx: &mut RequestCtx, headers: &HeaderMap, group: &str) -> Result<(), GatewayError> {
    authenticate(ctx, headers)?;
    match ctx.table.group(group) {
        Some(g) if ctx.client.as_ref().is_none_or(|c| c.may_use(group, g.tenant.as_deref())) => {
            ctx.group = Some(g.clone());
            Ok(())
        }
        _ => Err(GatewayError::UnknownGroup(sanitize(group))),
    }
}

/// Percent-decodes a path segment.
fn decode(segment: &str) -> String {
    percent_decode_str(segment).decode_utf8_lossy().into_owned()
}
