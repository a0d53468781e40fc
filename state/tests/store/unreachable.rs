//! An unreachable or locked store: typed, retryable errors within a short, bounded time
//! (never a hang), leases that lapse, and recovery once the store is back. PostgreSQL is
//! cut off through a loopback proxy (the shared server keeps running); SQLite is locked by
//! another connection holding its write lock.

use std::time::{Duration, Instant};

use prometheus::Registry;
use sqlx::Connection;
use switchyard_core::Blame;
use switchyard_state::{
    AuditEntry, Engine, LeaseKeeper, LeaseKeeperOptions, LeaseName, NewSession, StateError, StateStore, StoreOptions,
};

use crate::both_engines;
use crate::common::proxy::{via, Proxy};
use crate::common::{within, Harness};

/// How the store is taken away for one engine.
enum Outage {
    Proxy(Proxy),
    Lock { path: String, holder: Option<sqlx::SqliteConnection> },
}

impl Outage {
    async fn new(h: &Harness) -> (Self, StoreOptions) {
        let mut options = h.options();
        options.acquire_timeout = Duration::from_secs(1);
        options.busy_timeout = Duration::from_millis(300);
        match h.engine {
            Engine::Postgres => {
                let upstream = options.url.split('@').nth(1).unwrap().split('/').next().unwrap().to_owned();
                let proxy = Proxy::start(upstream).await;
                options.url = via(&options.url, proxy.addr);
                (Self::Proxy(proxy), options)
            }
            Engine::Sqlite => (Self::Lock { path: h.sqlite_path(), holder: None }, options),
        }
    }

    async fn begin(&mut self) {
        match self {
            Self::Proxy(p) => p.cut(),
            Self::Lock { path, holder } => {
                use sqlx::ConnectOptions;
                let mut conn = sqlx::sqlite::SqliteConnectOptions::new().filename(&*path).connect().await.unwrap();
                sqlx::raw_sql("BEGIN EXCLUSIVE").execute(&mut conn).await.unwrap();
                *holder = Some(conn);
            }
        }
    }

    async fn end(&mut self) {
        match self {
            Self::Proxy(p) => p.restore(),
            Self::Lock { holder, .. } => {
                let mut conn = holder.take().unwrap();
                sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.unwrap();
                conn.close().await.unwrap();
            }
        }
    }
}

/// Asserts that `result` failed as "store unavailable" within 3 s of `started`.
fn assert_unavailable<T: std::fmt::Debug>(what: &str, started: Instant, result: Result<T, StateError>) {
    let elapsed = started.elapsed();
    let e = result.expect_err(what);
    assert!(matches!(e, StateError::Unavailable { .. }), "{what}: {e:?}");
    assert_eq!((e.blame(), e.retryable()), (Blame::Upstream, true), "{what}: {e}");
    assert!(elapsed < Duration::from_secs(3), "{what} took {elapsed:?}");
}

async fn writes(store: &StateStore, expected: u64) -> Vec<(&'static str, Instant, Result<(), StateError>)> {
    let mut out = Vec::new();
    let t = Instant::now();
    out.push(("append", t, store.config_versions().append(expected, "x: 2\n", "ops", "").await.map(|_| ())));
    let entry = AuditEntry {
        audit_id: "u1".into(),
        timestamp_ms: 1,
        actor: "ops".into(),
        action: "a".into(),
        target: "t".into(),
        tenant: None,
        config_version: 1,
        before: serde_json::Value::Null,
        after: serde_json::Value::Null,
        reason: String::new(),
    };
    let t = Instant::now();
    out.push(("audit", t, store.audit().append(&entry).await.map(|_| ())));
    let t = Instant::now();
    let lease = store.leases().try_acquire_or_renew(LeaseName::Retention, "other", Duration::from_secs(5)).await;
    out.push(("lease", t, lease.map(|_| ())));
    let t = Instant::now();
    out.push(("heartbeat", t, store.replicas().heartbeat("r", "a:1", 1).await));
    let session = NewSession {
        token_name: "ops".into(),
        role: "admin".into(),
        tenant: None,
        idle: Duration::from_secs(60),
        absolute: Duration::from_secs(600),
    };
    let t = Instant::now();
    out.push(("session", t, store.sessions().create(&session).await.map(|_| ())));
    out
}

async fn an_unreachable_store_fails_fast_and_leases_lapse(h: &Harness) {
    let (mut outage, options) = Outage::new(h).await;
    let store = StateStore::open(&options).await.unwrap();
    store.migrate().await.unwrap();
    store.config_versions().append(0, "x: 1\n", "ops", "").await.unwrap();
    let registry = Registry::new();
    let ttl = Duration::from_millis(1500);
    let keeper =
        LeaseKeeper::start(store.leases(), LeaseKeeperOptions { ttl, ..LeaseKeeperOptions::new("me") }, &registry)
            .unwrap();
    within(Duration::from_secs(3), || async { keeper.is_held(LeaseName::Autopilot) }).await.expect("held");

    outage.begin().await;
    for (what, started, result) in writes(&store, 1).await {
        assert_unavailable(what, started, result);
    }
    if h.engine == Engine::Postgres {
        let t = Instant::now();
        assert_unavailable("read", t, store.config_versions().latest_version().await);
        let t = Instant::now();
        assert_unavailable("ping", t, store.ping().await);
    }
    // Leases lapse by themselves: nobody has to ask the store.
    let lapsed = within(ttl + Duration::from_secs(1), || async { LeaseName::ALL.iter().all(|l| !keeper.is_held(*l)) })
        .await
        .expect("leases lapse while the store is unreachable");
    eprintln!("{:?}: leases lapsed {lapsed:?} into the outage", h.engine);

    // Back: the same store and keeper recover without a restart.
    outage.end().await;
    within(Duration::from_secs(5), || async { store.config_versions().append(1, "x: 2\n", "ops", "").await.is_ok() })
        .await
        .expect("writes succeed again");
    within(Duration::from_secs(5), || async { keeper.is_held(LeaseName::Jobs) }).await.expect("lease held again");
    keeper.shutdown().await;
}
both_engines!(an_unreachable_store_fails_fast_and_leases_lapse);

#[tokio::test]
async fn postgres_at_a_closed_port_fails_fast_and_retryable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut options = StoreOptions::new(format!("postgres://switchyard@127.0.0.1:{port}/switchyard"));
    options.acquire_timeout = Duration::from_secs(1);
    let store = StateStore::open(&options.with_password("secret-pw")).await.unwrap();
    assert!(!format!("{store:?}").contains("secret-pw"));
    let t = Instant::now();
    let e = store.migrate().await.unwrap_err();
    assert_unavailable("migrate", t, Err::<(), _>(e));
    let t = Instant::now();
    assert_unavailable("watch", t, store.watch_versions(Default::default()).await.map(|_| ()));
    let t = Instant::now();
    let e = store.config_versions().latest().await.unwrap_err();
    assert!(!e.to_string().contains("secret-pw"), "{e}");
    assert_unavailable("latest", t, Err::<(), _>(e));
}

#[tokio::test]
async fn a_wrong_password_is_refused_without_echoing_it() {
    let mut options = switchyard_state::test_support::postgres_options();
    options.password = Some("not-the-password".into());
    let store = StateStore::open(&options).await.unwrap();
    let e = store.ping().await.unwrap_err();
    let text = e.to_string();
    assert!(!text.contains("not-the-password"), "{text}");
    assert!(text.contains("password authentication failed"), "{text}");
    assert_eq!(e.blame(), Blame::Internal);
}
