//! Change notifications: a version stored anywhere reaches every watcher within 2 s,
//! through NOTIFY on PostgreSQL and through polling when a notification is lost.

use std::time::{Duration, Instant};

use switchyard_state::{Engine, WatchOptions};

use crate::both_engines;
use crate::common::Harness;

const DEADLINE: Duration = Duration::from_secs(2);

async fn a_new_version_reaches_other_replicas_within_2s(h: &Harness) {
    let (writer, reader) = (h.store().await, h.store().await);
    // On PostgreSQL the poll is made too slow to matter, so only NOTIFY can meet the
    // deadline; SQLite has only the poll (default 1 s).
    let poll_interval = match h.engine {
        Engine::Postgres => Duration::from_secs(60),
        Engine::Sqlite => Duration::from_secs(1),
    };
    let mut watch = reader.watch_versions(WatchOptions { poll_interval, listen: true }).await.unwrap();
    assert_eq!(watch.current(), 0);
    // Let the listener connect before the first append.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for expected in 0..3u64 {
        let stored = writer.config_versions().append(expected, &format!("n: {expected}\n"), "ops", "").await.unwrap();
        let start = Instant::now();
        let seen = tokio::time::timeout(DEADLINE, watch.changed()).await;
        assert_eq!(seen, Ok(stored.version), "version {} not seen within 2 s", stored.version);
        eprintln!("{:?}: version {} seen after {:?}", h.engine, stored.version, start.elapsed());
    }
}
both_engines!(a_new_version_reaches_other_replicas_within_2s);

async fn a_lost_notification_is_caught_by_polling(h: &Harness) {
    let reader = h.store().await;
    let mut watch = reader.watch_versions(WatchOptions::default()).await.unwrap();
    let mut subscriber = watch.subscribe();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Another writer stores a version and sends no NOTIFY (as if the notification were
    // lost on the way).
    h.raw(
        "INSERT INTO config_versions (version, created_at_ms, actor, reason, yaml, sha256, source) \
         VALUES (1, 0, 'other', '', 'x: 1', 'unused', 'store')",
    )
    .await;
    let start = Instant::now();
    let seen = tokio::time::timeout(DEADLINE, watch.changed()).await;
    assert_eq!(seen, Ok(1), "a version stored without NOTIFY is seen within 2 s by polling");
    eprintln!("{:?}: seen by polling after {:?}", h.engine, start.elapsed());
    assert!(subscriber.has_changed().unwrap());
    assert_eq!(*subscriber.borrow_and_update(), 1);
    // Dropping the watch stops its tasks: the subscriber sees the channel closed.
    drop(watch);
    assert!(tokio::time::timeout(DEADLINE, subscriber.changed()).await.unwrap().is_err());
}
both_engines!(a_lost_notification_is_caught_by_polling);
