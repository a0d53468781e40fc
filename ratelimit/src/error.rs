//! Errors of building or updating a [`Limiter`](crate::Limiter).
//!
//! A refused check is not an error here: it is a [`Limited`](crate::Limited) answer. A
//! backend that does not answer is a [`BackendError`](crate::BackendError), which the
//! limiter turns into its `on_error` policy and never returns to the caller.

use crate::config::Problem;

/// Why a limiter could not be built from a configuration.
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    /// The section is invalid (every problem, with its path).
    #[error("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// Every problem found.
        problems: Vec<Problem>,
    },
    /// The Redis client could not be set up from `rate_limits.redis` (not a connection
    /// failure: a down server is handled by `on_error`).
    #[error("rate_limits.redis: {0}")]
    Redis(String),
    /// The metrics could not be registered (e.g. registered twice on one registry).
    #[error("registering rate-limit metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

// === impl RateLimitError ===

impl RateLimitError {
    /// Who is at fault: the operator's configuration, or this process.
    pub fn blame(&self) -> switchyard_core::Blame {
        match self {
            RateLimitError::Invalid { .. } | RateLimitError::Redis(_) => switchyard_core::Blame::Client,
            RateLimitError::Metrics(_) => switchyard_core::Blame::Internal,
        }
    }

    /// Whether trying again unchanged can succeed: never.
    pub fn retryable(&self) -> bool {
        false
    }
}
