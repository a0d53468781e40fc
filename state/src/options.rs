//! How to reach the store: the `state.url`, the separately resolved password, pool sizes
//! and timeouts.
//!
//! Invariants: a password is never part of the URL (a URL carrying one is refused, so it
//! cannot reach a log line through the URL), and [`StoreOptions`]'s `Debug` redacts it.
//! A relative SQLite path resolves against a base directory chosen by the caller (the
//! config file's directory, or the working directory without `--config`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::StateError;

/// The embedded default: a SQLite file under `./switchyard-data/`.
pub const DEFAULT_URL: &str = "sqlite://./switchyard-data/state.db";

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    /// One process, one file (`sqlite://PATH`).
    Sqlite,
    /// Shared by replicas (`postgres://user@host:port/db`).
    Postgres,
}

/// A parsed `state.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `sqlite://PATH` (relative or absolute path to the database file).
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// `postgres://` or `postgresql://` with user, host, optional port, database and
    /// libpq-style query parameters (`sslmode`, `sslrootcert`, …); no password.
    Postgres {
        /// The URL as given.
        url: String,
    },
}

/// Everything needed to open a [`crate::StateStore`].
#[derive(Clone)]
pub struct StoreOptions {
    /// `sqlite://PATH` or `postgres://user@host:port/db`. Default [`DEFAULT_URL`].
    pub url: String,
    /// The PostgreSQL password, already resolved from its `env:`/`file:` reference.
    /// Default none (trust, peer or certificate authentication).
    pub password: Option<String>,
    /// Most pooled connections. Default 8 for PostgreSQL, 4 for SQLite.
    pub max_connections: Option<u32>,
    /// How long an operation waits for a connection, connecting included, before it fails
    /// as unavailable (retryable). Default 5 s.
    pub acquire_timeout: Duration,
    /// SQLite: how long a writer waits for the database lock before failing as
    /// unavailable. Default 5 s.
    pub busy_timeout: Duration,
    /// PostgreSQL: the server-side `statement_timeout` of every connection. Default 30 s.
    pub statement_timeout: Duration,
}

// === impl StoreOptions ===

impl StoreOptions {
    /// Options for `url` with the defaults above.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            password: None,
            max_connections: None,
            acquire_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        }
    }

    /// Sets the PostgreSQL password (a resolved secret).
    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Parses and checks the URL and the timeouts; reports the first problem with the
    /// config path `state.url` (or the option's name).
    pub fn validate(&self) -> Result<StoreUrl, StateError> {
        if self.acquire_timeout.is_zero() {
            return Err(StateError::invalid("state.acquire_timeout", "must be > 0"));
        }
        if self.max_connections == Some(0) {
            return Err(StateError::invalid("state.max_connections", "must be >= 1"));
        }
        StoreUrl::parse(&self.url)
    }

    /// The engine the URL names.
    pub fn engine(&self) -> Result<Engine, StateError> {
        Ok(self.validate()?.engine())
    }

    /// Makes a relative SQLite path absolute against `base` (PostgreSQL URLs unchanged).
    pub fn resolve_relative_to(mut self, base: &Path) -> Result<Self, StateError> {
        if let StoreUrl::Sqlite { path } = StoreUrl::parse(&self.url)? {
            if path.is_relative() {
                let joined = base.join(path.strip_prefix(".").unwrap_or(&path));
                self.url = format!("sqlite://{}", joined.display());
            }
        }
        Ok(self)
    }
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self::new(DEFAULT_URL)
    }
}

impl fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreOptions")
            .field("url", &self.url)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("busy_timeout", &self.busy_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

// === impl StoreUrl ===

impl StoreUrl {
    /// Parses `state.url`.
    pub fn parse(url: &str) -> Result<Self, StateError> {
        const FIELD: &str = "state.url";
        if let Some(rest) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            if rest.is_empty() || rest.contains('?') || rest.starts_with(':') {
                return Err(StateError::invalid(
                    FIELD,
                    "a SQLite URL names a file: `sqlite://./switchyard-data/state.db` or `sqlite:///abs/path.db`",
                ));
            }
            return Ok(Self::Sqlite { path: PathBuf::from(rest) });
        }
        let Some(rest) = url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://")) else {
            return Err(StateError::invalid(FIELD, "must start with `sqlite://` or `postgres://`"));
        };
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        if let Some((userinfo, _host)) = authority.rsplit_once('@') {
            if userinfo.contains(':') {
                return Err(StateError::invalid(
                    FIELD,
                    "the URL must not hold a password: set `state.password` to an `env:` or `file:` reference",
                ));
            }
        }
        if url.contains("password=") {
            return Err(StateError::invalid(
                FIELD,
                "the URL must not hold a password: set `state.password` to an `env:` or `file:` reference",
            ));
        }
        if authority.rsplit('@').next().unwrap_or_default().is_empty() {
            return Err(StateError::invalid(FIELD, "a PostgreSQL URL needs a host: `postgres://user@host:5432/db`"));
        }
        Ok(Self::Postgres { url: url.to_owned() })
    }

    /// The engine.
    pub fn engine(&self) -> Engine {
        match self {
            Self::Sqlite { .. } => Engine::Sqlite,
            Self::Postgres { .. } => Engine::Postgres,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_engines() {
        assert_eq!(
            StoreUrl::parse(DEFAULT_URL).unwrap(),
            StoreUrl::Sqlite { path: PathBuf::from("./switchyard-data/state.db") }
        );
        assert_eq!(
            StoreUrl::parse("sqlite:///var/lib/sy.db").unwrap(),
            StoreUrl::Sqlite { path: "/var/lib/sy.db".into() }
        );
        let pg = StoreUrl::parse("postgres://sy@db.internal:5432/switchyard?sslmode=require").unwrap();
        assert_eq!(pg.engine(), Engine::Postgres);
    }

    #[test]
    fn refuses_passwords_and_nonsense_with_the_field() {
        for url in [
            "postgres://sy:hunter2@db/switchyard",
            "postgresql://sy:@db/switchyard",
            "postgres://sy@db/switchyard?password=hunter2",
        ] {
            let e = StoreUrl::parse(url).unwrap_err().to_string();
            assert!(e.starts_with("state.url: the URL must not hold a password"), "{url}: {e}");
            assert!(!e.contains("hunter2"));
        }
        for url in ["mysql://x", "sqlite://", "sqlite::memory:", "sqlite://a.db?mode=ro", "postgres:///db"] {
            assert!(StoreUrl::parse(url).unwrap_err().to_string().starts_with("state.url: "), "{url}");
        }
    }

    #[test]
    fn relative_sqlite_paths_resolve_against_the_base() {
        let o = StoreOptions::default().resolve_relative_to(Path::new("/etc/switchyard")).unwrap();
        assert_eq!(o.url, "sqlite:///etc/switchyard/switchyard-data/state.db");
        let abs = StoreOptions::new("sqlite:///x/y.db").resolve_relative_to(Path::new("/etc")).unwrap();
        assert_eq!(abs.url, "sqlite:///x/y.db");
        let pg = StoreOptions::new("postgres://u@h/d").resolve_relative_to(Path::new("/etc")).unwrap();
        assert_eq!(pg.url, "postgres://u@h/d");
    }

    #[test]
    fn debug_redacts_the_password() {
        let o = StoreOptions::new("postgres://u@h/d").with_password("hunter2");
        let shown = format!("{o:?}");
        assert!(!shown.contains("hunter2") && shown.contains("<redacted>"), "{shown}");
    }
}
