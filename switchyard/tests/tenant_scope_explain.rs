//! A tenant token's feature importance (`GET /groups/{g}/explanations`) counts only its
//! tenant's clients' requests. A group that was shared — and explained for clients of two
//! tenants — then given to one tenant: that tenant's token sees the explanations of its own
//! clients' requests only (explanation rows carry no tenant; their requests' records do),
//! the other tenant's token gets the 404 of a missing group, the unscoped admin sees all.
//!
//! Needs `SWITCHYARD_TEST_CLICKHOUSE_URL`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchyard_testkit::clickhouse::{ch_url, records_yaml, unique_db, Ch};
use switchyard_testkit::control::{hash, Api, ADMIN};
use switchyard_testkit::{client, eventually, oip_fake, TestGateway};

const KEY_ACME: &str = "sk-acme-explain";
const KEY_GLOBEX: &str = "sk-globex-explain";
const ACME_VIEWER: &str = "acme-viewer-explain";
const GLOBEX_VIEWER: &str = "globex-viewer-explain";
const BODY: &str = r#"{"inputs":[{"name":"input-0","shape":[1,3],"datatype":"FP32","data":[[39,40,2174]]}]}"#;

fn member(model: &str, explainer: &str) -> String {
    format!(
        "{{ name: v1, role: champion, provider: m, model: {model}, weight: 1, \
         explain: {{ provider: x, protocol: oip, model: {explainer}, sample_percent: 100, timeout_ms: 5000 }} }}"
    )
}

async fn infer(gw: &TestGateway, key: &str) {
    let r = client().post(gw.url("/v2/models/tab/infer")).bearer_auth(key).body(BODY).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());
}

/// Explained requests per member in a report.
fn samples(report: &Value) -> u64 {
    report["members"].as_array().expect("members").iter().map(|m| m["samples"].as_u64().expect("samples")).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_sees_the_feature_importance_of_its_own_clients_requests_only() {
    let (model, explainer) = (oip_fake::start().await, oip_fake::start().await);
    let database = unique_db("tenant_explain");
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = format!(
        r#"
providers:
  m: {{ kind: oip, base_url: "{}" }}
  x: {{ kind: oip, base_url: "{}" }}
groups:
  tab:
    members:
      - {}
clients:
  - {{ name: app-acme, key_sha256: "{}", groups: ["*"], tenant: acme }}
  - {{ name: app-globex, key_sha256: "{}", groups: ["*"], tenant: globex }}
admin:
  tokens:
    - {{ name: root, token_sha256: "{}", role: admin }}
    - {{ name: acme-viewer, token_sha256: "{}", role: viewer, tenant: acme }}
    - {{ name: globex-viewer, token_sha256: "{}", role: viewer, tenant: globex }}
{}"#,
        model.url(),
        explainer.url(),
        member("plain", "income-explainer"),
        hash(KEY_ACME),
        hash(KEY_GLOBEX),
        hash(ADMIN),
        hash(ACME_VIEWER),
        hash(GLOBEX_VIEWER),
        records_yaml(&ch_url(), &database, &dir.path().join("spool"), ", fsync_interval_ms: 10")
    );
    let gw = TestGateway::start_with_control_in(dir, &yaml).await;
    let api = Api::new(&gw);
    // While the group is shared: 2 requests of acme's client, 3 of globex's, each explained.
    for key in [KEY_ACME, KEY_GLOBEX, KEY_ACME, KEY_GLOBEX, KEY_GLOBEX] {
        infer(&gw, key).await;
    }
    let ch = Ch::new(&ch_url());
    assert!(
        eventually(Duration::from_secs(30), async || {
            ch.try_query(&database, "SELECT uniqExact(request_id) FROM explanations")
                .await
                .is_ok_and(|n| n.trim() == "5")
        })
        .await,
        "5 explained requests shipped"
    );
    // The group becomes acme's.
    let group = json!({"tenant": "acme", "members": [{"name": "v1", "role": "champion", "provider": "m",
        "model": "plain", "weight": 1, "explain": {"provider": "x", "protocol": "oip", "model": "income-explainer",
        "sample_percent": 100, "timeout_ms": 5000}}]});
    let r = api.write(Method::PUT, "/groups/tab", api.version().await).json(&group).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());

    let report = |token: &'static str| {
        let api = &api;
        async move {
            let r = api.get("/groups/tab/explanations", token).send().await.expect("send");
            (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, all) = report(ADMIN).await;
    assert_eq!((status, samples(&all)), (StatusCode::OK, 5), "the unscoped admin: every explained request {all}");
    let (status, acme) = report(ACME_VIEWER).await;
    assert_eq!(status, StatusCode::OK, "{acme}");
    assert_eq!(samples(&acme), 2, "acme's token: its 2 requests, not globex's 3 — {acme}");
    let features = |r: &Value| r["members"][0]["features"].as_array().map_or(0, Vec::len);
    assert!(features(&acme) > 0 && features(&acme) == features(&all), "the same features, fewer samples");
    let (status, globex) = report(GLOBEX_VIEWER).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another tenant's group: {globex}");
}
