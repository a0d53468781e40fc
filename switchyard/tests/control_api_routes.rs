//! Control-API routes over HTTP that the other tests reach only in parts: a group created,
//! replaced and deleted through the API (served, provisioned in ClickHouse, then gone),
//! a member added and removed, a provider read and deleted, `/v1/embeddings` through an
//! OpenAI-compatible member, and the experiment and inference-browser routes on the
//! records those requests left.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchyard_testkit::clickhouse::{ch_url, records_yaml, unique_db, Ch};
use switchyard_testkit::control::{admin_yaml, etag, Api, ADMIN};
use switchyard_testkit::upstream::FakeUpstream;
use switchyard_testkit::{chat, client, TestGateway};

fn yaml(fake: &FakeUpstream, database: &str, spool: &std::path::Path) -> String {
    format!(
        r#"
providers:
  fake: {{ kind: openai, base_url: "{}", max_in_flight: 8, pool_max_idle_per_host: 4 }}
  spare: {{ kind: mock }}
  unused: {{ kind: mock }}
groups:
  g:
    members:
      - {{ name: champ, role: champion, provider: fake, model: ok, weight: 80 }}
      - {{ name: chall, role: challenger, provider: spare, weight: 20 }}
{}{}"#,
        fake.base_url(),
        records_yaml(&ch_url(), database, spool, ", fsync_interval_ms: 10"),
        admin_yaml()
    )
}

async fn start(test: &str) -> (TestGateway, FakeUpstream, String) {
    let fake = FakeUpstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let database = unique_db(test);
    let yaml = yaml(&fake, &database, &dir.path().join("spool"));
    (TestGateway::start_with_control_in(dir, &yaml).await, fake, database)
}

async fn write(api: &Api, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let v = api.version().await;
    let req = api.write(method, path, v);
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    let r = req.send().await.expect("send");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The member that answered a chat request to `group` (or the status when it failed).
async fn served_by(gw: &TestGateway, group: &str) -> Result<String, StatusCode> {
    let r = client().post(gw.url("/v1/chat/completions")).body(chat(group)).send().await.expect("send");
    if r.status() != StatusCode::OK {
        return Err(r.status());
    }
    Ok(r.headers()["x-switchyard-member"].to_str().expect("ascii").to_owned())
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < Duration::from_secs(20), "{what} within 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_created_replaced_and_deleted_through_the_api_and_providers_read_and_deleted() {
    let (gw, _fake, database) = start("routes_groups").await;
    let api = Api::new(&gw);
    let ch = Ch::new(&ch_url());

    // Create: served at once, and its table is provisioned when its first record ships.
    let config =
        json!({"members": [{"name": "a", "role": "champion", "provider": "fake", "model": "ok", "weight": 1}]});
    let (status, body) = write(&api, Method::POST, "/groups", Some(json!({"name": "h", "config": config}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "h");
    let (status, _) = write(&api, Method::POST, "/groups", Some(json!({"name": "h", "config": config}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "creating it twice");
    assert_eq!(served_by(&gw, "h").await, Ok("a".to_owned()));
    wait_for("the new group's table and record", async || {
        ch.try_query(&database, "SELECT count() FROM inferences_h").await.is_ok_and(|n| n.trim() == "1")
    })
    .await;

    // Replace: the new member serves.
    let replaced = json!({"members": [{"name": "b", "role": "champion", "provider": "spare", "weight": 1}]});
    let (status, body) = write(&api, Method::PUT, "/groups/h", Some(replaced)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(served_by(&gw, "h").await, Ok("b".to_owned()));

    // A member added, then removed: gone from the group and from the data plane.
    let member = json!({"name": "c", "role": "challenger", "provider": "spare", "weight": 100});
    let (status, body) = write(&api, Method::POST, "/groups/h/members", Some(member)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["config"]["members"].as_array().map(Vec::len), Some(2), "{body}");
    let (status, body) = write(&api, Method::DELETE, "/groups/h/members/c", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["config"]["members"].as_array().map(Vec::len), Some(1), "{body}");
    for _ in 0..20 {
        assert_eq!(served_by(&gw, "h").await, Ok("b".to_owned()));
    }

    // Delete: the data plane answers 404 for it; the other group is untouched.
    let (status, _) = write(&api, Method::DELETE, "/groups/h", None).await;
    assert!(status.is_success(), "{status}");
    assert_eq!(served_by(&gw, "h").await, Err(StatusCode::NOT_FOUND));
    assert_eq!(api.get("/groups/h", ADMIN).send().await.expect("send").status(), StatusCode::NOT_FOUND);
    assert!(served_by(&gw, "g").await.is_ok());

    // Providers: read one (never its secret), refuse to delete one still referenced,
    // delete an unused one.
    let r = api.get("/providers/spare", ADMIN).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let view: Value = r.json().await.expect("json");
    assert_eq!(view["kind"], "mock", "{view}");
    assert_eq!(view["settings"], json!({}), "a bare entry has no other keys: {view}");
    // Every YAML key besides kind, URL, headers and key comes back under `settings`, so an
    // editor can send the entry back whole.
    let fake: Value = api.get("/providers/fake", ADMIN).send().await.expect("send").json().await.expect("json");
    assert_eq!(fake["settings"], json!({"max_in_flight": 8, "pool_max_idle_per_host": 4}), "{fake}");
    let (status, body) = write(&api, Method::DELETE, "/providers/spare", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "spare still serves g: {body}");
    let (status, body) = write(&api, Method::DELETE, "/providers/unused", None).await;
    assert!(status.is_success(), "{status} {body}");
    assert_eq!(api.get("/providers/unused", ADMIN).send().await.expect("send").status(), StatusCode::NOT_FOUND);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_experiment_and_inference_browser_over_http() {
    let (gw, fake, database) = start("routes_insights").await;
    let api = Api::new(&gw);
    let c = client();

    // `/v1/embeddings` through the OpenAI-compatible champion (pinned to it).
    let r = c
        .post(gw.url("/v1/embeddings"))
        .header("x-switchyard-member", "champ")
        .body(r#"{"model":"g","input":"hello"}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["data"][0]["embedding"], json!([0.25, -0.5, 1.0]), "{body}");
    let seen = fake.seen();
    assert_eq!(seen.last().map(|s| s.path.as_str()), Some("/v1/embeddings"));
    assert_eq!(seen.last().map(|s| s.body["model"].clone()), Some(json!("ok")), "the member's model upstream");

    for _ in 0..60 {
        assert!(c
            .post(gw.url("/v1/chat/completions"))
            .body(chat("g"))
            .send()
            .await
            .expect("send")
            .status()
            .is_success());
    }
    // Everything shipped: 61 records in the group's table.
    let ch = Ch::new(&ch_url());
    wait_for("61 records in ClickHouse", async || {
        ch.try_query(&database, "SELECT count() FROM inferences_g").await.is_ok_and(|n| n.trim() == "61")
    })
    .await;

    // The experiment: every routed request counted once, per member (the pinned
    // embeddings request is recorded but is not part of the experiment).
    let r = api.get("/groups/g/experiment", ADMIN).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let report: Value = r.json().await.expect("json");
    let members = report["members"].as_array().expect("members");
    let total: u64 = members.iter().map(|m| m["requests"].as_u64().expect("requests")).sum();
    assert_eq!(total, 60, "{report}");
    assert!(members.iter().any(|m| m["member"] == "champ") && members.iter().any(|m| m["member"] == "chall"));

    // The browser: pages of 25 with a cursor cover all 61 exactly once; one record by id.
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor.as_ref().map_or(String::new(), |c| format!("&cursor={c}"));
        let r = api.get(&format!("/inferences?group=g&limit=25{q}"), ADMIN).send().await.expect("send");
        assert_eq!(r.status(), StatusCode::OK);
        let page: Value = r.json().await.expect("json");
        ids.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|i| i["request_id"].as_str().expect("request_id").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (61, 61));
    let r = api.get(&format!("/inferences/{}", ids[0]), ADMIN).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let one: Value = r.json().await.expect("json");
    assert_eq!(one["record"]["request_id"], ids[0].as_str(), "{one}");
    assert_eq!(api.get("/inferences/nope", ADMIN).send().await.expect("send").status(), StatusCode::NOT_FOUND);
    let r = api.get("/groups/g", ADMIN).send().await.expect("send");
    assert!(etag(&r) > 0);
    gw.stop().await;
}
