//! Issue 11's control-API findings on a running gateway: `If-Match` that names no current
//! version (412) or `*` (whatever is current), duplicate JSON keys, JSON path errors on the
//! admin listener, the bearer scheme's case, and what a viewer may see of credentials.

use reqwest::{Method, StatusCode};
use switchyard_testkit::control::{admin_yaml, error_json, etag, hash, Api, ADMIN, VIEWER};
use switchyard_testkit::{client, TestGateway};

const CLIENT_KEY: &str = "client-key-of-web-for-tests";

fn yaml() -> String {
    format!(
        r#"
providers:
  mock: {{ kind: mock }}
groups:
  g:
    members:
      - {{ name: champ, role: champion, provider: mock, weight: 90 }}
      - {{ name: chall, role: challenger, provider: mock, weight: 10 }}
{}"#,
        admin_yaml()
    )
}

async fn weights(api: &Api, if_match: &str, body: &str) -> reqwest::Response {
    api.http
        .put(format!("{}/groups/g/weights", api.base))
        .bearer_auth(ADMIN)
        .header("if-match", if_match)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("send")
}

#[tokio::test]
async fn if_match_that_names_no_current_version_is_412_and_star_means_current() {
    let gw = TestGateway::start_with_control(&yaml()).await;
    let api = Api::new(&gw);
    let v = api.version().await;
    let ok = r#"{"weights": {"chall": 20}}"#;
    // Well-formed entity tags that name no current version: 412 with the current one.
    for stale in ["\"stale-0\"", "\"0\"", "W/\"opaque\"", "\"99999999999999999999999\"", "\"a\", \"b\""] {
        let r = weights(&api, stale, ok).await;
        assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED, "{stale}");
        assert_eq!(etag(&r), v, "{stale}: the 412 names the current version");
        let body = error_json(r).await;
        assert_eq!(body["error"]["code"], "stale_version", "{stale}");
        assert_eq!(body["error"]["current_version"], v, "{stale}");
    }
    // Evaluated before the body: a stale tag with a broken body is still 412.
    assert_eq!(weights(&api, "\"stale-0\"", "{not json").await.status(), StatusCode::PRECONDITION_FAILED);
    // Malformed headers stay 400.
    for malformed in ["stale-0", "\"unterminated", "W/", "\"a\" \"b\"", "\"a b\"", ""] {
        let r = api
            .http
            .put(format!("{}/groups/g/weights", api.base))
            .bearer_auth(ADMIN)
            .header("if-match", reqwest::header::HeaderValue::from_bytes(malformed.as_bytes()).expect("value"))
            .json(&serde_json::json!({"weights": {"chall": 20}}))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{malformed:?}");
        error_json(r).await;
    }
    assert_eq!(api.version().await, v, "nothing was applied so far");
    // A list naming the current version matches; `*` matches whatever is current.
    let r = weights(&api, &format!("\"stale-0\", \"{v}\""), ok).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v2 = etag(&r);
    assert_eq!(v2, v + 1);
    let r = weights(&api, "*", r#"{"weights": {"chall": 30}}"#).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(etag(&r), v2 + 1);
    assert_eq!(gw.gw().store().current().config.groups["g"].members[1].weight, Some(30.0));
    gw.stop().await;
}

#[tokio::test]
async fn duplicate_json_keys_are_refused_with_their_path() {
    let gw = TestGateway::start_with_control(&yaml()).await;
    let api = Api::new(&gw);
    let v = api.version().await;
    let r = weights(&api, &format!("\"{v}\""), r#"{"weights": {"chall": 1, "chall": 2}}"#).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = error_json(r).await;
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("weights.chall: duplicate key `chall`"), "{message}");
    let r = weights(&api, &format!("\"{v}\""), r#"{"weights": {"chall": 1}, "weights": {"chall": 2}}"#).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = error_json(r).await;
    assert!(body["error"]["message"].as_str().expect("message").contains("weights: duplicate key"), "{body}");
    assert_eq!(api.version().await, v, "nothing was applied");
    gw.stop().await;
}

#[tokio::test]
async fn admin_listener_path_errors_are_json() {
    let gw = TestGateway::start_with_control(&yaml()).await;
    let http = client();
    let cases = [
        (Method::GET, "/nope", StatusCode::NOT_FOUND, None),
        (Method::POST, "/metrics", StatusCode::METHOD_NOT_ALLOWED, Some("GET")),
        (Method::DELETE, "/healthz", StatusCode::METHOD_NOT_ALLOWED, Some("GET")),
        (Method::GET, "/api/v1/nope", StatusCode::NOT_FOUND, None),
        (Method::GET, "/api/nope", StatusCode::NOT_FOUND, None),
        (Method::DELETE, "/api/v1/groups", StatusCode::METHOD_NOT_ALLOWED, Some("GET,HEAD,POST")),
    ];
    for (method, path, status, allow) in cases {
        let r =
            http.request(method.clone(), format!("{}{path}", gw.admin)).bearer_auth(ADMIN).send().await.expect("send");
        assert_eq!(r.status(), status, "{method} {path}");
        assert_eq!(r.headers()["content-type"], "application/json", "{method} {path}");
        if let Some(allow) = allow {
            assert_eq!(r.headers()["allow"], allow, "{method} {path}");
        }
        let body = error_json(r).await;
        assert!(body["error"]["code"].is_string(), "{method} {path}: {body}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive_on_both_listeners() {
    let with_client =
        format!("{}clients:\n  - {{ name: web, key_sha256: \"{}\", groups: [\"*\"] }}\n", yaml(), hash(CLIENT_KEY));
    let gw = TestGateway::start_with_control(&with_client).await;
    let http = client();
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = http
            .post(gw.url("/v1/chat/completions"))
            .header("authorization", format!("{scheme} {CLIENT_KEY}"))
            .body(switchyard_testkit::chat("g"))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::OK, "data plane, {scheme}");
        let r = http
            .get(format!("{}/api/v1/groups", gw.admin))
            .header("authorization", format!("{scheme} {ADMIN}"))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::OK, "control API, {scheme}");
    }
    let r = http
        .post(gw.url("/v1/chat/completions"))
        .header("authorization", format!("Basic {CLIENT_KEY}"))
        .body(switchyard_testkit::chat("g"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "another scheme is no bearer key");
    gw.stop().await;
}

/// Every credential a viewer must not see: the admin and viewer token hashes, the client's
/// key hash, and the sealed provider key.
fn hidden(sealed: &str) -> Vec<String> {
    vec![hash(ADMIN), hash(VIEWER), hash(CLIENT_KEY), sealed.to_owned()]
}

#[tokio::test]
async fn viewers_see_credentials_redacted_admins_see_them() {
    std::env::set_var("SWITCHYARD_MASTER_KEY", "22".repeat(32));
    std::env::set_var("REDACTION_TEST_KEY", "sk-from-env-0000");
    let fake = switchyard_testkit::upstream::FakeUpstream::start().await;
    let config = format!(
        "{}clients:\n  - {{ name: web, key_sha256: \"{}\", groups: [\"*\"] }}\n",
        yaml().replace(
            "  mock: { kind: mock }",
            &format!("  mock: {{ kind: mock }}\n  byref: {{ kind: openai, base_url: \"{}\", api_key: env:REDACTION_TEST_KEY }}", fake.base_url())
        ),
        hash(CLIENT_KEY)
    );
    let gw = TestGateway::start_with_control(&config).await;
    let api = Api::new(&gw);
    let v1 = api.version().await;
    let r = api
        .write(Method::PUT, "/providers/sealed", v1)
        .json(&serde_json::json!({"kind": "openai", "base_url": fake.base_url(), "api_key": "sk-sealed-secret-9876"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let v2 = etag(&r);
    let file = std::fs::read_to_string(&gw.config_path).expect("config");
    let sealed = file.split("api_key: ").find_map(|s| s.strip_prefix("enc:")).expect("sealed key in the file");
    let sealed = format!("enc:{}", sealed.lines().next().expect("line").trim());
    let read = |path: String, token: &'static str| {
        let req = api.get(&path, token);
        async move {
            let r = req.send().await.expect("send");
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            r.text().await.expect("text")
        }
    };
    // Provider views: never the key; its last four characters are for admins.
    for path in ["/providers", "/providers/sealed"] {
        let as_viewer = read(path.to_owned(), VIEWER).await;
        assert!(!as_viewer.contains(&sealed) && !as_viewer.contains("9876"), "{path}: {as_viewer}");
    }
    let view: serde_json::Value =
        serde_json::from_str(&read("/providers/sealed".to_owned(), ADMIN).await).expect("json");
    assert_eq!(view["api_key"]["last4"], "9876");
    let view: serde_json::Value =
        serde_json::from_str(&read("/providers/sealed".to_owned(), VIEWER).await).expect("json");
    assert_eq!(view["api_key"]["source"], "encrypted");
    assert!(view["api_key"]["last4"].is_null(), "{view}");

    // A rollback's audit entry carries the whole config before and after.
    let r = api.write(Method::POST, "/config/rollback", v2).json(&serde_json::json!({"version": v1})).send().await;
    assert_eq!(r.expect("send").status(), StatusCode::OK);
    for path in [format!("/config/versions/{v2}"), "/audit".to_owned()] {
        let as_admin = read(path.clone(), ADMIN).await;
        let as_viewer = read(path.clone(), VIEWER).await;
        for secret in hidden(&sealed) {
            assert!(!as_viewer.contains(&secret), "a viewer sees {secret} in {path}:\n{as_viewer}");
            assert!(as_admin.contains(&secret), "an admin sees {secret} in {path}:\n{as_admin}");
        }
        assert!(as_viewer.contains("env:REDACTION_TEST_KEY"), "references stay visible in {path}");
        assert!(as_viewer.contains("<redacted>"), "{path}: {as_viewer}");
    }
    // The version text a viewer gets is still YAML with the same routing.
    let text = read(format!("/config/versions/{v2}"), VIEWER).await;
    let parsed: serde_json::Value = serde_yaml_ng::from_str(&text).expect("yaml");
    assert_eq!(parsed["groups"]["g"]["members"][1]["weight"], 10.0);
    assert_eq!(parsed["clients"][0]["key_sha256"], "<redacted>");
    gw.stop().await;
}
