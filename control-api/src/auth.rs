//! Admin authentication: `authorization: Bearer <token>` (any case of `Bearer`), or a
//! console session cookie ([`crate::console::session`]) → the token's name and role.
//!
//! Tokens are configured as sha256 hashes (`admin.tokens`), read from the config snapshot
//! serving at the time of the request, so adding or revoking a token is a config change
//! like any other — a console session lasts only while its token is still configured, and
//! takes the token's current role. Every configured hash is compared in constant time.
//! Without a configured token nothing is allowed. Viewers may only use safe methods.
//!
//! A session authenticates a write only with the session's CSRF token in
//! `x-csrf-token` (403 `csrf_required` otherwise): the console's writes take exactly the
//! API's handlers, validation, `If-Match` and audit. The [`require_token`] middleware
//! resolves the operator once and leaves it in the request's extensions for the
//! handlers' extractors.
//!
//! Tenant scoping: a token with a `tenant` reaches only [`TENANT_ROUTES`] and gets 404 for
//! every other route, as for another tenant's objects, so nothing tells it what exists
//! elsewhere. Within those routes the handlers confine it to its tenant's objects:
//!
//! | route | a tenant token |
//! |---|---|
//! | `GET /groups`, `GET /groups/{g}`, `…/experiment`, `…/explanations` | its tenant's groups only (a group of another tenant or of none: the 404 of a missing group); the experiment report and the feature importance count only its tenant's clients' requests (explanations through their requests' records) |
//! | `POST /groups`, `PUT/DELETE /groups/{g}`, `…/weights`, `…/promote`, `…/pause`, `…/members[/{m}]` | admins: its tenant's groups, through the same validated, `If-Match`-guarded, audited edit; a new or replaced group takes its tenant (another tenant: 422) |
//! | `GET/POST /clients`, `PUT/DELETE /clients/{c}` | its tenant's clients (tenant, else name); creates only clients of its tenant; writes for admins |
//! | `GET /inferences`, `GET /inferences/{id}` | records whose `tenant` is its own, on every page, under every filter and cursor |
//! | `GET /audit` | entries whose `tenant` is its own (edits of its tenant's groups and clients) |
//! | `GET /providers`, `GET /providers/{p}` | read, as a viewer sees them (global; never a secret, no last four characters); writes and `…/discover` are unscoped admins' |
//! | `GET /models/schema.json` | read (a static schema) |
//! | `/config/versions…`, `/config/rollback` | 404: a version is the whole config, every tenant's (refused rather than redacted) |
//! | `/jobs…` | jobs whose `tenant` is its own (others: the 404 of a missing job); a job it creates takes its tenant and must name one of its groups (422 otherwise); writes for admins |
//! | `/models…` (catalog) | 404: catalog entries carry other tenants' fine-tunes |
//! | `/rate-limits`, `/cluster` | 404: rules name other tenants' clients and groups; the cluster (replica addresses, leases) is the operator's |

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, Method};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use switchyard_config::schema::AdminRole;

use crate::console::session;
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
    ("POST", "/groups"),
    ("GET", "/groups/*"),
    ("PUT", "/groups/*"),
    ("DELETE", "/groups/*"),
    ("PUT", "/groups/*/weights"),
    ("POST", "/groups/*/promote"),
    ("POST", "/groups/*/pause"),
    ("POST", "/groups/*/members"),
    ("DELETE", "/groups/*/members/*"),
    ("GET", "/groups/*/experiment"),
    ("GET", "/groups/*/explanations"),
    ("GET", "/jobs"),
    ("POST", "/jobs"),
    ("GET", "/jobs/*"),
    ("POST", "/jobs/*/start"),
    ("POST", "/jobs/*/cancel"),
    ("GET", "/jobs/*/events"),
    ("GET", "/clients"),
    ("POST", "/clients"),
    ("PUT", "/clients/*"),
    ("DELETE", "/clients/*"),
    ("GET", "/inferences"),
    ("GET", "/inferences/*"),
    ("GET", "/audit"),
    ("GET", "/providers"),
    ("GET", "/providers/*"),
    ("GET", "/models/schema.json"),
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
    /// Resolves the caller of `parts`: bearer token first, else the console session.
    pub async fn resolve(parts: &Parts, state: &ControlState) -> Result<Self, ApiError> {
        if let Some(op) = parts.extensions.get::<Operator>() {
            return Ok(op.clone());
        }
        let op = match bearer(parts) {
            Some(token) => Self::by_token(state, token).ok_or(ApiError::Unauthenticated)?,
            None => session::operator(parts, state).await?,
        };
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe && op.role != AdminRole::Admin {
            return Err(ApiError::Forbidden);
        }
        Ok(op)
    }

    /// The configured token whose hash is `sha256(token)`, when any.
    pub fn by_token(state: &ControlState, token: &str) -> Option<Self> {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let (config, _) = state.editor.snapshot();
        let mut found = None;
        for t in &config.admin.tokens {
            let mut want = [0u8; 32];
            if hex::decode_to_slice(&t.token_sha256, &mut want).is_ok() && bool::from(want.ct_eq(&hash)) {
                found = Some(Operator { name: t.name.clone(), role: t.role, tenant: t.tenant.clone() });
            }
        }
        found
    }

    /// The configured token named `name` (a session's), with its current role.
    pub fn by_name(state: &ControlState, name: &str) -> Option<Self> {
        let (config, _) = state.editor.snapshot();
        config.admin.tokens.iter().find(|t| t.name == name).map(|t| Operator {
            name: t.name.clone(),
            role: t.role,
            tenant: t.tenant.clone(),
        })
    }

    /// Whether this operator may see `group` (unscoped, or the group is its tenant's).
    pub fn sees_group(&self, group: &switchyard_config::schema::GroupConfig) -> bool {
        self.tenant.is_none() || self.tenant == group.tenant
    }

    /// Whether this operator may see an object of `tenant` (unscoped, or its own tenant).
    pub fn sees_tenant(&self, tenant: &str) -> bool {
        self.tenant.as_deref().is_none_or(|t| t == tenant)
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            // The scheme is case-insensitive (RFC 9110 §11.1).
            let (scheme, token) = v.trim_start().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)
        })
        .map(str::trim)
}

impl FromRequestParts<ControlState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ControlState) -> Result<Self, Self::Rejection> {
        Self::resolve(parts, state).await
    }
}

impl FromRequestParts<ControlState> for Writer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ControlState) -> Result<Self, Self::Rejection> {
        let op = Operator::resolve(parts, state).await?;
        if op.role != AdminRole::Admin {
            return Err(ApiError::Forbidden);
        }
        Ok(Writer(op))
    }
}

/// Middleware: every route requires a valid token or session (the operator is left in
/// the request's extensions for the handlers).
pub async fn require_token(
    State(state): State<ControlState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<axum::response::Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    let op = Operator::resolve(&parts, &state).await?;
    if op.tenant.is_some() && !tenant_route(&parts.method, parts.uri.path()) {
        return Err(ApiError::NotFound("no such route".into()));
    }
    parts.extensions.insert(op);
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
        for no in ["/groups/g/explanationsx", "/groups//experiment", "/config/versions", "/inferencesx", "/", "/models"]
        {
            assert!(!tenant_route(&Method::GET, no), "{no}");
        }
        assert!(tenant_route(&Method::PUT, "/groups/g"));
        assert!(!tenant_route(&Method::PUT, "/providers/p"));
        assert!(!tenant_route(&Method::POST, "/config/rollback"));
    }
}
