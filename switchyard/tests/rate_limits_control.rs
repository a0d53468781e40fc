//! Rate-limit rules as configuration (SPEC §11, issue 16): invalid rules are refused with
//! the validator's paths — in the file (`check-config`, a reload that keeps the last good
//! rules) and through `PUT /api/v1/rate-limits` — and an edit through the control API or
//! the file keeps the usage already counted (keyed by rule name); `GET /api/v1/rate-limits`
//! shows the rules and the busiest keys.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use switchyard_testkit::control::{admin_yaml, error_json, etag, hash, Api, ADMIN, VIEWER};
use switchyard_testkit::{chat, client, eventually, process, TestGateway};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
const KEY: &str = "sk-web";

fn yaml(rules: &str) -> String {
    format!(
        r#"
providers:
  mock: {{ kind: mock }}
groups:
  g:
    members: [ {{ name: champ, role: champion, provider: mock, weight: 1 }} ]
clients:
  - {{ name: web, key_sha256: "{}", groups: ["*"] }}
{}
rate_limits:
  rules:
{rules}"#,
        hash(KEY),
        admin_yaml()
    )
}

const FIVE: &str = "    - { name: web-rpm, scope: client, each: true, requests: 5, per: minute }\n";

/// Sends `n` requests as `web`; returns how many were admitted.
async fn admitted(gw: &TestGateway, n: usize) -> usize {
    let c = client();
    let mut ok = 0;
    for _ in 0..n {
        let r = c.post(gw.url("/v1/chat/completions")).bearer_auth(KEY).body(chat("g")).send().await.expect("send");
        match r.status() {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    ok
}

fn rules(value: serde_json::Value) -> serde_json::Value {
    serde_json::json!({ "rules": value })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_through_the_control_api_keeps_the_usage_and_get_shows_the_busiest_keys() {
    let gw = TestGateway::start_with_control(&yaml(FIVE)).await;
    let api = Api::new(&gw);
    assert_eq!(admitted(&gw, 4).await, 4);

    let r = api.get("/rate-limits", VIEWER).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let version = etag(&r);
    let view: serde_json::Value = r.json().await.expect("json");
    assert_eq!(view["backend"], "local");
    assert_eq!(view["rules"][0]["name"], "web-rpm");
    assert_eq!(view["rules"][0]["requests"], 5);
    let busiest = &view["busiest"][0];
    assert_eq!((busiest["rule"].as_str(), busiest["key"].as_str()), (Some("web-rpm"), Some("web")), "{view}");
    assert_eq!((busiest["used"].as_u64(), busiest["limit"].as_u64()), (Some(4), Some(5)), "{view}");

    // Raise the limit to 8 under the same name: the 4 used still count, 4 more fit.
    let r = api
        .write(Method::PUT, "/rate-limits", version)
        .json(&rules(serde_json::json!([
            { "name": "web-rpm", "scope": "client", "each": true, "requests": 8, "per": "minute" }
        ])))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let version = etag(&r);
    assert_eq!(admitted(&gw, 6).await, 4, "usage kept across the edit");

    // A viewer may not write; a stale version is 412.
    let r =
        api.http.put(format!("{}/rate-limits", api.base)).bearer_auth(VIEWER).header("if-match", version.to_string());
    assert_eq!(r.json(&rules(serde_json::json!([]))).send().await.expect("send").status(), StatusCode::FORBIDDEN);
    let r = api.write(Method::PUT, "/rate-limits", version - 1).json(&rules(serde_json::json!([]))).send();
    assert_eq!(r.await.expect("send").status(), StatusCode::PRECONDITION_FAILED);

    // A new name starts afresh.
    let r = api
        .write(Method::PUT, "/rate-limits", version)
        .json(&rules(serde_json::json!([
            { "name": "web-rpm-2", "scope": "client", "each": true, "requests": 2, "per": "minute" }
        ])))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(admitted(&gw, 4).await, 2);

    // The edits are audited and were written to the file.
    let audit: serde_json::Value = api.get("/audit", ADMIN).send().await.expect("send").json().await.expect("json");
    let actions: Vec<&str> = audit.as_array().expect("list").iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "rate_limits.replace").count(), 2, "{audit}");
    let file = std::fs::read_to_string(&gw.config_path).expect("config");
    assert!(file.contains("web-rpm-2"), "{file}");

    // Both routes and the rule's shape are in the OpenAPI document.
    let doc: serde_json::Value =
        client().get(format!("{}/openapi.json", gw.admin)).send().await.expect("send").json().await.expect("json");
    let route = &doc["paths"]["/api/v1/rate-limits"];
    assert!(route["get"].is_object() && route["put"].is_object(), "{route}");
    let rule = &doc["components"]["schemas"]["RuleDoc"]["properties"];
    for field in ["name", "scope", "match", "each", "requests", "tokens", "per", "burst"] {
        assert!(rule[field].is_object(), "RuleDoc.{field} in {rule}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_edit_keeps_the_usage_too() {
    let gw = TestGateway::start_with_control(&yaml(FIVE)).await;
    assert_eq!(admitted(&gw, 3).await, 3);
    let before = Api::new(&gw).version().await;
    gw.write_config(&yaml("    - { name: web-rpm, scope: client, each: true, requests: 6, per: minute }\n"));
    let api = Api::new(&gw);
    assert!(eventually(Duration::from_secs(5), async || api.version().await > before).await, "reloaded");
    assert_eq!(admitted(&gw, 5).await, 3, "3 used of 6");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_rules_are_refused_with_paths_and_the_last_good_rules_keep_working() {
    let gw = TestGateway::start_with_control(&yaml(FIVE)).await;
    let api = Api::new(&gw);
    let version = api.version().await;
    // Through the API: the validator's problems, every one with its path.
    let r = api
        .write(Method::PUT, "/rate-limits", version)
        .json(&rules(serde_json::json!([
            { "name": "a", "scope": "client", "requests": 0, "per": "minute" },
            { "name": "a", "scope": "provider", "match": "nope", "tokens": 10, "requests": 1, "per": "day" },
            { "name": "b", "scope": "group", "match": "g", "tokens": 10, "per": "day", "burst": 0 }
        ])))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = error_json(r).await;
    let problems: Vec<&str> =
        body["error"]["problems"].as_array().expect("problems").iter().filter_map(|p| p.as_str()).collect();
    for want in [
        "rate_limits.rules[0].requests: must be between 1 and",
        "rate_limits.rules[1].name: duplicate rule name `a`",
        "rate_limits.rules[1]: set one of requests and tokens, not both",
        "rate_limits.rules[1].match: no provider `nope` in this config",
        "rate_limits.rules[2].burst: must be between 1 and",
    ] {
        assert!(problems.iter().any(|p| p.starts_with(want)), "missing `{want}` in {problems:?}");
    }
    // A shape error has its path too; so does an unknown key.
    for (bad, path) in [
        (
            serde_json::json!([{ "name": "a", "scope": "client", "requests": 1, "per": "week" }]),
            "rate_limits.rules[0].per",
        ),
        (
            serde_json::json!([{ "name": "a", "scope": "everyone", "requests": 1, "per": "day" }]),
            "rate_limits.rules[0].scope",
        ),
        (
            serde_json::json!([{ "name": "a", "scope": "client", "requests": 1, "per": "day", "limit": 3 }]),
            "rate_limits.rules[0]",
        ),
    ] {
        let r = api.write(Method::PUT, "/rate-limits", version).json(&rules(bad)).send().await.expect("send");
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = error_json(r).await;
        let problem = body["error"]["problems"][0].as_str().expect("problem").to_owned();
        assert!(problem.starts_with(&format!("{path}: ")) || problem.starts_with(&format!("{path}.")), "{problem}");
    }
    let r = api.write(Method::PUT, "/rate-limits", version).json(&serde_json::json!({"backend": "redis"})).send();
    assert_eq!(
        r.await.expect("send").status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "backend is changed in the file only"
    );
    assert_eq!(api.version().await, version, "nothing was applied");

    // In the file: check-config lists every problem; a reload refuses it and keeps serving.
    let bad = yaml("    - { name: x, scope: member, match: g/nobody, requests: 1, per: minute }\n    - { name: y, scope: client, requests: 1, per: fortnight }\n");
    let path = gw.dir.path().join("bad.yaml");
    std::fs::write(&path, &bad).expect("write");
    let out = process::run(BIN, &["check-config", path.to_str().expect("utf-8")], None, Duration::from_secs(20));
    let stderr = process::text(&out.stderr) + &process::text(&out.stdout);
    assert!(!out.status.success());
    assert!(stderr.contains("rate_limits.rules[1].per: must be second | minute | hour | day"), "{stderr}");
    let bad = yaml("    - { name: x, scope: member, match: g/nobody, requests: 1, per: minute }\n");
    std::fs::write(&path, &bad).expect("write");
    let out = process::run(BIN, &["check-config", path.to_str().expect("utf-8")], None, Duration::from_secs(20));
    let stderr = process::text(&out.stderr) + &process::text(&out.stdout);
    assert!(stderr.contains("rate_limits.rules[0].match: no member `g/nobody` in this config"), "{stderr}");
    gw.write_config(&bad);
    assert!(
        eventually(Duration::from_secs(5), async || gw
            .metrics()
            .await
            .contains("switchyard_config_reloads_total{result=\"rejected\"} 1"))
        .await,
        "the bad file is refused"
    );
    assert_eq!(admitted(&gw, 7).await, 5, "the last good rule (5 a minute) is still in force");
}
