//! Fine-tuning jobs' rows: compare-and-set per job version, event and audit in the same
//! transaction, trainer events stored once, listings newest first by state.

use switchyard_state::{AuditEntry, AuditFilter, JobFilter, JobWrite, StateError};

use crate::both_engines;
use crate::common::Harness;

fn write<'a>(id: &'a str, state: &'a str, provider_job_id: Option<&'a str>, document: &'a str) -> JobWrite<'a> {
    JobWrite { id, state, tenant: Some("acme"), provider_job_id, document }
}

fn audit(action: &str, target: &str) -> AuditEntry {
    AuditEntry {
        audit_id: switchyard_core::new_id(),
        timestamp_ms: 1,
        actor: "jobs".into(),
        action: action.into(),
        target: target.into(),
        tenant: Some("acme".into()),
        config_version: 0,
        before: serde_json::Value::Null,
        after: serde_json::json!({"state": action}),
        reason: String::new(),
    }
}

async fn jobs_are_compare_and_set_with_events_and_audit(h: &Harness) {
    let store = h.store().await;
    let jobs = store.jobs();
    let id = switchyard_core::new_id();
    let target = format!("jobs.{id}");
    let created = jobs
        .create(&write(&id, "draft", None, "{\"v\":1}"), "{\"e\":1}", Some(&audit("job.create", &target)))
        .await
        .unwrap();
    assert_eq!((created.version, created.state.as_str(), created.tenant.as_deref()), (1, "draft", Some("acme")));
    let again = jobs.create(&write(&id, "draft", None, "{}"), "{}", None).await.unwrap_err();
    assert!(matches!(again, StateError::StaleEntry { current: Some(1) }), "{again}");

    // Racing writers from one version: exactly one wins; the losers' events are not stored.
    let mut tasks = Vec::new();
    for i in 0..6 {
        let (jobs, id, target) = (jobs.clone(), id.clone(), target.clone());
        tasks.push(tokio::spawn(async move {
            let doc = format!("{{\"v\":{i}}}");
            jobs.update(
                &write(&id, "validating", None, &doc),
                1,
                Some("{\"e\":2}"),
                Some(&audit("job.validating", &target)),
            )
            .await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(row) => {
                won += 1;
                assert_eq!(row.version, 2);
            }
            Err(StateError::StaleEntry { current }) => assert_eq!(current, Some(2)),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(won, 1);
    let events = jobs.events(&id, 0, 100).await.unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events[0].seq < events[1].seq);
    let audited =
        store.audit().list(&AuditFilter { target: Some(target.clone()), ..Default::default() }).await.unwrap();
    assert_eq!(audited.entries.len(), 2);

    // A trainer's event is stored once per job, however often it is read.
    assert!(jobs.add_event(&id, Some("ftevent-1"), "{\"t\":1}").await.unwrap());
    assert!(!jobs.add_event(&id, Some("ftevent-1"), "{\"t\":1}").await.unwrap());
    assert!(jobs.add_event(&id, None, "{\"own\":1}").await.unwrap());
    assert!(jobs.add_event(&id, None, "{\"own\":2}").await.unwrap());
    let after = events[1].seq;
    let newer = jobs.events(&id, after, 100).await.unwrap();
    assert_eq!(newer.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(), ["{\"t\":1}", "{\"own\":1}", "{\"own\":2}"]);
    assert_eq!(newer[0].source_id.as_deref(), Some("ftevent-1"));

    let running = jobs.update(&write(&id, "running", Some("ftjob-1"), "{\"v\":9}"), 2, None, None).await.unwrap();
    assert_eq!(running.provider_job_id.as_deref(), Some("ftjob-1"));
    assert_eq!(jobs.get(&id).await.unwrap().unwrap().version, 3);
    assert_eq!(jobs.get("nope").await.unwrap(), None);
}

async fn jobs_list_newest_first_by_state_in_pages(h: &Harness) {
    let store = h.store().await;
    let jobs = store.jobs();
    let mut ids = Vec::new();
    for i in 0..5 {
        let id = switchyard_core::new_id();
        let state = if i % 2 == 0 { "running" } else { "failed" };
        jobs.create(&write(&id, state, None, "{}"), "{}", None).await.unwrap();
        ids.push(id);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let first = jobs.list(&JobFilter { limit: Some(2), ..Default::default() }).await.unwrap();
    assert_eq!(first.rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), [ids[4].clone(), ids[3].clone()]);
    let rest =
        jobs.list(&JobFilter { cursor: first.next_cursor, limit: Some(10), ..Default::default() }).await.unwrap();
    assert_eq!(rest.rows.len(), 3);
    assert_eq!(rest.next_cursor, None);
    let running =
        jobs.list(&JobFilter { states: vec!["running".into(), "queued".into()], ..Default::default() }).await.unwrap();
    assert_eq!(running.rows.len(), 3);
    assert!(running.rows.iter().all(|r| r.state == "running"));
    let mut counts = jobs.count_by_state().await.unwrap();
    counts.sort();
    assert_eq!(counts, [("failed".to_owned(), 2), ("running".to_owned(), 3)]);
    let acme = jobs.list(&JobFilter { tenant: Some("acme".into()), ..Default::default() }).await.unwrap();
    let all = jobs.list(&JobFilter::default()).await.unwrap();
    assert_eq!(acme.rows.len(), all.rows.len(), "every job here is acme's");
    let other = jobs.list(&JobFilter { tenant: Some("globex".into()), ..Default::default() }).await.unwrap();
    assert!(other.rows.is_empty(), "no job of another tenant");
    assert!(jobs.list(&JobFilter { limit: Some(0), ..Default::default() }).await.is_err());
}

both_engines!(jobs_are_compare_and_set_with_events_and_audit);
both_engines!(jobs_list_newest_first_by_state_in_pages);
