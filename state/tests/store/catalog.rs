//! The model catalog's rows: compare-and-set per entry version, audit in the same
//! transaction, filters and keyset pages.

use switchyard_state::{AuditEntry, AuditFilter, CatalogFilter, CatalogWrite, Expect, StateError};

use crate::both_engines;
use crate::common::Harness;

fn write<'a>(id: &'a str, kind: Option<&'a str>, display: Option<&'a str>, document: &'a str) -> CatalogWrite<'a> {
    let (provider, name) = id.split_once('/').unwrap();
    CatalogWrite { id, provider, name, kind, display_name: display, document }
}

fn audit(action: &str, target: &str) -> AuditEntry {
    AuditEntry {
        audit_id: switchyard_core::new_id(),
        timestamp_ms: 1,
        actor: "ops".into(),
        action: action.into(),
        target: target.into(),
        tenant: None,
        config_version: 0,
        before: serde_json::Value::Null,
        after: serde_json::json!({"id": target}),
        reason: String::new(),
    }
}

fn stale(e: StateError) -> Option<u64> {
    match e {
        StateError::StaleEntry { current } => current,
        other => panic!("expected StaleEntry, got {other}"),
    }
}

async fn catalog_writes_are_compare_and_set(h: &Harness) {
    let store = h.store().await;
    let catalog = store.catalog();
    let id = "openai/gpt-4o";
    let created = catalog
        .put(&write(id, Some("chat"), None, "{\"v\":1}"), Expect::Absent, Some(&audit("model.create", id)))
        .await
        .unwrap();
    assert_eq!((created.version, created.name.as_str()), (1, "gpt-4o"));
    // Creating again, or updating from a version that is not current, loses.
    let again = catalog.put(&write(id, None, None, "{}"), Expect::Absent, None).await.unwrap_err();
    assert_eq!(stale(again), Some(1));
    let old = catalog.put(&write(id, None, None, "{}"), Expect::Version(7), None).await.unwrap_err();
    assert_eq!(stale(old), Some(1));
    let updated =
        catalog.put(&write(id, Some("chat"), Some("GPT-4o"), "{\"v\":2}"), Expect::Version(1), None).await.unwrap();
    assert_eq!((updated.version, updated.document.as_str()), (2, "{\"v\":2}"));
    let any = catalog.put(&write(id, Some("chat"), Some("GPT-4o"), "{\"v\":3}"), Expect::Exists, None).await.unwrap();
    assert_eq!(any.version, 3);
    let missing = catalog.put(&write("openai/none", None, None, "{}"), Expect::Exists, None).await.unwrap_err();
    assert_eq!(stale(missing), None);

    // Racing writers from one version: exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let c = store.catalog();
        tasks.push(tokio::spawn(async move {
            let doc = format!("{{\"racer\":{i}}}");
            c.put(&write("openai/gpt-4o", Some("chat"), None, &doc), Expect::Version(3), None).await.is_ok()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
    assert_eq!(catalog.get(id).await.unwrap().unwrap().version, 4);

    // Delete: only at the current version; audited with it.
    assert_eq!(stale(catalog.delete(id, 3, None).await.unwrap_err()), Some(4));
    catalog.delete(id, 4, Some(&audit("model.delete", id))).await.unwrap();
    assert_eq!(catalog.get(id).await.unwrap(), None);
    assert_eq!(stale(catalog.delete(id, 4, None).await.unwrap_err()), None);
    let trail = store.audit().list(&AuditFilter { target: Some(id.into()), ..AuditFilter::default() }).await.unwrap();
    let actions: Vec<&str> = trail.entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["model.delete", "model.create"]);
}
both_engines!(catalog_writes_are_compare_and_set);

async fn catalog_lists_filter_and_page(h: &Harness) {
    let store = h.store().await;
    let catalog = store.catalog();
    for (id, kind, display) in [
        ("openai/gpt-4o", Some("chat"), Some("GPT-4o")),
        ("openai/text-embedding-3-small", Some("embedding"), None),
        ("anthropic/claude-3-5-sonnet", Some("chat"), Some("Claude 3.5 Sonnet")),
        ("vllm/meta-llama/Llama-3.1-8B", None, None),
        ("odd/100%_sure", None, None),
    ] {
        catalog.put(&write(id, kind, display, "{}"), Expect::Absent, None).await.unwrap();
    }
    let ids = |page: switchyard_state::CatalogPage| page.rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let by = |f: CatalogFilter| {
        let c = catalog.clone();
        async move { ids(c.list(&f).await.unwrap()) }
    };
    assert_eq!(
        by(CatalogFilter { provider: Some("openai".into()), ..Default::default() }).await,
        ["openai/gpt-4o", "openai/text-embedding-3-small"]
    );
    assert_eq!(
        by(CatalogFilter { kind: Some("chat".into()), ..Default::default() }).await,
        ["anthropic/claude-3-5-sonnet", "openai/gpt-4o"]
    );
    // q: case-insensitive, on the id or the display name; wildcards are literal.
    assert_eq!(
        by(CatalogFilter { q: Some("SONNET".into()), ..Default::default() }).await,
        ["anthropic/claude-3-5-sonnet"]
    );
    assert_eq!(
        by(CatalogFilter { q: Some("llama-3.1".into()), ..Default::default() }).await,
        ["vllm/meta-llama/Llama-3.1-8B"]
    );
    assert_eq!(by(CatalogFilter { q: Some("0%_".into()), ..Default::default() }).await, ["odd/100%_sure"]);
    assert!(by(CatalogFilter { q: Some("%".into()), provider: Some("openai".into()), ..Default::default() })
        .await
        .is_empty());

    // Pages of two: every entry once, in id order.
    let mut seen = Vec::new();
    let mut filter = CatalogFilter { limit: Some(2), ..Default::default() };
    loop {
        let page = catalog.list(&filter).await.unwrap();
        seen.extend(page.rows.into_iter().map(|r| r.id));
        match page.next_cursor {
            Some(c) => filter.cursor = Some(c),
            None => break,
        }
    }
    let all: Vec<String> = catalog.all().await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(seen, all);
    assert_eq!(all.len(), 5);
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);
    assert!(catalog.list(&CatalogFilter { limit: Some(0), ..Default::default() }).await.is_err());
}
both_engines!(catalog_lists_filter_and_page);
