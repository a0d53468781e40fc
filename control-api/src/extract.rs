//! Request extractors with the control API's error shapes: a JSON body whose syntax and
//! shape errors are 400 (not axum's plain-text rejections) and whose keys may not repeat,
//! and `If-Match` ([`if_match`]).

mod if_match;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::ControlState;

pub use if_match::Condition;

/// A JSON body; malformed or with a repeated key → 400, too large → 413.
pub struct Body<T>(pub T);

/// The version a write is based on, from `If-Match` (required on every write): the
/// version it names, or [`switchyard_config::ANY_VERSION`] for `*`. A well-formed header
/// that names no current version is refused here with 412, before the body is read.
pub struct IfMatch(pub u64);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = RawJson::from_request(req, state).await?.checked()?;
        axum::Json::<T>::from_bytes(&bytes)
            .map(|axum::Json(v)| Body(v))
            .map_err(|e: JsonRejection| ApiError::BadRequest(format!("malformed JSON body: {}", e.body_text())))
    }
}

/// A body read within the limit (413 beyond) but not yet checked: for routes that
/// evaluate a precondition before they look at the body ([`RawJson::checked`]).
pub struct RawJson {
    json: bool,
    bytes: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for RawJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = is_json(req.headers());
        let bytes = Bytes::from_request(req, state).await.map_err(|e: BytesRejection| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge
            } else {
                ApiError::BadRequest(format!("cannot read the body: {}", e.body_text()))
            }
        })?;
        Ok(RawJson { json, bytes })
    }
}

impl RawJson {
    /// Whether no body was sent.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The body, when it was sent as JSON, repeated keys and all: for a document whose
    /// format allows them (a LiteLLM catalog file repeats keys; its reader keeps the
    /// first). Whether it is well-formed is the caller's to check.
    pub fn json(self) -> Result<Bytes, ApiError> {
        if !self.json {
            return Err(ApiError::BadRequest("send the body as JSON with `content-type: application/json`".into()));
        }
        Ok(self.bytes)
    }

    /// The body, when it was sent as JSON and repeats no key (else 400). Whether it is
    /// well-formed is the caller's to check.
    pub fn checked(self) -> Result<Bytes, ApiError> {
        if !self.json {
            return Err(ApiError::BadRequest("send the body as JSON with `content-type: application/json`".into()));
        }
        if let Err(dup) = switchyard_config::dupes::check(&mut serde_json::Deserializer::from_slice(&self.bytes)) {
            if dup.message.starts_with("duplicate key") {
                return Err(ApiError::BadRequest(format!("malformed JSON body: {}: {}", dup.path, dup.message)));
            }
        }
        Ok(self.bytes)
    }
}

/// Whether the request says its body is JSON (`application/json` or `application/*+json`).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl FromRequestParts<ControlState> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ControlState) -> Result<Self, Self::Rejection> {
        let condition = Condition::from_headers(&parts.headers)?;
        let (_, current) = state.editor.snapshot();
        condition.expected(current).map(IfMatch)
    }
}
