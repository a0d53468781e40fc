//! Request extractors with the control API's error shapes: a JSON body whose syntax and
//! shape errors are 400 (not axum's plain-text rejections), and `If-Match`.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body; malformed → 400, too large → 413.
pub struct Body<T>(pub T);

/// The version named by `If-Match` (required on every write).
pub struct IfMatch(pub u64);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(JsonRejection::BytesRejection(e)) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::TooLarge)
            }
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(ApiError::BadRequest("send the body as JSON with `content-type: application/json`".into()))
            }
            Err(e) => Err(ApiError::BadRequest(format!("malformed JSON body: {}", e.body_text()))),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.headers.get(header::IF_MATCH).ok_or(ApiError::PreconditionRequired)?;
        let text = raw.to_str().map_err(|_| ApiError::BadRequest("If-Match must be a config version".into()))?;
        let text = text.trim().trim_start_matches("W/").trim_matches('"');
        text.parse()
            .map(IfMatch)
            .map_err(|_| ApiError::BadRequest("If-Match must be a config version such as \"42\"".into()))
    }
}
