//! ClickHouse analytics behind the control API: the experiment report, the inference
//! browser, per-arm feature importance and a group's latency and error series. Async, read-only; the statistics themselves are in [`crate::stats`].
//!
//! SQL subset: every query runs on ClickHouse 18.16 and current releases — string values are
//! bound client-side (`Query::bind`), integers inlined, identifiers are validated before interpolation (database:
//! [`switchyard_records::schema::validate_database`]; tables: [`switchyard_records::group_table`]),
//! and only plain types, `quantilesExact`, `-If` combinators, `varPop` and `ALL INNER JOIN …
//! USING` are used (no Map, DateTime64, JSONExtract, server-side parameters).
//!
//! Invariants:
//! - each request counts once: rows may be replayed, so every query first collapses rows by
//!   `request_id` (`GROUP BY request_id` + `any(…)`, replays being identical), and feedback by
//!   `feedback_id`;
//! - the experiment reads only the group's own table and only randomized traffic: rows whose
//!   `assignment` is `pinned` (the client chose the member) are excluded everywhere;
//! - an **error** is a request that failed through the member's fault ([`ERROR_SQL`],
//!   [`is_member_error`]): HTTP status ≥ 500 or 429, or a stream that broke after its status was
//!   sent (`upstream_connect|timeout|reset|invalid`), except gateway-side refusals
//!   (`not_ready`, `spool_full`) and anything the client caused (`client_aborted`, bad input,
//!   auth, an upstream 4xx other than 429 passed through).

pub mod browser;
mod error;
pub mod experiment;
pub mod importance;
pub mod series;

pub use browser::{
    get_inference, list_inferences, trace_id_filter, Attribution, FeedbackItem, InferenceDetail, InferenceFilter,
    InferenceItem, Page, StatusFilter, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT,
};
pub use error::AnalyticsError;
pub use experiment::{experiment, experiment_sql, MemberView};
pub use importance::{importance, importance_sql, ExplanationReport};

/// Error classes that never count against a member: client-caused or gateway-side.
pub const NOT_MEMBER_ERRORS: &[&str] = &[
    "client_aborted",
    "bad_json",
    "bad_request",
    "body_too_large",
    "body_timeout",
    "unauthenticated",
    "forbidden",
    "unknown_group",
    "unknown_member",
    "not_found",
    "method_not_allowed",
    "not_ready",
    "spool_full",
];

/// Error classes of a failure after the response status was sent (status may be 200).
pub const BROKEN_STREAM_ERRORS: &[&str] =
    &["upstream_connect", "upstream_timeout", "upstream_reset", "upstream_invalid"];

/// The error definition as a ClickHouse `UInt8` expression over `status` and `error_class`.
pub const ERROR_SQL: &str = "toUInt8((status >= 500 OR status = 429 OR error_class IN ('upstream_connect', \
    'upstream_timeout', 'upstream_reset', 'upstream_invalid')) AND error_class NOT IN ('client_aborted', \
    'bad_json', 'bad_request', 'body_too_large', 'body_timeout', 'unauthenticated', 'forbidden', \
    'unknown_group', 'unknown_member', 'not_found', 'method_not_allowed', 'not_ready', 'spool_full'))";

/// The error definition in Rust (kept equal to [`ERROR_SQL`]; a test checks both).
pub fn is_member_error(status: u16, error_class: &str) -> bool {
    (status >= 500 || status == 429 || BROKEN_STREAM_ERRORS.contains(&error_class))
        && !NOT_MEMBER_ERRORS.contains(&error_class)
}

/// Validates `database` for interpolation into SQL.
pub(crate) fn checked_database(database: &str) -> Result<&str, AnalyticsError> {
    switchyard_records::schema::validate_database(database).map_err(|_| AnalyticsError::InvalidInput {
        field: "database",
        message: "must match [A-Za-z_][A-Za-z0-9_]{0,63}".into(),
    })?;
    Ok(database)
}

/// Whether `database.table` exists (a group's table appears with its first record).
pub(crate) async fn table_exists(
    client: &clickhouse::Client,
    database: &str,
    table: &str,
) -> Result<bool, AnalyticsError> {
    let n: u64 = client
        .query("SELECT count() FROM system.tables WHERE database = ? AND name = ?")
        .bind(database)
        .bind(table)
        .fetch_one()
        .await
        .map_err(|e| AnalyticsError::clickhouse("table lookup", e))?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_and_rust_error_lists_agree() {
        for class in NOT_MEMBER_ERRORS.iter().chain(BROKEN_STREAM_ERRORS) {
            assert!(ERROR_SQL.contains(&format!("'{class}'")), "{class}");
        }
        assert!(is_member_error(502, "upstream_connect"));
        assert!(is_member_error(200, "upstream_reset"));
        assert!(is_member_error(429, "upstream_status"));
        assert!(is_member_error(500, ""));
        assert!(!is_member_error(400, "upstream_status"));
        assert!(!is_member_error(503, "spool_full"));
        assert!(!is_member_error(200, "client_aborted"));
        assert!(!is_member_error(200, ""));
    }
}
