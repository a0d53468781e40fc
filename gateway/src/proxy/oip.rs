//! Open Inference Protocol v2 ingress routes (SPEC §3).
//!
//! `POST /v2/models/{group}[/versions/{v}]/infer` is an inference request like any other
//! (the group comes from the path; [`super::forward`] serves it). The rest are answered
//! here: `GET /v2` (server metadata), `/v2/health/live`, `/v2/health/ready` (503 while
//! starting or draining), `/v2/models/{group}[/versions/{v}]` (model metadata) and
//! `/v2/models/{group}/ready`. Model routes authenticate like inference and answer 404
//! for groups the client may not see. Errors are OIP-shaped (`{"error": "<message>"}`).

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode};
use serde_json::json;

use super::{authenticate, json_response, sanitize, GatewayBody, Shared};
use crate::error::GatewayError;

/// What an OIP path asks for.
pub(super) enum Routed {
    /// An inference request for this group.
    Infer(String),
    /// A complete answer.
    Answer(Response<GatewayBody>),
    /// An error to render.
    Fail(GatewayError),
}

/// Routes one `/v2...` request.
pub(super) fn route(shared: &Shared, method: &Method, path: &str, headers: &HeaderMap) -> Routed {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(2).collect();
    let get = method == Method::GET;
    match segments.as_slice() {
        [] if get => ok(json!({"name": "switchyard", "version": env!("CARGO_PKG_VERSION"), "extensions": []})),
        ["health", "live"] if get => ok(json!({"live": true})),
        ["health", "ready"] if get => {
            let ready = shared.is_ready();
            let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            Routed::Answer(json_response(status, Bytes::from(json!({"ready": ready}).to_string())))
        }
        ["models", group, "infer"] | ["models", group, "versions", _, "infer"] => {
            if method == Method::POST {
                Routed::Infer(decode(group))
            } else {
                Routed::Fail(GatewayError::MethodNotAllowed("POST"))
            }
        }
        ["models", group] | ["models", group, "versions", _] if get => match visible(shared, headers, &decode(group)) {
            Ok(version) => ok(json!({
                "name": decode(group), "versions": [version.to_string()], "platform": "switchyard",
                "inputs": [], "outputs": [],
            })),
            Err(e) => Routed::Fail(e),
        },
        ["models", group, "ready"] if get => match visible(shared, headers, &decode(group)) {
            Ok(_) => ok(json!({"name": decode(group), "ready": shared.is_ready()})),
            Err(e) => Routed::Fail(e),
        },
        [] | ["health", "live" | "ready"] | ["models", ..] => Routed::Fail(GatewayError::MethodNotAllowed("GET")),
        _ => Routed::Fail(GatewayError::NotFound(sanitize(path))),
    }
}

/// The table version when the client may see `group`.
fn visible(shared: &Shared, headers: &HeaderMap, group: &str) -> Result<u64, GatewayError> {
    let table = shared.store.current();
    let client = authenticate(&table, headers)?;
    match table.group(group) {
        Some(_) if client.is_none_or(|c| c.may_use(group)) => Ok(table.version),
        _ => Err(GatewayError::UnknownGroup(sanitize(group))),
    }
}

/// Percent-decodes a path segment (group names are printable ASCII).
fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn ok(v: serde_json::Value) -> Routed {
    Routed::Answer(json_response(StatusCode::OK, Bytes::from(v.to_string())))
}
