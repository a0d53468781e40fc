//! The audit trail: filters, keyset pagination, retention, the file-era import.

use std::collections::HashSet;

use serde_json::json;
use switchyard_core::Blame;
use switchyard_state::{AuditEntry, AuditFilter};

use crate::both_engines;
use crate::common::Harness;

fn entry(i: u64, timestamp_ms: i64, actor: &str, target: &str, tenant: Option<&str>) -> AuditEntry {
    AuditEntry {
        audit_id: format!("audit-{i:04}"),
        timestamp_ms,
        actor: actor.into(),
        action: ["group.weights", "group.promote"][(i % 2) as usize].into(),
        target: target.into(),
        tenant: tenant.map(Into::into),
        config_version: i,
        before: json!({"weights": {"a": 90, "b": 10}, "i": i}),
        after: json!({"weights": {"a": 80, "b": 20}, "i": i}),
        reason: match i % 3 {
            0 => String::new(),
            _ => format!("because {i}"),
        },
    }
}

/// 30 entries: three share each timestamp, actors alternate, targets and tenants cycle.
fn sample(base_ms: i64) -> Vec<AuditEntry> {
    (0..30u64)
        .map(|i| {
            let actor = if i % 2 == 0 { "ops" } else { "auto-promotion" };
            let target = ["groups.a", "groups.b", "groups.c"][(i % 3) as usize];
            let tenant = [Some("acme"), None, Some("globex")][(i % 3) as usize];
            entry(i, base_ms + (i / 3) as i64 * 1000, actor, target, tenant)
        })
        .collect()
}

async fn audit_filters_and_pages(h: &Harness) {
    let store = h.store().await;
    let audit = store.audit();
    let base = 1_700_000_000_000;
    let entries = sample(base);
    for e in &entries {
        assert!(audit.append(e).await.unwrap());
    }
    assert!(!audit.append(&entries[0]).await.unwrap(), "the same audit_id is stored once");

    // Everything, read back exactly, newest first.
    let all = audit.list(&AuditFilter { limit: Some(1000), ..Default::default() }).await.unwrap();
    assert_eq!(all.entries.len(), 30);
    assert_eq!(all.next_cursor, None);
    assert!(all.entries.windows(2).all(|w| w[0].timestamp_ms >= w[1].timestamp_ms));
    let stored = all.entries.iter().find(|e| e.audit_id == "audit-0004").unwrap();
    assert_eq!(stored, &entries[4]);

    // Pages of 7 cover every entry once, in order, even with timestamps shared.
    let mut seen = Vec::new();
    let mut filter = AuditFilter { limit: Some(7), ..Default::default() };
    loop {
        let page = audit.list(&filter).await.unwrap();
        seen.extend(page.entries.iter().map(|e| e.audit_id.clone()));
        match page.next_cursor {
            Some(c) => filter.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, all.entries.iter().map(|e| e.audit_id.clone()).collect::<Vec<_>>());
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 30);

    // Filters, alone and combined.
    let count = |f: AuditFilter| {
        let audit = audit.clone();
        async move { audit.list(&AuditFilter { limit: Some(1000), ..f }).await.unwrap().entries }
    };
    assert_eq!(count(AuditFilter { actor: Some("ops".into()), ..Default::default() }).await.len(), 15);
    assert_eq!(count(AuditFilter { target: Some("groups.b".into()), ..Default::default() }).await.len(), 10);
    assert_eq!(count(AuditFilter { tenant: Some("acme".into()), ..Default::default() }).await.len(), 10);
    assert_eq!(count(AuditFilter { action: Some("group.promote".into()), ..Default::default() }).await.len(), 15);
    let window =
        count(AuditFilter { since_ms: Some(base + 2000), until_ms: Some(base + 5000), ..Default::default() }).await;
    assert_eq!(window.len(), 9, "since is inclusive, until exclusive");
    assert!(window.iter().all(|e| (base + 2000..base + 5000).contains(&e.timestamp_ms)));
    let both = count(AuditFilter {
        actor: Some("ops".into()),
        tenant: Some("globex".into()),
        since_ms: Some(base + 3000),
        ..Default::default()
    })
    .await;
    assert!(!both.is_empty());
    assert!(both
        .iter()
        .all(|e| e.actor == "ops" && e.tenant.as_deref() == Some("globex") && e.timestamp_ms >= base + 3000));

    // Bad input is the caller's error.
    let bad = audit.list(&AuditFilter { cursor: Some("nope".into()), ..Default::default() }).await.unwrap_err();
    assert_eq!((bad.blame(), bad.to_string().as_str()), (Blame::Client, "cursor: not a cursor from a previous page"));
    assert!(audit.list(&AuditFilter { limit: Some(0), ..Default::default() }).await.is_err());
}
both_engines!(audit_filters_and_pages);

async fn audit_retention_deletes_only_old_entries(h: &Harness) {
    let store = h.store().await;
    let audit = store.audit();
    let now = store.server_now_ms().await.unwrap();
    let day = 86_400_000;
    let old: Vec<_> = (0..5).map(|i| entry(i, now - 40 * day - i as i64, "ops", "groups.a", None)).collect();
    let recent: Vec<_> = (5..8).map(|i| entry(i, now - 29 * day, "ops", "groups.a", None)).collect();
    assert_eq!(audit.append_batch(&old).await.unwrap(), 5);
    assert_eq!(audit.append_batch(&recent).await.unwrap(), 3);
    assert_eq!(audit.delete_older_than(30).await.unwrap(), 5);
    assert_eq!(audit.delete_older_than(30).await.unwrap(), 0);
    let left = audit.list(&AuditFilter::default()).await.unwrap().entries;
    assert_eq!(
        left.iter().map(|e| e.audit_id.as_str()).collect::<Vec<_>>(),
        vec!["audit-0007", "audit-0006", "audit-0005"]
    );
}
both_engines!(audit_retention_deletes_only_old_entries);

async fn audit_jsonl_imports_once_and_reports_bad_lines(h: &Harness) {
    let store = h.store().await;
    let audit = store.audit();
    // Lines as control-api/src/audit.rs writes them (no tenant; reason omitted when empty).
    let lines = [
        r#"{"audit_id":"f1","timestamp_ms":1700000000000,"actor":"ops","action":"group.weights","target":"groups.a","config_version":3,"before":{"a":1},"after":{"a":2},"reason":"tune"}"#,
        "",
        r#"{"audit_id":"f2","timestamp_ms":1700000001000,"actor":"auto-promotion","action":"group.promote","target":"groups.a","config_version":4,"before":null,"after":{"champion":"b"}}"#,
        r#"{"audit_id":"f3", "timestamp_ms": "#,
        r#"{"audit_id":"","timestamp_ms":1,"actor":"ops","action":"x","target":"t","config_version":1,"before":{},"after":{}}"#,
        r#"{"audit_id":"f4","timestamp_ms":1700000002000,"actor":"ops","action":"config.rollback","target":"config","config_version":2,"before":{},"after":{}}"#,
    ]
    .join("\n");
    let first = audit.import_jsonl(lines.as_bytes()).await.unwrap();
    assert_eq!((first.imported, first.already_present), (3, 0));
    assert_eq!(first.malformed.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![4, 5], "{:?}", first.malformed);
    let second = audit.import_jsonl(lines.as_bytes()).await.unwrap();
    assert_eq!((second.imported, second.already_present), (0, 3));

    let entries = audit.list(&AuditFilter::default()).await.unwrap().entries;
    assert_eq!(entries.iter().map(|e| e.audit_id.as_str()).collect::<Vec<_>>(), vec!["f4", "f2", "f1"]);
    let f2 = &entries[1];
    assert_eq!(
        (f2.before.clone(), f2.after["champion"].as_str(), f2.reason.as_str()),
        (serde_json::Value::Null, Some("b"), "")
    );
    assert_eq!(entries[2].reason, "tune");
    assert_eq!(entries[2].tenant, None);

    // From a file; a missing file is an empty log.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("audit.jsonl");
    std::fs::write(&path, &lines).unwrap();
    assert_eq!(audit.import_jsonl_file(&path).await.unwrap().already_present, 3);
    assert_eq!(audit.import_jsonl_file(&tmp.path().join("none.jsonl")).await.unwrap().imported, 0);
}
both_engines!(audit_jsonl_imports_once_and_reports_bad_lines);
