//! Admin authentication: `authorization: Bearer <token>` (any case of `Bearer`) → the
//! token's name and role.
//!
//! Tokens are configured as sha256 hashes (`admin.tokens`), read from the config snapshot
//! serving at the time of the request, so adding or revoking a token is a config change
//! like any other. Every configured hash is compared in constant time. Without a
//! configured token nothing is allowed. Viewers may only use safe methods.

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
                found = Some(Operator { name: t.name.clone(), role: t.role });
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
    Operator::from_parts(&parts, &state)?;
    Ok(next.run(axum::extract::Request::from_parts(parts, body)).await)
}
