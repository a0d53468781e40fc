//! No leak through any read (issue 11, "Tenant scoping"): two tenants, alpha and bravo,
//! each with a group, a client, inferences (with client request ids and trace ids) and
//! audited edits. Every GET route of the OpenAPI document is walked with alpha's admin
//! token — its own objects in the path, then bravo's — and the inference browser and
//! the audit trail with every filter and with cursors taken from bravo's own listings:
//! nothing of bravo (its tenant, group and client names, its request ids) ever appears,
//! while alpha's own objects do.
//!
//! Needs `SWITCHYARD_TEST_CLICKHOUSE_URL`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchyard_testkit::clickhouse::{ch_url, records_yaml, unique_db, Ch};
use switchyard_testkit::control::{hash, Api, ADMIN};
use switchyard_testkit::{chat, client, eventually, TestGateway};

const KEY_ALPHA: &str = "sk-walk-alpha";
const KEY_BRAVO: &str = "sk-walk-bravo";
const ALPHA: &str = "walk-alpha-admin";
const BRAVO: &str = "walk-bravo-viewer";
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn yaml(database: &str, spool: &std::path::Path) -> String {
    format!(
        r#"
providers:
  mock: {{ kind: mock }}
groups:
  grp-alpha:
    tenant: tenant-alpha
    members:
      - {{ name: m, role: champion, provider: mock, weight: 1 }}
      - {{ name: c, role: challenger, provider: mock, weight: 1 }}
  grp-bravo:
    tenant: tenant-bravo
    members:
      - {{ name: m, role: champion, provider: mock, weight: 1 }}
      - {{ name: c, role: challenger, provider: mock, weight: 1 }}
clients:
  - {{ name: cli-alpha, key_sha256: "{}", groups: ["*"], tenant: tenant-alpha }}
  - {{ name: cli-bravo, key_sha256: "{}", groups: ["*"], tenant: tenant-bravo }}
admin:
  tokens:
    - {{ name: root, token_sha256: "{}", role: admin }}
    - {{ name: alpha-admin, token_sha256: "{}", role: admin, tenant: tenant-alpha }}
    - {{ name: bravo-viewer, token_sha256: "{}", role: viewer, tenant: tenant-bravo }}
{}"#,
        hash(KEY_ALPHA),
        hash(KEY_BRAVO),
        hash(ADMIN),
        hash(ALPHA),
        hash(BRAVO),
        records_yaml(&ch_url(), database, spool, ", fsync_interval_ms: 10")
    )
}

/// One inference through `group` as `key`, with a client request id and a trace: its id.
async fn infer(gw: &TestGateway, key: &str, group: &str, n: usize) -> String {
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .header("x-request-id", format!("creq-{group}-{n}"))
        .header("traceparent", format!("00-{TRACE}-00f067aa0ba902b{n}-01"))
        .body(chat(group))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    r.headers()["x-switchyard-request-id"].to_str().expect("ascii").to_owned()
}

/// (status, body text, `x-next-cursor`).
async fn get(api: &Api, token: &str, path: &str) -> (StatusCode, String, Option<String>) {
    let r = api.http.get(format!("{}{path}", api.base.trim_end_matches("/api/v1"))).bearer_auth(token);
    let r = r.send().await.expect("send");
    let cursor = r.headers().get("x-next-cursor").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (r.status(), r.text().await.expect("body"), cursor)
}

/// Asserts `body` holds nothing of bravo.
fn clean(what: &str, body: &str, bravo_ids: &[String]) {
    assert!(!body.to_ascii_lowercase().contains("bravo"), "{what} leaks bravo: {body}");
    for id in bravo_ids {
        assert!(!body.contains(id.as_str()), "{what} leaks bravo's request id {id}: {body}");
    }
}

/// Every GET route of the OpenAPI document with its parameters filled by `fill`.
async fn get_routes(api: &Api, fill: impl Fn(&str, &str) -> String) -> Vec<String> {
    let (status, doc, _) = get(api, ADMIN, "/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_str(&doc).expect("openapi");
    let paths = doc["paths"].as_object().expect("paths");
    let mut routes = Vec::new();
    for path in paths.iter().filter(|(_, ops)| ops.get("get").is_some()).map(|(path, _)| path) {
        let filled: Vec<String> = path
            .split('/')
            .map(|seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(param) => fill(path, param),
                None => seg.to_owned(),
            })
            .collect();
        routes.push(filled.join("/"));
    }
    assert!(routes.len() >= 18, "{routes:?}");
    routes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_token_sees_nothing_of_another_tenant_through_any_get_route() {
    let database = unique_db("tenant_walk");
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = yaml(&database, &dir.path().join("spool"));
    let gw = TestGateway::start_with_control_in(dir, &yaml).await;
    let api = Api::new(&gw);
    let (mut alpha_ids, mut bravo_ids) = (Vec::new(), Vec::new());
    for n in 0..4 {
        alpha_ids.push(infer(&gw, KEY_ALPHA, "grp-alpha", n).await);
        bravo_ids.push(infer(&gw, KEY_BRAVO, "grp-bravo", n).await);
    }
    // Audited edits of both tenants' objects, by the unscoped admin.
    for (method, path, body) in [
        (Method::PUT, "/groups/grp-bravo/weights", json!({"weights": {"c": 2.0}})),
        (Method::PUT, "/groups/grp-alpha/weights", json!({"weights": {"c": 2.0}})),
        (Method::POST, "/clients", json!({"name": "cli-bravo-2", "groups": ["grp-bravo"], "tenant": "tenant-bravo"})),
        (Method::PUT, "/groups/grp-bravo/weights", json!({"weights": {"c": 3.0}})),
    ] {
        let r = api.write(method, path, api.version().await).json(&body).send().await.expect("send");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    let ch = Ch::new(&ch_url());
    assert!(
        eventually(Duration::from_secs(20), async || {
            ch.try_query(&database, "SELECT uniqExact(request_id) FROM inferences").await.is_ok_and(|n| n.trim() == "8")
        })
        .await,
        "8 records shipped"
    );

    // The needle is there for the unscoped admin.
    let (_, all, _) = get(&api, ADMIN, "/api/v1/inferences").await;
    assert!(all.contains("grp-bravo") && all.contains(&bravo_ids[0]), "{all}");

    // Every GET route with alpha's own objects in the path.
    let own = get_routes(&api, |path, param| match param {
        "group" => "grp-alpha".into(),
        "id" if path.contains("inferences") => alpha_ids[0].clone(),
        "provider" => "mock".into(),
        "version" => "1".into(),
        "id" | "name" => "none".into(),
        other => panic!("a GET route with an unknown parameter `{other}`: {path}"),
    })
    .await;
    for route in &own {
        let (status, body, _) = get(&api, ALPHA, route).await;
        clean(&format!("GET {route} ({status})"), &body, &bravo_ids);
    }
    // And with bravo's: the 404 of a missing object, saying nothing of bravo beyond the
    // name asked for.
    let theirs = get_routes(&api, |path, param| match param {
        "group" => "grp-bravo".into(),
        "id" if path.contains("inferences") => bravo_ids[0].clone(),
        "provider" => "mock".into(),
        "version" => "1".into(),
        _ => "none".into(),
    })
    .await;
    for route in theirs.iter().filter(|r| r.contains("bravo") || r.contains(&bravo_ids[0])) {
        let (status, body, _) = get(&api, ALPHA, route).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "GET {route}: {body}");
        let asked = if route.contains("grp-bravo") { "grp-bravo" } else { bravo_ids[0].as_str() };
        clean(&format!("GET {route}"), &body.replace(asked, "?"), &bravo_ids);
    }

    // Alpha does see its own.
    let (_, mine, _) = get(&api, ALPHA, "/api/v1/inferences?limit=1000").await;
    assert!(alpha_ids.iter().all(|id| mine.contains(id.as_str())), "{mine}");
    let (_, audit, _) = get(&api, ALPHA, "/api/v1/audit").await;
    assert!(audit.contains("groups.grp-alpha"), "{audit}");
    let (_, clients, _) = get(&api, ALPHA, "/api/v1/clients").await;
    assert!(clients.contains("cli-alpha"), "{clients}");

    // The browser's and the audit trail's filters, aimed at bravo.
    let filters = [
        "group=grp-bravo".to_owned(),
        "member=c".into(),
        "status=ok".into(),
        "client_request_id=creq-grp-bravo-1".into(),
        format!("trace_id={TRACE}"),
        "since=0&until=99999999999999".into(),
        "limit=1".into(),
    ];
    for f in &filters {
        let (status, body, _) = get(&api, ALPHA, &format!("/api/v1/inferences?{f}")).await;
        assert_eq!(status, StatusCode::OK, "{f}: {body}");
        clean(&format!("inferences?{f}"), &body, &bravo_ids);
    }
    for f in ["target=groups.grp-bravo", "action=client.create", "actor=root", "limit=1"] {
        let (_, body, _) = get(&api, ALPHA, &format!("/api/v1/audit?{f}")).await;
        clean(&format!("audit?{f}"), &body, &bravo_ids);
    }

    // Cursors taken from bravo's own listings (page size 1, so they point into bravo's
    // records and entries) yield nothing of bravo to alpha.
    let (status, page, _) = get(&api, BRAVO, "/api/v1/inferences?limit=1").await;
    assert_eq!(status, StatusCode::OK);
    let page: Value = serde_json::from_str(&page).expect("page");
    let cursor = page["next_cursor"].as_str().expect("bravo has a next page").to_owned();
    for f in ["", "&group=grp-bravo", "&limit=1000"] {
        let (status, body, _) = get(&api, ALPHA, &format!("/api/v1/inferences?cursor={cursor}{f}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        clean("inferences after bravo's cursor", &body, &bravo_ids);
    }
    let (_, _, audit_cursor) = get(&api, BRAVO, "/api/v1/audit?limit=1").await;
    let audit_cursor = audit_cursor.expect("bravo's audit has a next page");
    let (status, body, _) = get(&api, ALPHA, &format!("/api/v1/audit?cursor={audit_cursor}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    clean("audit after bravo's cursor", &body, &bravo_ids);
    gw.stop().await;
    ch.drop_db(&database).await;
}
