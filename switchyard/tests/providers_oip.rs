//! Open Inference Protocol v2: the ingress routes, the `oip` adapter (KServe/MLServer
//! fake), the `http` adapter, and feature attributions in the records.

use switchyard_testkit::fake_server::{Fake, Mode};
use switchyard_testkit::{client, oip_fake, TestGateway};

const INFER: &str =
    r#"{"id":"r1","inputs":[{"name":"input-0","shape":[1,3],"datatype":"FP32","data":[[39,40,2174]]}]}"#;

fn config(oip: &Fake) -> String {
    format!(
        r#"
providers:
  kserve: {{ kind: oip, base_url: "{url}" }}
  custom: {{ kind: http, base_url: "{url}/v2/models/{{model}}/infer", headers: {{ x-team: risk }} }}
groups:
  income:
    retries: {{ max_retries: 0 }}
    members:
      - {{ name: xgb-v3, role: champion, provider: kserve, model: income-xgb, weight: 1 }}
  income-plain:
    members:
      - {{ name: v1, role: champion, provider: kserve, model: plain, weight: 1 }}
  custom:
    members:
      - {{ name: c, role: champion, provider: custom, model: income-custom, weight: 1 }}
"#,
        url = oip.url()
    )
}

#[tokio::test]
async fn oip_infer_round_trips_with_attributions() {
    let fake = oip_fake::start().await;
    let gw = TestGateway::start(&config(&fake)).await;
    let resp = client().post(gw.url("/v2/models/income/infer")).body(INFER).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-switchyard-member"], "xgb-v3");
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["model_name"], "income-xgb");
    assert_eq!(body["outputs"][0]["data"][0], 0.8731);
    let seen = &fake.seen()[0];
    assert_eq!(seen.path, "/v2/models/income-xgb/infer");
    assert_eq!(seen.body["inputs"][0]["data"][0][2], 2174, "the body is forwarded unchanged");

    let resp = client().post(gw.url("/v2/models/income-plain/infer")).body(INFER).send().await.expect("send");
    assert_eq!(resp.status(), 200);

    let dir = gw.stop().await;
    let records = TestGateway::records(&dir);
    let r = records.iter().find(|r| r.group == "income").expect("record");
    assert_eq!((r.endpoint.as_str(), r.provider_kind.as_str(), r.stream), ("oip.infer", "oip", false));
    let a = r.attributions.first().expect("attributions");
    assert_eq!(a.names, ["age", "hours_per_week", "capital_gain"]);
    assert_eq!(a.values, [0.21, -0.04, 0.13]);
    assert_eq!((a.base_value, a.method.as_str()), (Some(0.52), "shap"));
    let plain = records.iter().find(|r| r.group == "income-plain").expect("record");
    assert!(plain.attributions.is_empty());
}

#[tokio::test]
async fn http_backend_gets_the_body_as_is_with_its_headers() {
    let fake = oip_fake::start().await;
    let gw = TestGateway::start(&config(&fake)).await;
    // Any client format goes to an `http` member untouched; here OIP.
    let resp = client().post(gw.url("/v2/models/custom/infer")).body(INFER).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    let seen = &fake.seen()[0];
    assert_eq!(seen.path, "/v2/models/income-custom/infer");
    assert_eq!(seen.headers["x-team"], "risk");
    assert_eq!(seen.body, serde_json::from_str::<serde_json::Value>(INFER).expect("json"));
    let dir = gw.stop().await;
    let r = &TestGateway::records(&dir)[0];
    assert_eq!(r.provider_kind, "http");
    assert_eq!(r.attributions.first().map(|a| a.names.len()), Some(3));
}

#[tokio::test]
async fn oip_health_metadata_and_errors() {
    let fake = oip_fake::start().await;
    let gw = TestGateway::start(&config(&fake)).await;
    let get = |path: &str| client().get(gw.url(path)).send();
    let live: serde_json::Value = get("/v2/health/live").await.expect("send").json().await.expect("json");
    assert_eq!(live["live"], true);
    let ready = get("/v2/health/ready").await.expect("send");
    assert_eq!(ready.status(), 200);
    let meta: serde_json::Value = get("/v2/models/income").await.expect("send").json().await.expect("json");
    assert_eq!((meta["name"].as_str(), meta["versions"][0].as_str()), (Some("income"), Some("1")));
    let server: serde_json::Value = get("/v2").await.expect("send").json().await.expect("json");
    assert_eq!(server["name"], "switchyard");

    let missing = get("/v2/models/nope").await.expect("send");
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.expect("json");
    assert!(body["error"].is_string(), "OIP errors are {{\"error\": \"…\"}}: {body}");

    let bad = client().post(gw.url("/v2/models/income/infer")).body("[1]").send().await.expect("send");
    assert_eq!(bad.status(), 400);
    // An upstream 400 passes through; a 500 becomes a 502, OIP-shaped.
    fake.set_mode(Mode::Fail(400));
    let r = client().post(gw.url("/v2/models/income/infer")).body(INFER).send().await.expect("send");
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<serde_json::Value>().await.expect("json")["error"], "fake 400");
    fake.set_mode(Mode::Fail(500));
    let r = client().post(gw.url("/v2/models/income/infer")).body(INFER).send().await.expect("send");
    assert_eq!(r.status(), 502);
    assert!(r.json::<serde_json::Value>().await.expect("json")["error"].as_str().is_some_and(|m| !m.contains("fake")));
    // An OpenAI request for an OIP-only group is refused clearly.
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .body(switchyard_testkit::chat("income"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<serde_json::Value>().await.expect("json")["error"]["code"], "unsupported_endpoint");
    gw.stop().await;
}
