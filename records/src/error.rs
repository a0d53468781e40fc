//! Errors of the records crate, each with its blame and whether a retry can help.
//!
//! Also classifies ClickHouse failures for the shipper: unreachable / overloaded / 5xx-like
//! errors are retried with backoff; data the server rejects as malformed is never retried
//! (it goes to the dead-letter file); a missing table is provisioned and retried.

use std::io;

use switchyard_core::Blame;

/// A records-pipeline error.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    /// Spool or dead-letter file I/O.
    #[error("records {op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A ClickHouse request failed.
    #[error("clickhouse {op}: {source}")]
    ClickHouse {
        /// What was being done.
        op: &'static str,
        /// The client error (carries the server's message).
        #[source]
        source: clickhouse::error::Error,
    },
    /// A ClickHouse request failed where the operator needs to know which server
    /// (`switchyard migrate`, start-up): the message names the URL.
    #[error("clickhouse at {url}: {op}: {source}")]
    ClickHouseAt {
        /// The server's URL as configured.
        url: String,
        /// What was being done.
        op: &'static str,
        /// The client error.
        #[source]
        source: clickhouse::error::Error,
    },
    /// Registering metrics failed (duplicate registration).
    #[error("records metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// An option is unusable.
    #[error("records option {field}: {message}")]
    InvalidOption {
        /// The option's path, e.g. `records.clickhouse.database`.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// How the shipper treats a failed ClickHouse request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Unreachable, timed out, overloaded or a server-side fault: back off and retry.
    Retry,
    /// The server rejected the data itself: dead-letter, never retry.
    Malformed,
    /// The table does not exist (yet): provision it, then retry.
    MissingTable,
}

// === impl RecordsError ===

impl RecordsError {
    /// Wraps an I/O error.
    pub fn io(op: &'static str, source: io::Error) -> Self {
        Self::Io { op, source }
    }

    /// Wraps a ClickHouse client error.
    pub fn clickhouse(op: &'static str, source: clickhouse::error::Error) -> Self {
        Self::ClickHouse { op, source }
    }

    /// Who is at fault.
    pub fn blame(&self) -> Blame {
        match self {
            Self::Io { .. } | Self::Metrics(_) => Blame::Internal,
            Self::ClickHouse { .. } | Self::ClickHouseAt { .. } => Blame::Upstream,
            Self::InvalidOption { .. } => Blame::Client,
        }
    }

    /// Whether trying again later can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::ClickHouse { source, .. } | Self::ClickHouseAt { source, .. } => {
                classify(source) != Failure::Malformed
            }
            Self::Io { .. } | Self::Metrics(_) | Self::InvalidOption { .. } => false,
        }
    }
}

/// ClickHouse exception codes meaning "this data cannot be inserted as sent".
const MALFORMED_CODES: &[u32] = &[
    6,   // CANNOT_PARSE_TEXT
    8,   // THERE_IS_NO_COLUMN
    10,  // NOT_FOUND_COLUMN_IN_BLOCK
    16,  // NO_SUCH_COLUMN_IN_TABLE
    20,  // NUMBER_OF_COLUMNS_DOESNT_MATCH
    26,  // CANNOT_PARSE_QUOTED_STRING
    27,  // CANNOT_PARSE_INPUT_ASSERTION_FAILED
    32,  // ATTEMPT_TO_READ_AFTER_EOF
    33,  // CANNOT_READ_ALL_DATA
    38,  // CANNOT_PARSE_DATE
    41,  // CANNOT_PARSE_DATETIME
    53,  // TYPE_MISMATCH
    62,  // SYNTAX_ERROR
    69,  // ARGUMENT_OUT_OF_BOUND
    70,  // CANNOT_CONVERT_TYPE
    72,  // CANNOT_PARSE_NUMBER
    117, // INCORRECT_DATA
    130, // CANNOT_READ_ARRAY_FROM_TEXT
    131, // TOO_LARGE_STRING_SIZE
];

/// Classifies a ClickHouse client error for the shipper.
pub fn classify(error: &clickhouse::error::Error) -> Failure {
    use clickhouse::error::Error as E;
    match error {
        // A server forwarding the insert (a `Distributed` table on a cluster) lost its
        // connection to a shard: the first code may then read like bad data (32,
        // ATTEMPT_TO_READ_AFTER_EOF) although the rows were fine.
        E::BadResponse(message) if is_network(message) => Failure::Retry,
        E::BadResponse(message) => match clickhouse_exception_code(message) {
            Some(60) => Failure::MissingTable, // UNKNOWN_TABLE
            Some(81) => Failure::MissingTable, // UNKNOWN_DATABASE
            Some(252) => Failure::Retry,       // TOO_MANY_PARTS
            Some(code) if MALFORMED_CODES.contains(&code) => Failure::Malformed,
            _ => Failure::Retry,
        },
        E::SequenceMustHaveLength | E::Custom(_) | E::InvalidUtf8Encoding(_) => Failure::Malformed,
        _ => Failure::Retry,
    }
}

/// Whether a server's exception is about its connection to another server.
fn is_network(message: &str) -> bool {
    ["NetException", "while receiving packet from", "while writing to socket", "Connection refused"]
        .iter()
        .any(|m| message.contains(m))
}

/// The `Code: N` of a ClickHouse exception message (`None`: not an exception, e.g. a
/// proxy's error page).
pub fn clickhouse_exception_code(message: &str) -> Option<u32> {
    let rest = &message[message.find("Code: ")? + "Code: ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn classifies_server_messages() {
        let bad = |m: &str| clickhouse::error::Error::BadResponse(m.into());
        assert_eq!(
            classify(&bad("Code: 33, e.displayText() = DB::Exception: Cannot read all data")),
            Failure::Malformed
        );
        assert_eq!(
            classify(&bad("Code: 60, e.displayText() = DB::Exception: Table x doesn't exist")),
            Failure::MissingTable
        );
        assert_eq!(classify(&bad("Code: 241, DB::Exception: Memory limit")), Failure::Retry);
        assert_eq!(classify(&bad("503 Service Unavailable")), Failure::Retry);
        assert_eq!(
            classify(&bad(
                "Code: 32, e.displayText() = DB::Exception: Attempt to read after eof: while receiving packet from \
                 127.0.0.1:28002"
            )),
            Failure::Retry
        );
        assert_eq!(classify(&clickhouse::error::Error::TimedOut), Failure::Retry);
    }
}
