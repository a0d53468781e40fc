//! Test helpers (feature `test-support`): stores on both engines for tests in this crate
//! and in crates that use it (the control API, the binary's end-to-end tests).
//!
//! PostgreSQL is the private server `scripts/postgres.sh start` runs (`scripts/test.sh`
//! does it); its URL and password come from `SWITCHYARD_TEST_POSTGRES_URL` and
//! `SWITCHYARD_TEST_POSTGRES_PASSWORD` (`eval "$(bash scripts/postgres.sh env)"`). A test
//! that needs it fails, never skips, when they are unset. Each test gets a database of
//! its own, so tests run in parallel without seeing each other's rows.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::options::StoreOptions;

/// The variable holding the test server's URL (no password).
pub const POSTGRES_URL_ENV: &str = "SWITCHYARD_TEST_POSTGRES_URL";
/// The variable holding the test server's password.
pub const POSTGRES_PASSWORD_ENV: &str = "SWITCHYARD_TEST_POSTGRES_PASSWORD";

/// The test server's URL. Panics with the command to run when unset.
pub fn postgres_url() -> String {
    match std::env::var(POSTGRES_URL_ENV) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{POSTGRES_URL_ENV} is not set: run `bash scripts/postgres.sh start && eval \"$(bash scripts/postgres.sh env)\"` \
             (scripts/test.sh does both)"
        ),
    }
}

/// The test server's password, when set.
pub fn postgres_password() -> Option<String> {
    std::env::var(POSTGRES_PASSWORD_ENV).ok().filter(|p| !p.is_empty())
}

/// Options for the test server's main database.
pub fn postgres_options() -> StoreOptions {
    let options = StoreOptions::new(postgres_url());
    match postgres_password() {
        Some(password) => options.with_password(password),
        None => options,
    }
}

/// Options for a SQLite store in `dir`.
pub fn sqlite_options(dir: &Path) -> StoreOptions {
    StoreOptions::new(format!("sqlite://{}", dir.join("state.db").display()))
}

/// A database name unique to this process and call (a plain identifier).
pub fn unique_database(test: &str) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let test: String = test.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(30).collect();
    format!("sy_{}_{}_{}_{nanos}", test.to_lowercase(), std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed))
}

/// Creates an empty database on the test server and returns options for it.
pub async fn fresh_postgres(test: &str) -> StoreOptions {
    let name = unique_database(test);
    admin_exec(&format!("CREATE DATABASE {name}")).await;
    let mut options = postgres_options();
    options.url = with_database(&options.url, &name);
    options
}

/// Drops the database `options` names (connections to it are ended first).
pub async fn drop_postgres(options: &StoreOptions) {
    let name = database_of(&options.url);
    admin_exec(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
}

/// `url` with its database replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{database}", &base[..host_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

fn database_of(url: &str) -> String {
    let base = url.split('?').next().unwrap_or(url);
    base.rsplit('/').next().unwrap_or_default().to_owned()
}

async fn admin_exec(sql: &str) {
    let options = postgres_options();
    let mut connect: PgConnectOptions = options.url.parse().unwrap_or_else(|e| panic!("{POSTGRES_URL_ENV}: {e}"));
    if let Some(password) = &options.password {
        connect = connect.password(password);
    }
    let mut conn = connect.connect().await.unwrap_or_else(|e| panic!("connect to the test PostgreSQL: {e}"));
    sqlx::raw_sql(sql).execute(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = conn.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_the_database_keeping_the_query() {
        assert_eq!(with_database("postgres://u@h:1/db", "x"), "postgres://u@h:1/x");
        assert_eq!(with_database("postgres://u@h/db?sslmode=disable", "x"), "postgres://u@h/x?sslmode=disable");
        assert_eq!(database_of("postgres://u@h/db?sslmode=disable"), "db");
    }
}
