//! Errors of the state store, each with its blame and whether a retry can help.
//!
//! The classification the control plane relies on:
//! - the store cannot be reached, is shutting down, is busy (SQLite lock held past the busy
//!   timeout) or a transaction lost a serialization race → [`StateError::Unavailable`]:
//!   blame `Upstream`, retryable (the control API answers 503, leases lapse);
//! - a compare-and-set lost (`If-Match` on an old version) → [`StateError::Stale`]: `Client`;
//! - bad input from the caller (a malformed cursor, an empty actor) → `Client`;
//! - rows that do not decode, an edited migration, a schema from a newer Switchyard →
//!   `Internal`, never retried.
//!
//! Messages never carry the store's password: sqlx's errors do not include connect options,
//! and this crate never formats them.

use switchyard_core::Blame;

/// A state-store error.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The store is unreachable, shutting down, overloaded or busy; try again later.
    #[error("state store unavailable during {op}: {source}")]
    Unavailable {
        /// What was being done, e.g. `config_versions.append`.
        op: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A compare-and-set lost: the caller expected an older version.
    #[error("stale version: the current config version is {current}")]
    Stale {
        /// The version that is current now.
        current: u64,
    },
    /// A catalog write lost its compare-and-set: the entry is at another version, or
    /// does not exist (`None`), or exists when it was to be created.
    #[error("stale catalog entry: {}", describe_current(.current))]
    StaleEntry {
        /// The entry's current version; `None` when there is no entry.
        current: Option<u64>,
    },
    /// The caller passed something unusable.
    #[error("{field}: {message}")]
    Invalid {
        /// The option or parameter, e.g. `state.url`, `cursor`.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Stored data does not decode or contradicts itself.
    #[error("state store data is corrupt: {what}")]
    Corrupt {
        /// What was found.
        what: String,
    },
    /// The database was migrated by a Switchyard that knows migrations this one does not,
    /// or a migration this one knows was changed after it ran.
    #[error("state store schema: {message}")]
    Schema {
        /// What does not match.
        message: String,
    },
    /// A database error that is neither of the above (a bug, a missing privilege, a full disk).
    #[error("state store {op}: {source}")]
    Database {
        /// What was being done.
        op: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// Local file I/O (creating the SQLite file and its directory, reading an import).
    #[error("state store {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Registering a metric failed (a duplicate registration).
    #[error("state store metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

// === impl StateError ===

impl StateError {
    /// Classifies a driver error: connection-level and transient failures become
    /// [`StateError::Unavailable`], everything else [`StateError::Database`].
    pub fn from_sqlx(op: &'static str, source: sqlx::Error) -> Self {
        if is_transient(&source) {
            Self::Unavailable { op, source }
        } else {
            Self::Database { op, source }
        }
    }

    /// An [`StateError::Invalid`] for `field`.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid { field, message: message.into() }
    }

    /// A [`StateError::Corrupt`].
    pub fn corrupt(what: impl Into<String>) -> Self {
        Self::Corrupt { what: what.into() }
    }

    /// Who is at fault.
    pub fn blame(&self) -> Blame {
        match self {
            Self::Unavailable { .. } => Blame::Upstream,
            Self::Stale { .. } | Self::StaleEntry { .. } | Self::Invalid { .. } => Blame::Client,
            Self::Corrupt { .. } | Self::Schema { .. } | Self::Database { .. } | Self::Io { .. } | Self::Metrics(_) => {
                Blame::Internal
            }
        }
    }

    /// Whether trying the same call again later can succeed.
    pub fn retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// The current state of a catalog entry, in words.
fn describe_current(current: &Option<u64>) -> String {
    match current {
        Some(v) => format!("the current version is {v}"),
        None => "the entry does not exist".to_owned(),
    }
}

/// Whether `error` says the store could not be used right now rather than that the
/// statement itself is wrong.
fn is_transient(error: &sqlx::Error) -> bool {
    use sqlx::Error as E;
    match error {
        E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed | E::Protocol(_) => true,
        E::Database(db) => db.code().is_some_and(|code| is_transient_code(&code)),
        _ => false,
    }
}

/// PostgreSQL SQLSTATEs and SQLite result codes that mean "not now".
fn is_transient_code(code: &str) -> bool {
    // PostgreSQL: class 08 connection exception, 53 insufficient resources, 57P0x operator
    // intervention (shutdown, cannot connect now), 40001 serialization failure, 40P01
    // deadlock, 55P03 lock not available, 57014 query cancelled (statement_timeout).
    if code.starts_with("08") || code.starts_with("53") || code.starts_with("57P0") {
        return true;
    }
    if matches!(code, "40001" | "40P01" | "55P03" | "57014") {
        return true;
    }
    // SQLite reports (extended) result codes as numbers: the primary code is the low byte.
    // 5 SQLITE_BUSY, 6 SQLITE_LOCKED.
    code.parse::<u32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_codes_are_the_not_now_ones() {
        for code in ["08006", "08001", "53300", "57P01", "57P03", "40001", "40P01", "57014", "5", "517", "6"] {
            assert!(is_transient_code(code), "{code}");
        }
        for code in ["23505", "42P01", "28P01", "11", "13", "1"] {
            assert!(!is_transient_code(code), "{code}");
        }
    }

    #[test]
    fn blame_and_retry_follow_the_kind() {
        let unavailable = StateError::from_sqlx("x", sqlx::Error::PoolTimedOut);
        assert_eq!((unavailable.blame(), unavailable.retryable()), (Blame::Upstream, true));
        let stale = StateError::Stale { current: 4 };
        assert_eq!((stale.blame(), stale.retryable()), (Blame::Client, false));
        assert_eq!(stale.to_string(), "stale version: the current config version is 4");
        let corrupt = StateError::corrupt("row 3");
        assert_eq!((corrupt.blame(), corrupt.retryable()), (Blame::Internal, false));
        let bug = StateError::from_sqlx("x", sqlx::Error::RowNotFound);
        assert_eq!((bug.blame(), bug.retryable()), (Blame::Internal, false));
    }
}
