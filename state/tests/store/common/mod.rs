//! Shared harness: the same test body runs on SQLite (a temp dir) and on the real
//! PostgreSQL that `scripts/postgres.sh` starts (a fresh database per test).
#![allow(dead_code, clippy::unwrap_used)]

pub mod proxy;

use std::time::Duration;

use switchyard_state::test_support::{drop_postgres, fresh_postgres, sqlite_options};
use switchyard_state::{Engine, StateStore, StoreOptions};

/// Runs `$body(harness)` once per engine, as `$name::sqlite` and `$name::postgres`.
#[macro_export]
macro_rules! both_engines {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let h = $crate::common::Harness::new(switchyard_state::Engine::Sqlite, stringify!($name)).await;
                super::$name(&h).await;
                h.finish().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                let h = $crate::common::Harness::new(switchyard_state::Engine::Postgres, stringify!($name)).await;
                super::$name(&h).await;
                h.finish().await;
            }
        }
    };
}

/// One test's store location on one engine.
pub struct Harness {
    pub engine: Engine,
    options: StoreOptions,
    _tmp: Option<tempfile::TempDir>,
}

impl Harness {
    pub async fn new(engine: Engine, test: &str) -> Self {
        let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter("switchyard_state=debug").try_init();
        match engine {
            Engine::Sqlite => {
                let tmp = tempfile::tempdir().unwrap();
                Self { engine, options: sqlite_options(tmp.path()), _tmp: Some(tmp) }
            }
            Engine::Postgres => Self { engine, options: fresh_postgres(test).await, _tmp: None },
        }
    }

    /// Options for this test's store (a copy to adjust).
    pub fn options(&self) -> StoreOptions {
        self.options.clone()
    }

    /// A new store with a pool of its own (a "replica"), not migrated.
    pub async fn open(&self) -> StateStore {
        StateStore::open(&self.options).await.unwrap()
    }

    /// A new, migrated store.
    pub async fn store(&self) -> StateStore {
        let store = self.open().await;
        store.migrate().await.unwrap();
        store
    }

    /// Runs `sql` on a connection of its own, outside the store's code (to simulate other
    /// writers and lost notifications).
    pub async fn raw(&self, sql: &str) {
        use sqlx::{ConnectOptions, Connection};
        match self.engine {
            Engine::Sqlite => {
                let path = self.options.url.trim_start_matches("sqlite://");
                let mut conn = sqlx::sqlite::SqliteConnectOptions::new().filename(path).connect().await.unwrap();
                sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
                conn.close().await.unwrap();
            }
            Engine::Postgres => {
                let mut conn = self.pg_connect().await;
                sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
                conn.close().await.unwrap();
            }
        }
    }

    pub async fn pg_connect(&self) -> sqlx::PgConnection {
        use sqlx::ConnectOptions;
        let mut connect: sqlx::postgres::PgConnectOptions = self.options.url.parse().unwrap();
        if let Some(password) = &self.options.password {
            connect = connect.password(password);
        }
        connect.connect().await.unwrap()
    }

    /// The SQLite file, for tests that lock it.
    pub fn sqlite_path(&self) -> String {
        self.options.url.trim_start_matches("sqlite://").to_owned()
    }

    pub async fn finish(self) {
        if self.engine == Engine::Postgres {
            drop_postgres(&self.options).await;
        }
    }
}

/// Waits until `check` holds, polling every 20 ms, up to `limit`; the time it took.
pub async fn within<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}
