//! The inference browser against the real ClickHouse server (`scripts/clickhouse.sh start`):
//! synthetic rows, half of them replayed, are paged through with every filter, and one
//! inference is read back with its deduplicated feedback and attributions; bad input and an
//! unreachable server are told apart.
#![allow(clippy::unwrap_used, clippy::manual_is_multiple_of)]

use std::collections::HashSet;

use clickhouse::Client;
use switchyard_control_api::analytics::{
    get_inference, is_member_error, list_inferences, trace_id_filter, AnalyticsError, InferenceFilter, StatusFilter,
};
use switchyard_records::rows::{seconds, ExplanationRow, FeedbackRow, InferenceRow};
use switchyard_records::{group_table, schema};

use crate::analytics_rows::{drop_db, fresh_db, insert, row, Mix, BASE_MS, GROUP, TRACE};

#[tokio::test]
async fn browser_pages_filters_and_detail() {
    let (client, db) = fresh_db("browser").await;
    let table = group_table(GROUP);
    let mut mix = Mix(7);
    let rows: Vec<InferenceRow> = (0..203u64)
        .map(|i| {
            if i % 4 == 0 {
                row(i, "llama", "challenger", "random", &mut mix)
            } else {
                row(i, "gpt", "champion", "random", &mut mix)
            }
        })
        .collect();
    insert(&client, &table, &rows).await;
    insert(&client, &table, &rows.iter().step_by(2).cloned().collect::<Vec<_>>()).await;
    // Another group's rows show up only in the unfiltered listing (Merge table).
    schema::ensure_group_table(&client, "other").await.unwrap();
    let mut other = row(9_999, "x", "champion", "random", &mut mix);
    other.group_name = "other".into();
    insert(&client, &group_table("other"), &[other]).await;

    let page_all = |filter: InferenceFilter, limit: u32| {
        let (client, db) = (client.clone(), db.clone());
        async move {
            let mut items = Vec::new();
            let mut cursor: Option<String> = None;
            let mut pages = 0;
            loop {
                let page = list_inferences(&client, &db, &filter, cursor.as_deref(), limit).await.unwrap();
                assert!(page.items.len() <= limit as usize);
                items.extend(page.items);
                pages += 1;
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            (items, pages)
        }
    };
    let group = InferenceFilter { group: Some(GROUP.into()), ..Default::default() };
    let (items, pages) = page_all(group.clone(), 7).await;
    assert_eq!(pages, 203usize.div_ceil(7));
    let ids: Vec<&str> = items.iter().map(|i| i.request_id.as_str()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!((ids.len(), unique.len()), (203, 203), "no item twice, none missing");
    let mut expected: Vec<(i64, String)> = rows.iter().map(|r| (r.timestamp_ms, r.request_id.clone())).collect();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(items.iter().map(|i| (i.timestamp_ms, i.request_id.clone())).collect::<Vec<_>>(), expected);

    // Rows inserted while paging (newer) do not disturb the pages after the cursor.
    let first = list_inferences(&client, &db, &group, None, 50).await.unwrap();
    let mut newer = row(777_777, "gpt", "champion", "random", &mut mix);
    newer.timestamp_ms = BASE_MS + 86_400_000 / 2;
    newer.ts = seconds(newer.timestamp_ms);
    insert(&client, &table, &[newer]).await;
    let second = list_inferences(&client, &db, &group, first.next_cursor.as_deref(), 50).await.unwrap();
    assert_eq!(second.items.first().map(|i| &i.request_id), Some(&expected[50].1));

    // Filters.
    let (llama, _) = page_all(InferenceFilter { member: Some("llama".into()), ..group.clone() }, 1000).await;
    assert_eq!(llama.len(), rows.iter().filter(|r| r.member == "llama").count());
    let (errors, _) = page_all(InferenceFilter { status: Some(StatusFilter::Error), ..group.clone() }, 1000).await;
    assert_eq!(errors.len(), rows.iter().filter(|r| is_member_error(r.status, &r.error_class)).count());
    let (fours, _) =
        page_all(InferenceFilter { status: Some(StatusFilter::parse("4xx").unwrap()), ..group.clone() }, 9).await;
    assert_eq!(fours.len(), rows.iter().filter(|r| (400..500).contains(&r.status)).count());
    let window =
        InferenceFilter { since_ms: Some(BASE_MS + 70_000), until_ms: Some(BASE_MS + 140_000), ..group.clone() };
    let (windowed, _) = page_all(window, 4).await;
    assert_eq!(
        windowed.len(),
        rows.iter().filter(|r| (BASE_MS + 70_000..BASE_MS + 140_000).contains(&r.timestamp_ms)).count()
    );
    let (tagged, _) =
        page_all(InferenceFilter { client_request_id: Some("client-batch-7".into()), ..group.clone() }, 2).await;
    let want: HashSet<&str> =
        rows.iter().filter(|r| r.client_request_id == "client-batch-7").map(|r| r.request_id.as_str()).collect();
    assert!(!want.is_empty());
    assert_eq!(tagged.iter().map(|i| i.request_id.as_str()).collect::<HashSet<_>>(), want);
    assert!(tagged.iter().all(|i| i.client_request_id == "client-batch-7"));
    let (traced, _) = page_all(InferenceFilter { trace_id: Some(TRACE.into()), ..group.clone() }, 2).await;
    let want: HashSet<&str> = rows.iter().filter(|r| r.trace_id == TRACE).map(|r| r.request_id.as_str()).collect();
    assert!(want.len() > 2, "several pages of one trace");
    assert_eq!(traced.iter().map(|i| i.request_id.as_str()).collect::<HashSet<_>>(), want);
    assert!(traced.iter().all(|i| i.trace_id == TRACE));
    assert_eq!(trace_id_filter(&TRACE.to_ascii_uppercase()).unwrap(), TRACE, "upper-case hex is accepted");
    for bad in ["", "abc", "zz000000000000000000000000000000", &format!("{TRACE}0")] {
        match trace_id_filter(bad) {
            Err(e @ AnalyticsError::InvalidInput { .. }) => assert_eq!(e.http_status(), 400),
            other => panic!("{bad:?}: expected InvalidInput, got {other:?}"),
        }
    }
    let (everything, _) = page_all(InferenceFilter::default(), 100).await;
    assert_eq!(everything.len(), 203 + 1 + 1, "both groups via the Merge table, the newer row included");

    // Detail with deduplicated feedback and attributions.
    let target = &rows[7];
    let fb = |id: &str, v: f64| FeedbackRow {
        feedback_id: id.into(),
        request_id: target.request_id.clone(),
        ts: target.ts,
        timestamp_ms: target.timestamp_ms + 5,
        metric: "resolved".into(),
        value: v,
        tenant: String::new(),
        client: String::new(),
    };
    insert(&client, "feedback", &[fb("f1", 1.0), fb("f2", 0.0)]).await;
    insert(&client, "feedback", &[fb("f1", 1.0)]).await;
    let expl = |ordinal: u32, feature: &str, value: f64| ExplanationRow {
        request_id: target.request_id.clone(),
        ts: target.ts,
        timestamp_ms: target.timestamp_ms,
        group_name: GROUP.into(),
        member: target.member.clone(),
        config_version: 3,
        source: "explainer".into(),
        method: "shap".into(),
        instance: 0,
        output: 0,
        output_name: String::new(),
        ordinal,
        feature: feature.into(),
        value,
        base_value: Some(0.5),
        output_value: Some(0.625),
        confidence: None,
        coverage: None,
        explainer_latency_us: Some(900),
    };
    let explanations = [expl(0, "age", 0.25), expl(1, "income", -0.125)];
    insert(&client, "explanations", &explanations).await;
    insert(&client, "explanations", &explanations).await;
    let detail = get_inference(&client, &db, &target.request_id, None).await.unwrap().unwrap();
    assert_eq!(detail.record.request_id, target.request_id);
    assert_eq!(detail.record.status, target.status);
    assert_eq!(detail.record.ttft_us, target.ttft_us);
    assert_eq!(detail.record.trace_id, target.trace_id);
    assert_eq!(detail.request_body.as_deref(), Some("{\"q\":1}"));
    assert_eq!(
        detail.feedback.iter().map(|f| (f.feedback_id.as_str(), f.value)).collect::<Vec<_>>(),
        [("f1", 1.0), ("f2", 0.0)]
    );
    assert_eq!(detail.attributions.len(), 1, "one set: instance 0, output 0");
    let a = &detail.attributions[0];
    assert_eq!((a.names.clone(), a.values.clone()), (vec!["age".to_owned(), "income".to_owned()], vec![0.25, -0.125]));
    assert_eq!((a.base_value, a.output_value, a.explainer_latency_us), (Some(0.5), Some(0.625), Some(900)));
    assert!(get_inference(&client, &db, "no-such-request", None).await.unwrap().is_none());

    // Bad input and an unreachable server are told apart.
    match list_inferences(&client, &db, &group, Some("%%%"), 10).await {
        Err(e @ AnalyticsError::InvalidInput { .. }) => assert_eq!(e.http_status(), 400),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
    // A bad cursor is a 400 also for a group that has no table yet (it was an empty page).
    let no_table = InferenceFilter { group: Some("no-records-yet".into()), ..InferenceFilter::default() };
    match list_inferences(&client, &db, &no_table, Some("%%%"), 10).await {
        Err(e @ AnalyticsError::InvalidInput { field: "cursor", .. }) => assert_eq!(e.http_status(), 400),
        other => panic!("expected InvalidInput for the cursor, got {other:?}"),
    }
    let dead = Client::default().with_url("http://127.0.0.1:1").with_validation(false);
    match list_inferences(&dead, &db, &group, None, 10).await {
        Err(e @ AnalyticsError::Unavailable { .. }) => {
            assert_eq!(e.http_status(), 503);
            assert!(!e.to_string().contains("127.0.0.1"), "no addresses in messages: {e}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    drop_db(&client, &db).await;
}
