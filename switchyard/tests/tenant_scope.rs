//! Tenant-scoped admin and viewer tokens (issue 11, "Tenant scoping", first slice): two
//! tenants, each with a group, a client and a token. A tenant's token sees its own groups,
//! their experiments and its clients' inferences (listing, every page of the cursor, the
//! `group` filter, one record by id); another tenant's objects get the same 404 as ones
//! that do not exist, and every route a tenant token may not use (see `auth.rs`) is a 404
//! for it. The unscoped admin still sees everything.
//!
//! Needs `SWITCHYARD_TEST_CLICKHOUSE_URL`.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use switchyard_testkit::clickhouse::{ch_url, records_yaml, unique_db, Ch};
use switchyard_testkit::control::{hash, Api, ADMIN};
use switchyard_testkit::{chat, client, eventually, TestGateway};

const KEY_ACME: &str = "sk-acme-client";
const KEY_GLOBEX: &str = "sk-globex-client";
const ACME_VIEWER: &str = "acme-viewer-token";
const GLOBEX_ADMIN: &str = "globex-admin-token";

fn yaml(database: &str, spool: &std::path::Path) -> String {
    format!(
        r#"
providers:
  mock: {{ kind: mock }}
groups:
  ga:
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
  - {{ name: app-globex, key_sha256: "{}", groups: ["*"], tenant: globex }}
admin:
  tokens:
    - {{ name: root, token_sha256: "{}", role: admin }}
    - {{ name: acme-viewer, token_sha256: "{}", role: viewer, tenant: acme }}
    - {{ name: globex-admin, token_sha256: "{}", role: admin, tenant: globex }}
{}"#,
        hash(KEY_ACME),
        hash(KEY_GLOBEX),
        hash(ADMIN),
        hash(ACME_VIEWER),
        hash(GLOBEX_ADMIN),
        records_yaml(&ch_url(), database, spool, ", fsync_interval_ms: 10")
    )
}

async fn infer(gw: &TestGateway, key: &str, group: &str) -> String {
    let r =
        client().post(gw.url("/v1/chat/completions")).bearer_auth(key).body(chat(group)).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    r.headers()["x-switchyard-request-id"].to_str().expect("ascii").to_owned()
}

async fn get(api: &Api, path: &str, token: &str) -> (StatusCode, Value) {
    let r = api.get(path, token).send().await.expect("send");
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

/// Every request id `token` lists under `query`, following the cursor with pages of 2.
async fn listed(api: &Api, token: &str, query: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = get(api, &format!("/inferences?limit=2{query}{cursor}"), token).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for item in page["items"].as_array().expect("items") {
            assert!(ids.insert(item["request_id"].as_str().expect("id").to_owned()), "no repeats across pages");
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return ids,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_tokens_see_only_their_tenants_groups_and_inferences() {
    let database = unique_db("tenant_scope");
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = yaml(&database, &dir.path().join("spool"));
    let gw = TestGateway::start_with_control_in(dir, &yaml).await;
    let api = Api::new(&gw);

    let mut acme = BTreeSet::new();
    let mut globex = BTreeSet::new();
    for _ in 0..5 {
        acme.insert(infer(&gw, KEY_ACME, "ga").await);
        globex.insert(infer(&gw, KEY_GLOBEX, "gb").await);
    }
    // A globex client on the shared group: its record is globex's, whatever the group.
    globex.insert(infer(&gw, KEY_GLOBEX, "shared").await);
    let ch = Ch::new(&ch_url());
    assert!(
        eventually(Duration::from_secs(20), async || {
            ch.try_query(&database, "SELECT uniqExact(request_id) FROM inferences")
                .await
                .is_ok_and(|n| n.trim() == "11")
        })
        .await,
        "11 records shipped"
    );

    // Groups: each tenant's token lists its own; another tenant's group is a 404 that reads
    // like a group that does not exist.
    let names = |v: &Value| -> Vec<String> {
        v.as_array().expect("groups").iter().map(|g| g["name"].as_str().expect("name").to_owned()).collect()
    };
    assert_eq!(names(&get(&api, "/groups", ACME_VIEWER).await.1), ["ga"]);
    assert_eq!(names(&get(&api, "/groups", GLOBEX_ADMIN).await.1), ["gb"]);
    assert_eq!(names(&get(&api, "/groups", ADMIN).await.1), ["ga", "gb", "shared"]);
    let (status, other) = get(&api, "/groups/gb", ACME_VIEWER).await;
    let (missing_status, missing) = get(&api, "/groups/zz", ACME_VIEWER).await;
    assert_eq!((status, missing_status), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(other.to_string().replace("gb", "?"), missing.to_string().replace("zz", "?"), "indistinguishable");
    assert_eq!(get(&api, "/groups/ga", ACME_VIEWER).await.0, StatusCode::OK);
    assert_eq!(get(&api, "/groups/shared", ACME_VIEWER).await.0, StatusCode::NOT_FOUND, "a group of no tenant");
    assert_eq!(get(&api, "/groups/gb/experiment", ACME_VIEWER).await.0, StatusCode::NOT_FOUND);
    let (status, report) = get(&api, "/groups/ga/experiment", ACME_VIEWER).await;
    assert_eq!(status, StatusCode::OK, "{report}");

    // Inferences: every page, every filter, one by id.
    assert_eq!(listed(&api, ACME_VIEWER, "").await, acme);
    assert_eq!(listed(&api, GLOBEX_ADMIN, "").await, globex);
    assert_eq!(listed(&api, ACME_VIEWER, "&group=gb").await, BTreeSet::new());
    assert_eq!(listed(&api, ACME_VIEWER, "&group=shared").await, BTreeSet::new());
    assert_eq!(listed(&api, ADMIN, "").await.len(), 11);
    let theirs = globex.iter().next().expect("a globex id");
    let (status, other) = get(&api, &format!("/inferences/{theirs}"), ACME_VIEWER).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{other}");
    let ours = acme.iter().next().expect("an acme id");
    let (status, detail) = get(&api, &format!("/inferences/{ours}"), ACME_VIEWER).await;
    assert_eq!((status, detail["record"]["request_id"].as_str()), (StatusCode::OK, Some(ours.as_str())));
    assert_eq!(get(&api, &format!("/inferences/{theirs}"), ADMIN).await.0, StatusCode::OK);

    // Everything outside the slice is a 404 for a tenant token, reads and writes alike.
    for path in ["/config/versions", "/config/versions/1", "/cluster", "/rate-limits", "/models"] {
        assert_eq!(get(&api, path, ACME_VIEWER).await.0, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(get(&api, path, GLOBEX_ADMIN).await.0, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(get(&api, path, ADMIN).await.0, StatusCode::OK, "{path}");
    }
    // Its own group's feature importance is readable (tenant_scope_explain.rs), another's is not.
    assert_eq!(get(&api, "/groups/ga/explanations", ACME_VIEWER).await.0, StatusCode::OK);
    assert_eq!(get(&api, "/groups/gb/explanations", ACME_VIEWER).await.0, StatusCode::NOT_FOUND);
    let v = api.version().await;
    let r = api
        .http
        .request(Method::PUT, format!("{}/groups/ga", api.base))
        .bearer_auth(GLOBEX_ADMIN)
        .header("if-match", format!("\"{v}\""))
        .json(&serde_json::json!({"members": [{"name": "m", "role": "champion", "provider": "mock", "weight": 1}]}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "a tenant token cannot write another tenant's group");
    gw.stop().await;
    ch.drop_db(&database).await;
}

/// A group that becomes a tenant's (here: a shared group both tenants used, given to
/// acme) reports to acme's token only acme's clients' requests; the unscoped admin still
/// sees all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_experiment_report_counts_only_its_tenants_requests() {
    let database = unique_db("tenant_experiment");
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = yaml(&database, &dir.path().join("spool"));
    let gw = TestGateway::start_with_control_in(dir, &yaml).await;
    let api = Api::new(&gw);
    for _ in 0..3 {
        infer(&gw, KEY_ACME, "shared").await;
    }
    for _ in 0..2 {
        infer(&gw, KEY_GLOBEX, "shared").await;
    }
    let ch = Ch::new(&ch_url());
    assert!(
        eventually(Duration::from_secs(20), async || {
            ch.try_query(&database, "SELECT uniqExact(request_id) FROM inferences").await.is_ok_and(|n| n.trim() == "5")
        })
        .await,
        "5 records shipped"
    );
    let body = serde_json::json!({"tenant": "acme", "members": [{"name": "m", "role": "champion", "provider": "mock", "weight": 1}]});
    let r = api.write(Method::PUT, "/groups/shared", api.version().await).json(&body).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);

    let requests = async |token: &str| {
        let (status, report) = get(&api, "/groups/shared/experiment?since=0", token).await;
        assert_eq!(status, StatusCode::OK, "{report}");
        report["members"].as_array().expect("members").iter().map(|m| m["requests"].as_u64().expect("n")).sum::<u64>()
    };
    assert_eq!(requests(ACME_VIEWER).await, 3, "only acme's clients' requests");
    assert_eq!(requests(ADMIN).await, 5);
    assert_eq!(get(&api, "/groups/shared/experiment?since=0", GLOBEX_ADMIN).await.0, StatusCode::NOT_FOUND);
    gw.stop().await;
    ch.drop_db(&database).await;
}
