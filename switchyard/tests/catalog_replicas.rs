//! Catalog writes reach the routing tables (issue 13, SPEC §8): at once on the replica
//! that stored them, within 2 s on another replica sharing the PostgreSQL state store —
//! observed through the data plane's OIP model metadata, which answers the champion's
//! `io_schema` from its catalog entry.
//!
//! Needs the test PostgreSQL (`scripts/postgres.sh start`).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use switchyard_state::test_support::{drop_postgres, fresh_postgres, POSTGRES_PASSWORD_ENV};
use switchyard_testkit::control::{admin_yaml, ADMIN};
use switchyard_testkit::{client, eventually, oip_fake, TestGateway};

async fn inputs(gw: &TestGateway) -> Value {
    let r = client().get(gw.url("/v2/models/iris")).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.expect("json")["inputs"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_catalog_write_reaches_every_replica_within_two_seconds() {
    let store = fresh_postgres("catalog_replicas").await;
    let oip = oip_fake::start().await;
    let yaml = format!(
        r#"state: {{ url: "{}", password: "env:{POSTGRES_PASSWORD_ENV}", shared_config: true }}
providers:
  tab: {{ kind: oip, base_url: "{}" }}
groups:
  iris:
    members:
      - {{ name: m1, role: champion, provider: tab, model: iris, weight: 100 }}
{}"#,
        store.url,
        oip.url(),
        admin_yaml()
    );
    let a = TestGateway::start_with_control(&yaml).await;
    let b = TestGateway::start_with_control(&yaml).await;
    assert_eq!((inputs(&a).await, inputs(&b).await), (json!([]), json!([])));

    let tensors = json!([{"name": "input-0", "datatype": "FP32", "shape": [-1, 4]}]);
    let entry = json!({"kind": "classifier", "io_schema": {"inputs": tensors, "outputs": []}});
    let r = client()
        .put(format!("{}/api/v1/models/tab/iris", a.admin))
        .bearer_auth(ADMIN)
        .header("if-none-match", "*")
        .json(&entry)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    let stored = Instant::now();
    assert_eq!(inputs(&a).await, tensors, "the writing replica serves it at once");
    let seen = eventually(Duration::from_secs(2), async || inputs(&b).await == tensors).await;
    let took = stored.elapsed();
    assert!(seen, "replica b did not see the catalog change within 2 s");
    eprintln!("catalog change on the other replica after {took:?}");

    a.stop().await;
    b.stop().await;
    drop_postgres(&store).await;
}
