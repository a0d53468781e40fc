//! The analytics error: which side is to blame and what HTTP status it maps to.
//!
//! Invariant: `Display` never includes the ClickHouse URL, credentials or the server's
//! message (which can echo query text); it names the operation only. The underlying client
//! error stays reachable through `source()` for logs.

use switchyard_records::{clickhouse_exception_code, Blame};

/// ClickHouse exception codes meaning "the server is overloaded or not (yet) able to answer"
/// rather than "this query is wrong".
const UNAVAILABLE_CODES: &[u32] = &[
    81,  // UNKNOWN_DATABASE: schema not migrated yet
    159, // TIMEOUT_EXCEEDED
    202, // TOO_MANY_SIMULTANEOUS_QUERIES
    209, // SOCKET_TIMEOUT
    210, // NETWORK_ERROR
    241, // MEMORY_LIMIT_EXCEEDED
    242, // TABLE_IS_READ_ONLY
];

/// An analytics query failed.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// ClickHouse could not be reached or could not answer now (HTTP 503, retryable).
    #[error("analytics store unavailable ({op})")]
    Unavailable {
        /// What was being done.
        op: &'static str,
        /// The client error.
        #[source]
        source: clickhouse::error::Error,
    },
    /// ClickHouse rejected the query or its answer did not decode (HTTP 500, a bug here).
    #[error("analytics query failed ({op})")]
    Query {
        /// What was being done.
        op: &'static str,
        /// The client error.
        #[source]
        source: clickhouse::error::Error,
    },
    /// A caller-supplied value is unusable, e.g. a malformed cursor (HTTP 400).
    #[error("invalid {field}: {message}")]
    InvalidInput {
        /// Query parameter name.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

// === impl AnalyticsError ===

impl AnalyticsError {
    /// Classifies a client error from operation `op`.
    pub fn clickhouse(op: &'static str, source: clickhouse::error::Error) -> Self {
        use clickhouse::error::Error as E;
        let unavailable = match &source {
            E::Network(_) | E::TimedOut => true,
            // Not an exception at all (e.g. a proxy's error page) counts as unavailable.
            E::BadResponse(message) => {
                clickhouse_exception_code(message).is_none_or(|c| UNAVAILABLE_CODES.contains(&c))
            }
            _ => false,
        };
        if unavailable {
            Self::Unavailable { op, source }
        } else {
            Self::Query { op, source }
        }
    }

    /// Who is at fault.
    pub fn blame(&self) -> Blame {
        match self {
            Self::Unavailable { .. } => Blame::Upstream,
            Self::Query { .. } => Blame::Internal,
            Self::InvalidInput { .. } => Blame::Client,
        }
    }

    /// Whether retrying later can help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    /// The HTTP status for this error: 503, 500 or 400.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Unavailable { .. } => 503,
            Self::Query { .. } => 500,
            Self::InvalidInput { .. } => 400,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn classifies_and_hides_server_text() {
        let bad = |m: &str| clickhouse::error::Error::BadResponse(m.into());
        let e =
            AnalyticsError::clickhouse("experiment", bad("Code: 62, e.displayText() = DB::Exception: Syntax error"));
        assert_eq!(e.http_status(), 500);
        assert!(!e.to_string().contains("Syntax"));
        let e = AnalyticsError::clickhouse("experiment", bad("Code: 241, e.displayText() = Memory limit"));
        assert_eq!(e.http_status(), 503);
        assert!(e.is_retryable());
        let e = AnalyticsError::clickhouse("experiment", clickhouse::error::Error::TimedOut);
        assert_eq!(e.http_status(), 503);
    }
}
