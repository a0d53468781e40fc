//! `GET /v1/models`: the groups this client may use, as an OpenAI model list.

use http::{HeaderMap, Response, StatusCode};

use super::authenticate::authenticate;
use super::{GatewayBody, RequestCtx};
use crate::error::GatewayError;

/// Lists the client's groups.
pub fn list(ctx: &mut RequestCtx, headers: &HeaderMap) -> Result<Response<GatewayBody>, GatewayError> {
    authenticate(ctx, headers)?;
    let client = ctx.client.as_deref();
    let mut names: Vec<&str> = ctx
        .table
        .groups()
        .filter(|g| client.is_none_or(|c| c.may_use(&g.name, g.tenant.as_deref())))
        .map(|g| g.name.as_str())
        .collect();
    names.sort_unstable();
    let data: Vec<_> = names
        .iter()
        .map(|n| serde_json::json!({"id": n, "object": "model", "created": 0, "owned_by": "switchyard"}))
        .collect();
    let body = serde_json::json!({"object": "list", "data": data}).to_string();
    Ok(GatewayBody::json(StatusCode::OK, body))
}
