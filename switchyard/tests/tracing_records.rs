//! From a trace to its inference (SPEC §13, §6): the `trace_id` of a traced request reaches
//! the real ClickHouse server, and the control API's browser finds it with `trace_id=` and
//! shows it in the inference detail. Needs `SWITCHYARD_TEST_CLICKHOUSE_URL`.

use std::time::Duration;

use serde_json::Value;
use switchyard_testkit::clickhouse::{ch_url, records_yaml, unique_db, Ch};
use switchyard_testkit::control::{admin_yaml, Api, VIEWER};
use switchyard_testkit::otel::{traced_call, Collector};
use switchyard_testkit::{chat, client, eventually, openai_fake, TestGateway};

#[tokio::test]
async fn the_browser_finds_a_traced_request_by_its_trace_id() {
    let (url, db) = (ch_url(), unique_db("trace_browse"));
    let fake = openai_fake::start().await;
    let collector = Collector::start().await;
    let spool = tempfile::tempdir().expect("tempdir");
    let yaml = format!(
        r#"
providers:
  a: {{ kind: openai, base_url: "{}" }}
groups:
  chat:
    members:
      - {{ name: champ, role: champion, provider: a, model: gpt-4o, weight: 1 }}
tracing:
  otlp_endpoint: "{}"
{}{}"#,
        openai_fake::base_url(&fake),
        collector.endpoint(),
        records_yaml(&url, &db, spool.path(), ""),
        admin_yaml()
    );
    let gw = TestGateway::start_with_control(&yaml).await;
    let call = traced_call(&gw.url("/v1/chat/completions"), &chat("chat")).await;
    assert_eq!(call.status, 200);
    let request_id = call.headers["x-switchyard-request-id"].clone();
    // Another request, in another trace.
    let other = client().post(gw.url("/v1/chat/completions")).body(chat("chat")).send().await.expect("send");
    assert_eq!(other.status(), 200);

    let ch = Ch::new(&url);
    let shipped = eventually(Duration::from_secs(30), async || {
        ch.try_query(&db, "SELECT count() FROM inferences").await.is_ok_and(|t| t.trim() == "2")
    })
    .await;
    assert!(shipped, "records did not reach ClickHouse");
    let stored = ch.query(&db, &format!("SELECT trace_id FROM inferences WHERE request_id = '{request_id}'")).await;
    assert_eq!(stored.trim(), call.trace_id);

    let api = Api::new(&gw);
    let page: Value = api
        .get(&format!("/inferences?trace_id={}", call.trace_id.to_ascii_uppercase()), VIEWER)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(
        (items[0]["request_id"].as_str(), items[0]["trace_id"].as_str()),
        (Some(request_id.as_str()), Some(call.trace_id.as_str()))
    );
    let detail: Value =
        api.get(&format!("/inferences/{request_id}"), VIEWER).send().await.expect("send").json().await.expect("json");
    assert_eq!(detail["record"]["trace_id"], call.trace_id.as_str(), "{detail}");
    // The exported server span names the same request.
    let spans = collector
        .wait_for(Duration::from_secs(10), |s| s.iter().any(|x| x.is_server() && x.trace_id == call.trace_id))
        .await;
    let server = spans.iter().find(|x| x.is_server() && x.trace_id == call.trace_id).expect("server span");
    assert_eq!(server.str("switchyard.request_id"), Some(request_id.as_str()));

    let bad = api.get("/inferences?trace_id=not-a-trace", VIEWER).send().await.expect("send");
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.expect("json");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("trace_id")), "{body}");

    gw.stop().await;
    ch.drop_db(&db).await;
}
