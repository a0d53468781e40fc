//! Credentials through the control API (issue 11): a provider's key does not follow a
//! changed `base_url`; API-made providers reference only `env:`/`file:` secrets the file's
//! `admin.secret_allow_list` names; a rollback does not bring back revoked client keys,
//! admin tokens or provider keys unless asked to (`restore_credentials`, audited).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use switchyard_testkit::control::{admin_yaml, error_json, etag, Api, ADMIN, VIEWER};
use switchyard_testkit::upstream::FakeUpstream;
use switchyard_testkit::{client, eventually, TestGateway};

fn yaml(up: &FakeUpstream, allow: &str, admin: &str) -> String {
    format!(
        r#"
providers:
  mock: {{ kind: mock }}
  up: {{ kind: openai, base_url: "{}", api_key: env:CRED_TEST_UP_KEY }}
groups:
  g:
    members:
      - {{ name: champ, role: champion, provider: mock, weight: 90 }}
      - {{ name: chall, role: challenger, provider: mock, weight: 10 }}
      - {{ name: real, role: challenger, provider: up, model: ok, weight: 0 }}
{admin}{allow}"#,
        up.base_url()
    )
}

fn setup_env() {
    std::env::set_var("SWITCHYARD_MASTER_KEY", "33".repeat(32));
    std::env::set_var("CRED_TEST_UP_KEY", "sk-up-from-env-1111");
    std::env::set_var("CRED_TEST_ALLOWED", "sk-allowed-2222");
    std::env::set_var("CRED_TEST_NOT_ALLOWED", "sk-not-allowed-3333");
}

/// The `authorization` header the upstream saw on the last request to member `real`.
async fn key_seen_by(gw: &TestGateway, up: &FakeUpstream, client_key: Option<&str>) -> (u16, Option<String>) {
    let before = up.seen().len();
    let mut req = client()
        .post(gw.url("/v1/chat/completions"))
        .header("x-switchyard-member", "real")
        .body(switchyard_testkit::chat("g"));
    if let Some(k) = client_key {
        req = req.bearer_auth(k);
    }
    let status = req.send().await.expect("send").status().as_u16();
    let seen = up.seen();
    let auth = (seen.len() > before)
        .then(|| {
            seen.last().and_then(|s| s.headers.get("authorization")).map(|v| v.to_str().expect("ascii").to_owned())
        })
        .flatten();
    (status, auth)
}

/// The running config's `admin.secret_allow_list` (read as JSON: absent when empty).
fn allow_list(gw: &TestGateway) -> Vec<serde_json::Value> {
    let config = serde_json::to_value(&*gw.gw().store().current().config).expect("json");
    config["admin"]["secret_allow_list"].as_array().cloned().unwrap_or_default()
}

async fn put_provider(api: &Api, v: u64, body: serde_json::Value) -> reqwest::Response {
    api.write(Method::PUT, "/providers/up", v).json(&body).send().await.expect("send")
}

#[tokio::test]
async fn a_changed_base_url_needs_the_key_again() {
    setup_env();
    let up = FakeUpstream::start().await;
    let other = FakeUpstream::start().await;
    let gw = TestGateway::start_with_control(&yaml(&up, "", &admin_yaml())).await;
    let api = Api::new(&gw);
    let v = api.version().await;
    // A new URL without the key: refused, with the path of the missing key.
    let r = put_provider(&api, v, serde_json::json!({"kind": "openai", "base_url": other.base_url()})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = error_json(r).await;
    let problem = body["error"]["problems"][0].as_str().expect("problem");
    assert!(problem.starts_with("providers.up.api_key: "), "{problem}");
    assert_eq!(api.version().await, v, "nothing changed");
    assert_eq!(key_seen_by(&gw, &up, None).await, (200, Some("Bearer sk-up-from-env-1111".into())));
    assert!(other.seen().is_empty(), "the key never went to the new host");
    // The same URL without the key keeps it (a trailing slash is the same URL).
    let r = put_provider(
        &api,
        v,
        serde_json::json!({"kind": "openai", "base_url": format!("{}/", up.base_url()), "headers": {"x-team": "ml"}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v = etag(&r);
    assert_eq!(key_seen_by(&gw, &up, None).await, (200, Some("Bearer sk-up-from-env-1111".into())));
    // A new URL with a new (sealed) key is fine.
    let r = put_provider(
        &api,
        v,
        serde_json::json!({"kind": "openai", "base_url": other.base_url(), "api_key": "sk-new-4444"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(key_seen_by(&gw, &other, None).await, (200, Some("Bearer sk-new-4444".into())));
    gw.stop().await;
}

#[tokio::test]
async fn api_made_providers_reference_only_allow_listed_secrets() {
    setup_env();
    let up = FakeUpstream::start().await;
    let allow = "  secret_allow_list: [\"env:CRED_TEST_ALLOWED\"]\n";
    let gw = TestGateway::start_with_control(&yaml(&up, allow, &admin_yaml())).await;
    let api = Api::new(&gw);
    let v = api.version().await;
    for reference in
        ["env:CRED_TEST_NOT_ALLOWED", "env:SWITCHYARD_MASTER_KEY", "file:/etc/hostname", "file:/proc/self/environ"]
    {
        let r = put_provider(
            &api,
            v,
            serde_json::json!({"kind": "openai", "base_url": up.base_url(), "api_key": reference}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{reference}");
        let body = error_json(r).await;
        let problem = body["error"]["problems"][0].as_str().expect("problem");
        assert!(problem.starts_with("providers.up.api_key: "), "{reference}: {problem}");
        assert!(problem.contains("admin.secret_allow_list"), "{problem}");
    }
    assert_eq!(api.version().await, v, "nothing changed");
    let r = put_provider(
        &api,
        v,
        serde_json::json!({"kind": "openai", "base_url": up.base_url(), "api_key": "env:CRED_TEST_ALLOWED"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v = etag(&r);
    assert_eq!(key_seen_by(&gw, &up, None).await, (200, Some("Bearer sk-allowed-2222".into())));

    // The allow-list is the file's: the operator removes the entry, a rollback to the
    // version that had it (even restoring credentials) does not bring it back.
    let without = yaml(&up, "", &admin_yaml()).replace("env:CRED_TEST_UP_KEY", "env:CRED_TEST_ALLOWED");
    gw.write_config(&without);
    assert!(
        eventually(Duration::from_secs(5), async || gw.gw().store().current().version > v).await,
        "the file change applies"
    );
    let v_file = api.version().await;
    assert_eq!(allow_list(&gw), Vec::<serde_json::Value>::new());
    let r = api
        .write(Method::POST, "/config/rollback", v_file)
        .json(&serde_json::json!({"version": v, "restore_credentials": true}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let v_back = etag(&r);
    assert_eq!(allow_list(&gw), Vec::<serde_json::Value>::new(), "not settable through the API");
    let r = put_provider(
        &api,
        v_back,
        serde_json::json!({"kind": "openai", "base_url": up.base_url(), "api_key": "env:CRED_TEST_ALLOWED"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "no longer allowed");
    gw.stop().await;
}

#[tokio::test]
async fn a_rollback_keeps_revoked_credentials_revoked_unless_asked() {
    setup_env();
    let up = FakeUpstream::start().await;
    let gw = TestGateway::start_with_control(&yaml(&up, "", &admin_yaml())).await;
    let api = Api::new(&gw);
    let v1 = api.version().await;
    // A client key, then its revocation.
    let r = api
        .write(Method::POST, "/clients", v1)
        .json(&serde_json::json!({"name": "web", "groups": ["*"]}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let v2 = etag(&r);
    let key = r.json::<serde_json::Value>().await.expect("json")["key"].as_str().expect("key").to_owned();
    assert_eq!(key_seen_by(&gw, &up, Some(&key)).await.0, 200);
    // A new provider key (sealed), replacing the file's reference.
    let r = put_provider(
        &api,
        v2,
        serde_json::json!({"kind": "openai", "base_url": up.base_url(), "api_key": "sk-rotated-5555"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v3 = etag(&r);
    let r = api.write(Method::DELETE, "/clients/web", v3).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let v4 = etag(&r);
    assert_eq!(key_seen_by(&gw, &up, Some(&key)).await.0, 401, "revoked");
    // The viewer token goes (a file edit: tokens are not edited through the API).
    let admin_only = admin_yaml().lines().filter(|l| !l.contains("name: val")).collect::<Vec<_>>().join("\n") + "\n";
    let mut edited = yaml(&up, "", &admin_only);
    let file = std::fs::read_to_string(&gw.config_path).expect("config");
    let sealed = file.lines().find(|l| l.contains("api_key: enc:")).expect("sealed key").trim().to_owned();
    edited = edited.replace("api_key: env:CRED_TEST_UP_KEY", &sealed);
    edited.push_str("clients: []\n");
    gw.write_config(&edited);
    assert!(
        eventually(Duration::from_secs(5), async || gw.gw().store().current().version > v4).await,
        "the file change applies"
    );
    let v5 = api.version().await;
    assert_eq!(api.get("/groups", VIEWER).send().await.expect("send").status(), 401, "the viewer token is gone");

    // Roll back to v2 (client present, file's provider key, viewer token present).
    let r = api
        .write(Method::POST, "/config/rollback", v5)
        .json(&serde_json::json!({"version": v2}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let v6 = etag(&r);
    let reply: serde_json::Value = r.json().await.expect("json");
    assert_eq!(reply["restored"], v2);
    let names = |k: &str| {
        let mut v: Vec<String> =
            reply["credentials"][k].as_array().expect(k).iter().map(|s| s.as_str().expect("s").to_owned()).collect();
        v.sort();
        v
    };
    assert_eq!(names("restored"), Vec::<String>::new());
    assert_eq!(names("dropped"), vec!["admin.tokens.val", "clients.web"]);
    assert_eq!(names("kept"), vec!["providers.up.api_key"]);
    assert_eq!(key_seen_by(&gw, &up, Some(&key)).await.0, 401, "the revoked key stays revoked");
    assert_eq!(api.get("/groups", VIEWER).send().await.expect("send").status(), 401, "the token stays gone");
    assert_eq!(gw.gw().store().current().config.clients, Some(vec![]), "no client is back");

    // Restoring credentials is an explicit, audited choice.
    let r = api
        .write(Method::POST, "/config/rollback", v6)
        .json(&serde_json::json!({"version": v2, "restore_credentials": true}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let reply: serde_json::Value = r.json().await.expect("json");
    let mut restored: Vec<&str> =
        reply["credentials"]["restored"].as_array().expect("restored").iter().map(|s| s.as_str().expect("s")).collect();
    restored.sort();
    assert_eq!(restored, vec!["admin.tokens.val", "clients.web", "providers.up.api_key"]);
    assert_eq!(
        key_seen_by(&gw, &up, Some(&key)).await,
        (200, Some("Bearer sk-up-from-env-1111".into())),
        "the client key and the version's provider key are back"
    );
    let audit: serde_json::Value =
        api.get("/audit?action=config.rollback", ADMIN).send().await.expect("send").json().await.expect("json");
    let reason = audit[0]["reason"].as_str().expect("reason");
    assert!(reason.contains("restore_credentials") && reason.contains("clients.web"), "{reason}");
    gw.stop().await;
}

#[tokio::test]
async fn a_rollback_does_not_send_the_current_key_to_an_older_url() {
    setup_env();
    let up = FakeUpstream::start().await;
    let other = FakeUpstream::start().await;
    let gw = TestGateway::start_with_control(&yaml(&up, "", &admin_yaml())).await;
    let api = Api::new(&gw);
    let v1 = api.version().await;
    let r = put_provider(
        &api,
        v1,
        serde_json::json!({"kind": "openai", "base_url": other.base_url(), "api_key": "sk-other-6666"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v2 = etag(&r);
    let r = api
        .write(Method::POST, "/config/rollback", v2)
        .json(&serde_json::json!({"version": v1}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = error_json(r).await;
    let problem = body["error"]["problems"][0].as_str().expect("problem");
    assert!(problem.starts_with("providers.up.api_key: ") && problem.contains("restore_credentials"), "{problem}");
    assert_eq!(api.version().await, v2, "nothing changed");
    assert!(up.seen().is_empty(), "the new key never reached the old URL");
    gw.stop().await;
}
