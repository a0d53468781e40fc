//! Config versions: compare-and-set across replicas, listings, file-era import.

use std::collections::HashSet;
use std::sync::Arc;

use switchyard_core::Blame;
use switchyard_state::{ImportedVersion, StateError};
use tokio::sync::Barrier;

use crate::both_engines;
use crate::common::Harness;

async fn racing_appends_on_one_version_have_one_winner(h: &Harness) {
    let (a, b) = (h.store().await, h.store().await);
    for round in 0..20u64 {
        let barrier = Arc::new(Barrier::new(2));
        let race = |store: switchyard_state::StateStore, who: &'static str| {
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                store.config_versions().append(round, &format!("by: {who}\nround: {round}\n"), who, "race").await
            })
        };
        let (ra, rb) = (race(a.clone(), "a"), race(b.clone(), "b"));
        let (ra, rb) = (ra.await.unwrap(), rb.await.unwrap());
        let (won, lost) = match (ra, rb) {
            (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
            (ra, rb) => panic!("round {round}: expected exactly one winner, got {ra:?} and {rb:?}"),
        };
        assert_eq!(won.version, round + 1);
        assert!(matches!(lost, StateError::Stale { current } if current == round + 1), "{lost:?}");
        assert_eq!(lost.blame(), Blame::Client);
        assert!(!lost.retryable());
    }
    assert_eq!(a.config_versions().latest_version().await.unwrap(), 20);
}
both_engines!(racing_appends_on_one_version_have_one_winner);

async fn three_replicas_append_gapless_unique_versions(h: &Harness) {
    let replicas = [h.store().await, h.store().await, h.store().await];
    let mut tasks = Vec::new();
    for (r, store) in replicas.iter().enumerate() {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let versions = store.config_versions();
            let mut mine = Vec::new();
            for i in 0..30 {
                let yaml = format!("replica: {r}\nedit: {i}\n");
                loop {
                    let expected = versions.latest_version().await.unwrap();
                    match versions.append(expected, &yaml, &format!("replica-{r}"), "load").await {
                        Ok(v) => break mine.push(v.version),
                        Err(StateError::Stale { .. }) => continue,
                        Err(e) => panic!("replica {r}: {e}"),
                    }
                }
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, (1..=90).collect::<Vec<u64>>(), "versions are gapless and each went to one append");
    // Every edit is stored once, under the version its append reported.
    let versions = replicas[0].config_versions();
    let mut texts = HashSet::new();
    for v in 1..=90 {
        let stored = versions.get(v).await.unwrap().unwrap();
        assert!(texts.insert(stored.yaml), "version {v} duplicates an edit");
    }
    assert_eq!(texts.len(), 90);
}
both_engines!(three_replicas_append_gapless_unique_versions);

async fn versions_read_back_and_page(h: &Harness) {
    let store = h.store().await;
    let versions = store.config_versions();
    assert_eq!(versions.latest().await.unwrap(), None);
    assert_eq!(versions.latest_version().await.unwrap(), 0);
    // Expecting a version that does not exist yet is stale, not a gap.
    assert!(matches!(versions.append(3, "x: 1\n", "ops", "").await, Err(StateError::Stale { current: 0 })));
    let before = store.server_now_ms().await.unwrap();
    for i in 1..=5u64 {
        let v = versions.append(i - 1, &format!("v: {i}\n"), "ops", &format!("edit {i}")).await.unwrap();
        assert_eq!(v.version, i);
        assert!(v.created_at_ms >= before - 1);
    }
    let three = versions.get(3).await.unwrap().unwrap();
    assert_eq!((three.yaml.as_str(), three.actor.as_str(), three.reason.as_str()), ("v: 3\n", "ops", "edit 3"));
    assert_eq!(three.source, "store");
    assert_eq!(versions.latest().await.unwrap().unwrap().version, 5);
    assert_eq!(versions.get(6).await.unwrap(), None);
    let page = versions.list(2, None).await.unwrap();
    assert_eq!(page.iter().map(|v| v.version).collect::<Vec<_>>(), vec![5, 4]);
    assert_eq!(page[0].bytes, 5);
    let next = versions.list(2, Some(4)).await.unwrap();
    assert_eq!(next.iter().map(|v| v.version).collect::<Vec<_>>(), vec![3, 2]);
    assert!(versions.list(0, None).await.is_err());
    let e = versions.append(5, "x", "", "").await.unwrap_err();
    assert_eq!(e.to_string(), "actor: must not be empty");
}
both_engines!(versions_read_back_and_page);

/// The file era's history directory, written as `config/src/history.rs` writes it.
fn write_history(dir: &std::path::Path, versions: &[(u64, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (v, text) in versions {
        std::fs::write(dir.join(format!("v{v:08}.yaml")), text).unwrap();
    }
    std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
}

async fn file_history_imports_once(h: &Harness) {
    let store = h.store().await;
    let versions = store.config_versions();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(".switchyard.yaml.history");
    write_history(&dir, &[(1, "a: 1\n"), (2, "a: 2\n"), (5, "a: 5\n")]);

    let first = versions.import_history_dir(&dir).await.unwrap();
    assert_eq!((first.imported, first.already_present), (3, 0));
    assert!(first.conflicts.is_empty());
    let second = versions.import_history_dir(&dir).await.unwrap();
    assert_eq!((second.imported, second.already_present), (0, 3), "the second import stores nothing");

    let five = versions.get(5).await.unwrap().unwrap();
    assert_eq!((five.yaml.as_str(), five.actor.as_str(), five.source.as_str()), ("a: 5\n", "file-import", "import"));
    assert!(five.created_at_ms > 1_600_000_000_000, "the file's mtime: {}", five.created_at_ms);
    assert_eq!(versions.list(10, None).await.unwrap().len(), 3);

    // New versions continue after the imported ones.
    assert_eq!(versions.append(5, "a: 6\n", "ops", "").await.unwrap().version, 6);

    // A file that differs from what is stored is reported, not written.
    let changed = [ImportedVersion { version: 2, yaml: "a: changed\n".into(), created_at_ms: 1 }];
    let report = versions.import(&changed, "test").await.unwrap();
    assert_eq!(report.conflicts, vec![2]);
    assert_eq!(versions.get(2).await.unwrap().unwrap().yaml, "a: 2\n");

    // A missing directory is an empty history.
    assert_eq!(versions.import_history_dir(&tmp.path().join("none")).await.unwrap().imported, 0);
}
both_engines!(file_history_imports_once);

async fn an_audited_append_stores_both_or_neither(h: &Harness) {
    let store = h.store().await;
    let versions = store.config_versions();
    let entry = |id: &str| switchyard_state::AuditEntry {
        audit_id: id.into(),
        timestamp_ms: 1_700_000_000_000,
        actor: "auto-promotion".into(),
        action: "group.promote".into(),
        target: "groups.a".into(),
        tenant: Some("acme".into()),
        config_version: 0,
        before: serde_json::json!({"champion": "a"}),
        after: serde_json::json!({"champion": "b"}),
        reason: "evidence".into(),
    };
    let v = versions.append_audited(0, "a: 1\n", "auto-promotion", "promote b", &entry("d1")).await.unwrap();
    assert_eq!(v.version, 1);
    // The same decision made again on a stale version is refused and audited nowhere.
    let e = versions.append_audited(0, "a: 1\n", "auto-promotion", "promote b", &entry("d2")).await.unwrap_err();
    assert!(matches!(e, StateError::Stale { current: 1 }), "{e:?}");
    let audit = store.audit().list(&Default::default()).await.unwrap().entries;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!((audit[0].audit_id.as_str(), audit[0].config_version), ("d1", 1));
}
both_engines!(an_audited_append_stores_both_or_neither);

async fn retention_deletes_old_versions_but_keeps_the_newest(h: &Harness) {
    let store = h.store().await;
    let versions = store.config_versions();
    let now = store.server_now_ms().await.unwrap();
    let day = 86_400_000;
    // 1–4 old, 5 recent; then everything old: the newest numbers stay whatever their age.
    let old: Vec<ImportedVersion> = (1..=4)
        .map(|v| ImportedVersion { version: v, yaml: format!("v: {v}\n"), created_at_ms: now - 40 * day })
        .chain([ImportedVersion { version: 5, yaml: "v: 5\n".into(), created_at_ms: now - day }])
        .collect();
    versions.import(&old, "test").await.unwrap();
    assert_eq!(versions.delete_older_than(30, 2).await.unwrap(), 3, "1, 2 and 3 (4 is within 2 of 5)");
    let left: Vec<u64> = versions.list(100, None).await.unwrap().iter().map(|v| v.version).collect();
    assert_eq!(left, [5, 4]);
    assert_eq!(versions.delete_older_than(30, 2).await.unwrap(), 0);
    assert_eq!(versions.delete_older_than(0, 1).await.unwrap(), 1, "all old: only the newest stays");
    assert_eq!(versions.latest_version().await.unwrap(), 5);
    let next = versions.append(5, "v: 6\n", "ops", "after retention").await.unwrap();
    assert_eq!(next.version, 6, "appends still number from the newest");
}
both_engines!(retention_deletes_old_versions_but_keeps_the_newest);
