//! Control-API errors and their one mapping to HTTP.
//!
//! Bodies are `{"error":{"message","code"}}`. Validation failures carry every problem
//! with its key path (`problems: ["groups.g.members[1].weight: must be >= 0", …]`).
//! Messages never contain secrets: they are built from config paths, names and versions.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use switchyard_config::{ConfigError, EditError};

/// Everything a control-API request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or unknown bearer token (401).
    #[error("a valid admin bearer token is required")]
    Unauthenticated,
    /// A viewer tried to write (403).
    #[error("this token may only read")]
    Forbidden,
    /// A console form posted from another origin (403).
    #[error("this form may only be posted from the console's own pages")]
    CrossOrigin,
    /// A console session's write without its CSRF token in `x-csrf-token` (403).
    #[error("a console session's writes need its CSRF token in `x-csrf-token`")]
    CsrfRequired,
    /// Unknown group, member, provider, client or version (404).
    #[error("{0}")]
    NotFound(String),
    /// Malformed request (400).
    #[error("{0}")]
    BadRequest(String),
    /// The route exists, the method does not (405; axum adds `Allow`).
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(String),
    /// Write without `If-Match` (428).
    #[error("send `If-Match: <config version>` (the ETag of what you read)")]
    PreconditionRequired,
    /// A catalog write without `If-Match` or `If-None-Match: *` (428).
    #[error("send `If-Match` with the entry's ETag to change `{0}`, or `If-None-Match: *` to create it")]
    EntryPreconditionRequired(String),
    /// `If-Match` names an older version (412).
    #[error("config version {current} is current; re-read and retry")]
    Stale {
        /// Version serving now.
        current: u64,
    },
    /// A catalog write's precondition failed (412): the entry is at another version
    /// (`current`), or does not exist (`None`), or exists when it was to be created.
    #[error("{}", stale_entry_message(.id, .current))]
    StaleEntry {
        /// The entry's id.
        id: String,
        /// Its current version, when it exists.
        current: Option<u64>,
    },
    /// A catalog entry (or an import's item) is invalid (422); every problem with its path.
    #[error("{message}")]
    InvalidEntry {
        /// What was refused.
        message: String,
        /// Every problem, `path: message`.
        problems: Vec<switchyard_catalog::Problem>,
    },
    /// The change would make the config invalid (422).
    #[error("the change would make the config invalid")]
    Invalid(ConfigError),
    /// The change conflicts with the current state (409), e.g. a name that exists.
    #[error("{0}")]
    Conflict(String),
    /// The body exceeds the limit (413).
    #[error("request body too large")]
    TooLarge,
    /// A provider the gateway asked on the operator's behalf failed or answered nonsense (502).
    #[error("{0}")]
    BadGateway(String),
    /// ClickHouse or the state store is not configured or not reachable (503).
    #[error("{0}")]
    Unavailable(String),
    /// Something on our side (500).
    #[error("internal error: {0}")]
    Internal(String),
}

// === impl ApiError ===

impl ApiError {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::CsrfRequired | Self::CrossOrigin => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::PreconditionRequired | Self::EntryPreconditionRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            Self::Stale { .. } | Self::StaleEntry { .. } => StatusCode::PRECONDITION_FAILED,
            Self::Invalid(_) | Self::InvalidEntry { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::CsrfRequired => "csrf_required",
            Self::CrossOrigin => "cross_origin",
            Self::NotFound(_) => "not_found",
            Self::BadRequest(_) => "bad_request",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::PreconditionRequired | Self::EntryPreconditionRequired(_) => "precondition_required",
            Self::Stale { .. } | Self::StaleEntry { .. } => "stale_version",
            Self::Invalid(_) => "invalid_config",
            Self::InvalidEntry { .. } => "invalid_entry",
            Self::Conflict(_) => "conflict",
            Self::TooLarge => "too_large",
            Self::BadGateway(_) => "upstream_error",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

/// The 412 message for a catalog entry.
fn stale_entry_message(id: &str, current: &Option<u64>) -> String {
    match current {
        Some(v) => format!("catalog entry `{id}` is at version {v}; re-read and retry"),
        None => format!("catalog entry `{id}` does not exist"),
    }
}

impl ApiError {
    /// An [`ApiError::InvalidEntry`].
    pub fn invalid_entry(message: impl Into<String>, problems: Vec<switchyard_catalog::Problem>) -> Self {
        Self::InvalidEntry { message: message.into(), problems }
    }
}

impl From<EditError> for ApiError {
    fn from(e: EditError) -> Self {
        match e {
            EditError::Stale { current } => Self::Stale { current },
            EditError::Invalid(c) => Self::Invalid(c),
            EditError::ReadOnly => Self::Conflict(e.to_string()),
            EditError::UnknownVersion(v) => Self::NotFound(format!("config version {v} is not in the history")),
            EditError::Io(msg) => Self::Internal(msg),
            EditError::Unavailable(msg) => Self::Unavailable(msg),
        }
    }
}

impl From<switchyard_state::StateError> for ApiError {
    fn from(e: switchyard_state::StateError) -> Self {
        match e {
            switchyard_state::StateError::Stale { current } => Self::Stale { current },
            switchyard_state::StateError::StaleEntry { current } => Self::StaleEntry { id: String::new(), current },
            e if e.retryable() => Self::Unavailable(format!("the state store is unavailable: {e}")),
            e if e.blame() == switchyard_core::Blame::Client => Self::BadRequest(e.to_string()),
            e => Self::Internal(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = serde_json::json!({ "message": self.to_string(), "code": self.code() });
        if let Self::Invalid(c) = &self {
            error["problems"] = c.problems.iter().map(|p| p.to_string()).collect();
        }
        if let Self::InvalidEntry { problems, .. } = &self {
            error["problems"] = problems.iter().map(|p| p.to_string()).collect();
        }
        if let Self::Stale { current } | Self::StaleEntry { current: Some(current), .. } = &self {
            error["current_version"] = (*current).into();
        }
        let mut resp = (self.status(), axum::Json(serde_json::json!({ "error": error }))).into_response();
        if matches!(self, Self::Unauthenticated) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Self::Stale { current } | Self::StaleEntry { current: Some(current), .. } = &self {
            if let Ok(v) = HeaderValue::from_str(&format!("\"{current}\"")) {
                resp.headers_mut().insert(header::ETAG, v);
            }
        }
        resp
    }
}
