//! Admin authentication: `authorization: Bearer <token>` (any case of `Bearer`) → the
//! token's name and role.
//!
//! Tokens are configured as sha256 hashes (`admin.tokens`), read from the config snapshot
//! serving at the time of the request, so adding or revoking a token is a config change
//! like any other. Every configured hash is compared in constant time. Without a
//! configured token nothing is allowed. Viewers may only use safe methods.
//!
//! Tenant scoping (first slice): a token with a `tenant` reaches only
//! [`TENANT_ROUTES`] — its tenant's groups, their experiments, and inferences whose
//! record carries its tenant — and gets 404 for every other route, as for another
//! tenant's objects, so nothing tells it what exists elsewhere.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, Method};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use switchyard_config::schema::AdminRole;

use crate::error::ApiError;
use crate::ControlState;

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Operator {
    /// The token's configured name (recorded in the audit log).
    pub name: String,
    /// What it may do.
    pub role: AdminRole,
    /// Its tenant; `None`: every tenant.
    pub tenant: Option<String>,
}

/// The routes (method, path under `/api/v1`, `*` one segment) a tenant-scoped token may use.
pub const TENANT_ROUTES: &[(&str, &str)] = &[
    ("GET", "/groups"),
    ("GET", "/groups/*"),
    ("GET", "/groups/*/experiment"),
    ("GET", "/inferences"),
    ("GET", "/inferences/*"),
];

/// Whether `method` and `path` (with or without `/api/v1`) are one of [`TENANT_ROUTES`].
fn tenant_route(method: &Method, path: &str) -> bool {
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    TENANT_ROUTES.iter().any(|(m, pattern)| {
        *m == method.as_str() && {
            let (mut want, mut got) = (pattern.split('/'), path.split('/'));
            loop {
                match (want.next(), got.next()) {
                    (None, None) => break true,
                    (Some("*"), Some(seg)) if !seg.is_empty() => {}
                    (Some(w), Some(seg)) if w == seg => {}
                    _ => break false,
                }
            }
        }
    })
}

/// An operator allowed to write.
#[derive(Debug, Clone)]
pub struct Writer(pub Operator);

// === impl Operator ===

impl Operator {
    fn from_parts(parts: &Parts, state: &ControlState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                // The scheme is case-insensitive (RFC 9110 §11.1).
                let (scheme, token) = v.trim_start().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(token)
            })
            .map(str::trim)
            .ok_or(ApiError::Unauthenticated)?;
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let (config, _) = state.editor.snapshot();
        let mut found = None;
        for t in &config.admin.tokens {
            let mut want = [0u8; 32];
            if hex::decode_to_slice(&t.token_sha256, &mut want).is_ok() && bool::from(want.ct_eq(&hash)) {
                found = Some(Operator { name: t.name.clone(), role: t.role, tenant: t.tenant.clone() });
            }
        }
        let op = found.ok_or(ApiError::Unauthenticated)?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe && op.role != AdminRole::Admin {
            return Err(ApiError::Forbidden);
        }
        Ok(op)
    }
}

impl Operator {
    /// Whether this operator may see `group` (unscoped, or the group is its tenant's).
    pub fn sees_group(&self, group: &switchyard_config::schema::GroupConfig) -> bool {
        self.tenant.is_none() || self.tenant == group.tenant
    }
}

impl FromRequestParts<ControlState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ControlState) -> Result<Self, Self::Rejection> {
        Self::from_parts(parts, state)
    }
}

impl FromRequestParts<ControlState> for Writer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ControlState) -> Result<Self, Self::Rejection> {
        let op = Self::from_parts_inner(parts, state)?;
        if op.role != AdminRole::Admin {
            return Err(ApiError::Forbidden);
        }
        Ok(Writer(op))
    }
}

impl Writer {
    fn from_parts_inner(parts: &Parts, state: &ControlState) -> Result<Operator, ApiError> {
        Operator::from_parts(parts, state)
    }
}

/// Middleware: every route requires a valid token (handlers then extract it again cheaply).
pub async fn require_token(
    State(state): State<ControlState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<axum::response::Response, ApiError> {
    let (parts, body) = req.into_parts();
    let op = Operator::from_parts(&parts, &state)?;
    if op.tenant.is_some() && !tenant_route(&parts.method, parts.uri.path()) {
        return Err(ApiError::NotFound("no such route".into()));
    }
    Ok(next.run(axum::extract::Request::from_parts(parts, body)).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_routes_match_whole_segments() {
        for ok in ["/groups", "/groups/g", "/api/v1/groups/g/experiment", "/inferences", "/inferences/abc"] {
            assert!(tenant_route(&Method::GET, ok), "{ok}");
        }
        for no in ["/groups/g/explanations", "/groups//experiment", "/audit", "/config/versions", "/inferencesx", "/"] {
            assert!(!tenant_route(&Method::GET, no), "{no}");
        }
        assert!(!tenant_route(&Method::PUT, "/groups/g"));
    }
}
