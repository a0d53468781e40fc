//! Migrations: idempotent, and safe when replicas run them at the same moment.

use switchyard_state::{StateStore, MIGRATIONS};

use crate::both_engines;
use crate::common::Harness;

async fn migrations_are_idempotent_and_concurrent(h: &Harness) {
    // Four replicas start together on an empty database.
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(h.open().await);
    }
    let runs = stores.iter().cloned().map(|s: StateStore| tokio::spawn(async move { s.migrate().await }));
    let mut applied = Vec::new();
    for run in runs {
        let report = run.await.unwrap().unwrap_or_else(|e| panic!("{e}"));
        assert!(report.unknown.is_empty());
        applied.extend(report.applied);
    }
    applied.sort();
    let all: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(applied, all, "every migration applied exactly once across the replicas");

    // Again: nothing to do, and the store works.
    let again = stores[0].migrate().await.unwrap();
    assert!(again.applied.is_empty(), "{again:?}");
    stores[1].config_versions().append(0, "groups: {}\n", "ops", "first").await.unwrap();
    assert_eq!(stores[2].config_versions().latest_version().await.unwrap(), 1);
}
both_engines!(migrations_are_idempotent_and_concurrent);

async fn a_schema_from_a_newer_switchyard_is_reported_not_refused(h: &Harness) {
    let store = h.store().await;
    h.raw("INSERT INTO switchyard_schema_migrations (version, name, checksum, applied_at_ms) VALUES (9999, 'future', 'x', 0)")
        .await;
    let report = store.migrate().await.unwrap();
    assert_eq!(report.unknown, vec![9999]);
    assert!(report.applied.is_empty());
}
both_engines!(a_schema_from_a_newer_switchyard_is_reported_not_refused);

async fn an_edited_migration_is_refused(h: &Harness) {
    let store = h.store().await;
    h.raw("UPDATE switchyard_schema_migrations SET checksum = 'edited' WHERE version = 2").await;
    let e = store.migrate().await.unwrap_err();
    assert!(e.to_string().contains("0002_audit was changed after it ran"), "{e}");
    assert_eq!(e.blame(), switchyard_core::Blame::Internal);
    assert!(!e.retryable());
}
both_engines!(an_edited_migration_is_refused);
