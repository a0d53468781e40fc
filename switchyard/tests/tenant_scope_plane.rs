//! Tenant scoping on the data plane (issue 11): a client may use only its own tenant's
//! groups and the shared ones (groups of no tenant). Another tenant's group is answered
//! exactly like a group that does not exist — on the OpenAI, Anthropic and OIP routes —
//! `/v1/models` lists only what the client may use (`["*"]`: every group of its tenant and
//! every shared one), and a config whose client names another tenant's group is refused
//! with the words used for an unknown group.

use reqwest::StatusCode;
use serde_json::Value;
use switchyard_testkit::control::hash;
use switchyard_testkit::{chat, client, TestGateway};

const KEY_ACME: &str = "sk-plane-acme";
const KEY_ACME_LISTED: &str = "sk-plane-acme-listed";
const KEY_GLOBEX: &str = "sk-plane-globex";
const KEY_LEGACY: &str = "sk-plane-legacy";

fn yaml(extra_client: &str) -> String {
    format!(
        r#"
providers:
  mock: {{ kind: mock }}
groups:
  ga:
    tenant: acme
    members:
      - {{ name: m, role: champion, provider: mock, weight: 1 }}
  ga2:
    tenant: acme
    members:
      - {{ name: m, role: champion, provider: mock, weight: 1 }}
  gb:
    tenant: globex
    members:
      - {{ name: m, role: champion, provider: mock, weight: 1 }}
  shared:
    members:
      - {{ name: m, role: champion, provider: mock, weight: 1 }}
clients:
  - {{ name: app-acme, key_sha256: "{}", groups: ["*"], tenant: acme }}
  - {{ name: app-acme-listed, key_sha256: "{}", groups: [ga, shared], tenant: acme }}
  - {{ name: app-globex, key_sha256: "{}", groups: ["*"], tenant: globex }}
  - {{ name: legacy, key_sha256: "{}", groups: ["*"] }}
{extra_client}"#,
        hash(KEY_ACME),
        hash(KEY_ACME_LISTED),
        hash(KEY_GLOBEX),
        hash(KEY_LEGACY),
    )
}

/// (status, body with `name` replaced by `?`).
async fn post(gw: &TestGateway, path: &str, key: &str, body: String, name: &str) -> (StatusCode, String) {
    let r = client()
        .post(gw.url(path))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("send");
    let status = r.status();
    (status, r.text().await.expect("body").replace(name, "?"))
}

async fn models(gw: &TestGateway, key: &str) -> Vec<String> {
    let r = client().get(gw.url("/v1/models")).bearer_auth(key).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.expect("json");
    v["data"].as_array().expect("data").iter().map(|m| m["id"].as_str().expect("id").to_owned()).collect()
}

fn anthropic(model: &str) -> String {
    format!(r#"{{"model":"{model}","max_tokens":8,"messages":[{{"role":"user","content":"hi"}}]}}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_uses_only_its_own_tenants_groups_and_the_shared_ones() {
    let gw = TestGateway::start(&yaml("")).await;

    // Its own tenant's groups and the shared group serve.
    for (key, group) in [(KEY_ACME, "ga"), (KEY_ACME, "ga2"), (KEY_ACME, "shared"), (KEY_GLOBEX, "gb")] {
        let (status, body) = post(&gw, "/v1/chat/completions", key, chat(group), "\u{0}").await;
        assert_eq!(status, StatusCode::OK, "{group}: {body}");
    }
    // Another tenant's group is a group that does not exist, even under `["*"]`, on
    // every ingress.
    for (path, body_of) in [("/v1/chat/completions", chat as fn(&str) -> String), ("/v1/messages", anthropic)] {
        for key in [KEY_ACME, KEY_ACME_LISTED, KEY_LEGACY] {
            let other = post(&gw, path, key, body_of("gb"), "gb").await;
            let missing = post(&gw, path, key, body_of("zz"), "zz").await;
            assert_eq!(other.0, StatusCode::NOT_FOUND, "{path}: {}", other.1);
            assert_eq!(other, missing, "{path}: indistinguishable from a missing group");
        }
    }
    let other = post(&gw, "/v2/models/gb/infer", KEY_ACME, "{}".into(), "gb").await;
    let missing = post(&gw, "/v2/models/zz/infer", KEY_ACME, "{}".into(), "zz").await;
    assert_eq!((other.0, &other), (StatusCode::NOT_FOUND, &missing), "OIP infer");
    for suffix in ["", "/ready"] {
        let get = async |group: &str| {
            let r = client().get(gw.url(&format!("/v2/models/{group}{suffix}"))).bearer_auth(KEY_ACME).send().await;
            let r = r.expect("send");
            (r.status(), r.text().await.expect("body").replace(group, "?"))
        };
        let (other, missing) = (get("gb").await, get("zz").await);
        assert_eq!((other.0, &other), (StatusCode::NOT_FOUND, &missing), "OIP metadata{suffix}");
        assert_eq!(get("ga").await.0, StatusCode::OK, "OIP metadata{suffix} of its own group");
    }
    // The allow-list still narrows within the tenant: a group it does not list is a 403.
    let (status, _) = post(&gw, "/v1/chat/completions", KEY_ACME_LISTED, chat("ga2"), "ga2").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // `/v1/models`: `["*"]` is every group of its tenant plus the shared ones.
    assert_eq!(models(&gw, KEY_ACME).await, ["ga", "ga2", "shared"]);
    assert_eq!(models(&gw, KEY_ACME_LISTED).await, ["ga", "shared"]);
    assert_eq!(models(&gw, KEY_GLOBEX).await, ["gb", "shared"]);
    assert_eq!(models(&gw, KEY_LEGACY).await, ["shared"], "a client of no tenant is its own tenant");
    gw.stop().await;
}

#[test]
fn a_client_naming_another_tenants_group_is_refused_like_an_unknown_group() {
    let problems = |group: &str| {
        let extra = format!("  - {{ name: bad, key_sha256: \"{}\", groups: [{group}], tenant: acme }}\n", hash("x"));
        let cfg = switchyard_config::validate::parse(&yaml(&extra)).expect("parses");
        let err = switchyard_config::validate::validate(&cfg).expect_err("refused");
        err.to_string().replace(group, "?")
    };
    assert_eq!(problems("gb"), problems("zz"));
    assert!(problems("gb").contains("clients[4].groups[0]"), "{}", problems("gb"));
    // Its own tenant's group and a shared one are fine.
    for group in ["ga", "shared"] {
        let extra = format!("  - {{ name: ok, key_sha256: \"{}\", groups: [{group}], tenant: acme }}\n", hash("y"));
        let cfg = switchyard_config::validate::parse(&yaml(&extra)).expect("parses");
        switchyard_config::validate::validate(&cfg).expect("valid");
    }
}
