//! The control API on a running gateway: auth, optimistic concurrency, validation with
//! paths, atomic persistence, audit, write-only secrets, client keys, and live effect on
//! the data plane.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use switchyard_testkit::control::{admin_yaml, error_json, etag, Api, ADMIN, VIEWER};
use switchyard_testkit::{client, TestGateway};

fn yaml(extra_provider: &str) -> String {
    format!(
        r#"
providers:
  mock: {{ kind: mock }}
{extra_provider}
groups:
  g:
    members:
      - {{ name: champ, role: champion, provider: mock, weight: 90 }}
      - {{ name: chall, role: challenger, provider: mock, weight: 10 }}
{}"#,
        admin_yaml()
    )
}

#[tokio::test]
async fn tokens_roles_and_bad_requests() {
    let gw = TestGateway::start_with_control(&yaml("")).await;
    let api = Api::new(&gw);
    // Missing and wrong tokens.
    let r = api.http.get(format!("{}/groups", api.base)).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    error_json(r).await;
    let r = api.get("/groups", "nope").send().await.expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A viewer reads but cannot write.
    let r = api.get("/groups/g", VIEWER).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let v = etag(&r);
    let r = api
        .http
        .put(format!("{}/groups/g/weights", api.base))
        .bearer_auth(VIEWER)
        .header("if-match", v.to_string())
        .json(&serde_json::json!({"weights": {"chall": 20}}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // No If-Match: 428. Unknown group: 404. Malformed JSON: 400. Oversized: 413.
    let r = api
        .http
        .put(format!("{}/groups/g/weights", api.base))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"weights": {"chall": 20}}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::PRECONDITION_REQUIRED);
    let r = api.get("/groups/nope", ADMIN).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = api
        .write(reqwest::Method::PUT, "/groups/nope/weights", v)
        .json(&serde_json::json!({"weights": {"a": 1}}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = api
        .write(reqwest::Method::PUT, "/groups/g/weights", v)
        .header("content-type", "application/json")
        .body("{\"weights\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    error_json(r).await;
    let huge = format!("{{\"weights\": {{\"chall\": 1}}, \"pad\": \"{}\"}}", "x".repeat(2 << 20));
    let r = api
        .write(reqwest::Method::PUT, "/groups/g/weights", v)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(api.version().await, v, "nothing was applied");
    gw.stop().await;
}

#[tokio::test]
async fn invalid_change_is_422_with_path_and_touches_nothing() {
    let gw = TestGateway::start_with_control(&yaml("")).await;
    let api = Api::new(&gw);
    let v = api.version().await;
    let file_before = std::fs::read(&gw.config_path).expect("config");
    let r = api
        .write(reqwest::Method::PUT, "/groups/g/weights", v)
        .json(&serde_json::json!({"weights": {"chall": -5}}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = error_json(r).await;
    assert_eq!(body["error"]["problems"][0], "groups.g.members[1].weight: must be >= 0");
    // Removing the champion leaves a group with none.
    let r = api.write(reqwest::Method::DELETE, "/groups/g/members/champ", v).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = error_json(r).await;
    assert_eq!(body["error"]["problems"][0], "groups.g.members: exactly one champion required (found 0)");
    assert_eq!(std::fs::read(&gw.config_path).expect("config"), file_before, "file untouched");
    assert_eq!(gw.gw().store().current().version, v, "running table untouched");
    gw.stop().await;
}

#[tokio::test]
async fn weights_promote_pause_rollback_are_live_persisted_and_audited() {
    let gw = TestGateway::start_with_control(&yaml("")).await;
    let api = Api::new(&gw);
    let v1 = api.version().await;
    let r = api
        .write(reqwest::Method::PUT, "/groups/g/weights", v1)
        .json(&serde_json::json!({"weights": {"champ": 0, "chall": 100}}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let v2 = etag(&r);
    assert_eq!(v2, v1 + 1);
    // Live: the data plane serves the new version immediately.
    let dp =
        client().post(gw.url("/v1/chat/completions")).body(switchyard_testkit::chat("g")).send().await.expect("send");
    assert_eq!(dp.headers()["x-switchyard-config-version"], v2.to_string().as_str());
    assert_eq!(dp.headers()["x-switchyard-member"], "chall");
    // Persisted: the file parses to the same config.
    let on_disk = switchyard_config::validate::parse(&std::fs::read_to_string(&gw.config_path).expect("read"))
        .expect("file is valid");
    assert_eq!(on_disk.groups["g"].members[1].weight, Some(100.0));

    let r = api
        .write(reqwest::Method::POST, "/groups/g/promote", v2)
        .json(&serde_json::json!({"member": "chall"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let v3 = etag(&r);
    let view: serde_json::Value = r.json().await.expect("json");
    let members = view["config"]["members"].as_array().expect("members");
    let role = |n: &str| members.iter().find(|m| m["name"] == n).expect("member")["role"].clone();
    assert_eq!(role("chall"), "champion");
    assert_eq!(role("champ"), "challenger");
    assert_eq!(members.iter().find(|m| m["name"] == "champ").expect("m")["weight"], 0.0);

    let r = api.write(reqwest::Method::POST, "/groups/g/pause", v3).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let v4 = etag(&r);

    // Roll back to the very first version.
    let r = api
        .write(reqwest::Method::POST, "/config/rollback", v4)
        .json(&serde_json::json!({"version": v1}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let v5 = etag(&r);
    let table = gw.gw().store().current();
    assert_eq!(table.version, v5);
    assert_eq!(table.config.groups["g"].members[0].weight, Some(90.0));

    let versions: serde_json::Value =
        api.get("/config/versions", VIEWER).send().await.expect("send").json().await.expect("json");
    let listed: Vec<u64> =
        versions["versions"].as_array().expect("array").iter().map(|v| v["version"].as_u64().expect("n")).collect();
    assert_eq!(listed, vec![v1, v2, v3, v4, v5]);
    let text =
        api.get(&format!("/config/versions/{v2}"), VIEWER).send().await.expect("send").text().await.expect("text");
    assert!(text.contains("weight: 100"), "{text}");

    let audit: serde_json::Value = api.get("/audit", VIEWER).send().await.expect("send").json().await.expect("json");
    let actions: Vec<&str> =
        audit.as_array().expect("array").iter().map(|e| e["action"].as_str().expect("s")).collect();
    assert_eq!(actions, vec!["config.rollback", "group.pause", "group.promote", "group.weights"]);
    let weights = &audit[3];
    assert_eq!(weights["actor"], "alice");
    assert_eq!(weights["config_version"], v2);
    assert_eq!(weights["before"]["members"][1]["weight"], 10.0);
    assert_eq!(weights["after"]["members"][1]["weight"], 100.0);
    gw.stop().await;
}

#[tokio::test]
async fn racing_edits_one_wins_one_gets_412() {
    let gw = TestGateway::start_with_control(&yaml("")).await;
    let api = Arc::new(Api::new(&gw));
    for round in 0..10 {
        let v = api.version().await;
        let (a, b) = (api.clone(), api.clone());
        let ra = tokio::spawn(async move {
            a.write(reqwest::Method::PUT, "/groups/g/weights", v)
                .json(&serde_json::json!({"weights": {"chall": 30}}))
                .send()
                .await
                .expect("send")
                .status()
        });
        let rb = tokio::spawn(async move {
            b.write(reqwest::Method::PUT, "/groups/g/weights", v)
                .json(&serde_json::json!({"weights": {"chall": 70}}))
                .send()
                .await
                .expect("send")
                .status()
        });
        let mut statuses = [ra.await.expect("a"), rb.await.expect("b")];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::OK, StatusCode::PRECONDITION_FAILED], "round {round}");
        let running = gw.gw().store().current();
        assert_eq!(running.version, v + 1);
        let on_disk = switchyard_config::validate::parse(&std::fs::read_to_string(&gw.config_path).expect("read"))
            .expect("valid file");
        assert_eq!(on_disk, *running.config, "file and running table agree");
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_and_weight_changes_under_load_fail_nothing() {
    let gw = TestGateway::start_with_control(&yaml("")).await;
    let api = Api::new(&gw);
    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (stop, failed, ok, url) = (stop.clone(), failed.clone(), ok.clone(), gw.url("/v1/chat/completions"));
        load.push(tokio::spawn(async move {
            let c = client();
            while !stop.load(Ordering::Relaxed) {
                match c.post(&url).body(switchyard_testkit::chat("g")).send().await {
                    Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    let mut v = api.version().await;
    for i in 0..10 {
        let r = api
            .write(reqwest::Method::PUT, "/groups/g/weights", v)
            .json(&serde_json::json!({"weights": {"chall": 10 + i * 5}}))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::OK);
        v = etag(&r);
    }
    let r = api
        .write(reqwest::Method::POST, "/groups/g/promote", v)
        .json(&serde_json::json!({"member": "chall"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let promoted_at = Instant::now();
    let v = etag(&r);
    // Within a second every request is answered by the new champion's table.
    let c = client();
    let mut followed = None;
    while promoted_at.elapsed() < Duration::from_secs(2) {
        let r = c.post(gw.url("/v1/chat/completions")).body(switchyard_testkit::chat("g")).send().await.expect("send");
        if r.headers()["x-switchyard-config-version"] == v.to_string().as_str() {
            followed = Some(promoted_at.elapsed());
            break;
        }
    }
    let followed = followed.expect("the promotion took effect");
    assert!(followed < Duration::from_secs(1), "{followed:?}");
    for _ in 0..100 {
        let r = c.post(gw.url("/v1/chat/completions")).body(switchyard_testkit::chat("g")).send().await.expect("send");
        assert_eq!(r.headers()["x-switchyard-member"], "chall", "old champion is at weight 0");
        assert_eq!(r.headers()["x-switchyard-role"], "champion");
    }
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.expect("load");
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    assert!(ok.load(Ordering::Relaxed) > 50);
    gw.stop().await;
}
