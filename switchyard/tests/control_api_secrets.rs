//! The control API's secrets on a running gateway: provider keys write-only and
//! encrypted at rest, client keys shown once and revocable, and the OpenAPI document.

use reqwest::StatusCode;
use switchyard_testkit::control::{admin_yaml, etag, hash, Api, ADMIN};
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
async fn provider_keys_are_write_only_and_encrypted_at_rest() {
    std::env::set_var("SWITCHYARD_MASTER_KEY", "11".repeat(32));
    let fake = switchyard_testkit::upstream::FakeUpstream::start().await;
    let gw = TestGateway::start_with_control(&yaml("")).await;
    let api = Api::new(&gw);
    let v = api.version().await;
    let secret = "sk-live-TOPSECRET-abcd1234";
    let r = api
        .write(reqwest::Method::PUT, "/providers/real", v)
        .json(&serde_json::json!({"kind": "openai", "base_url": fake.base_url(), "api_key": secret}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let v = etag(&r);
    let text = r.text().await.expect("text");
    assert!(!text.contains(secret));
    let view: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(view["api_key"]["last4"], "1234");
    assert_eq!(view["api_key"]["source"], "encrypted");
    let file = std::fs::read_to_string(&gw.config_path).expect("config");
    assert!(!file.contains(secret) && file.contains("enc:"), "{file}");
    // Use it from the data plane: the upstream receives the real key.
    let r = api
        .write(reqwest::Method::POST, "/groups/g/members", v)
        .json(
            &serde_json::json!({"name": "real", "role": "challenger", "provider": "real", "model": "ok", "weight": 0}),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let dp = client()
        .post(gw.url("/v1/chat/completions"))
        .header("x-switchyard-member", "real")
        .body(switchyard_testkit::chat("g"))
        .send()
        .await
        .expect("send");
    assert_eq!(dp.status(), 200);
    assert_eq!(fake.seen()[0].headers["authorization"], format!("Bearer {secret}").as_str());
    // Nowhere else.
    let audit = api.get("/audit", ADMIN).send().await.expect("send").text().await.expect("text");
    let listed = api.get("/providers", ADMIN).send().await.expect("send").text().await.expect("text");
    // The state store's files (versions and audit live there), bytes as text.
    let history: String = std::fs::read_dir(gw.dir.path().join("switchyard-data"))
        .expect("state dir")
        .map(|e| String::from_utf8_lossy(&std::fs::read(e.expect("e").path()).unwrap_or_default()).into_owned())
        .collect();
    assert!(history.contains("groups"), "the state store holds the config versions");
    for (what, text) in
        [("audit", &audit), ("providers", &listed), ("history", &history), ("metrics", &gw.metrics().await)]
    {
        assert!(!text.contains(secret), "secret leaked into {what}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn client_keys_created_once_and_revoked() {
    let gw = TestGateway::start_with_control(&yaml("")).await;
    let api = Api::new(&gw);
    let v = api.version().await;
    let r = api
        .write(reqwest::Method::POST, "/clients", v)
        .json(&serde_json::json!({"name": "web", "groups": ["g"], "tenant": "acme"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let v = etag(&r);
    let created: serde_json::Value = r.json().await.expect("json");
    let key = created["key"].as_str().expect("key shown once").to_owned();
    let listed = api.get("/clients", ADMIN).send().await.expect("send").text().await.expect("text");
    assert!(!listed.contains(&key) && !listed.contains(&hash(&key)), "{listed}");
    let call = |k: Option<String>| {
        let mut req = client().post(gw.url("/v1/chat/completions")).body(switchyard_testkit::chat("g"));
        if let Some(k) = k {
            req = req.bearer_auth(k);
        }
        req.send()
    };
    assert_eq!(call(None).await.expect("send").status(), 401, "keys are now required");
    assert_eq!(call(Some(key.clone())).await.expect("send").status(), 200);
    let r = api.write(reqwest::Method::DELETE, "/clients/web", v).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(call(Some(key)).await.expect("send").status(), 401, "revoked at once");
    gw.stop().await;
}

#[tokio::test]
async fn openapi_documents_every_route() {
    let gw = TestGateway::start_with_control(&yaml("")).await;
    let doc: serde_json::Value =
        reqwest::get(format!("{}/openapi.json", gw.admin)).await.expect("send").json().await.expect("json");
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    let paths = doc["paths"].as_object().expect("paths");
    for p in [
        "/api/v1/groups",
        "/api/v1/groups/{group}",
        "/api/v1/groups/{group}/weights",
        "/api/v1/groups/{group}/promote",
        "/api/v1/groups/{group}/pause",
        "/api/v1/config/versions",
        "/api/v1/config/rollback",
        "/api/v1/providers/{provider}",
        "/api/v1/clients",
        "/api/v1/audit",
    ] {
        assert!(paths.contains_key(p), "{p} missing from openapi.json");
    }
    gw.stop().await;
}
