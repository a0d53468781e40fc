//! Tenant-scoped admin tokens write their own tenant's objects (issue 11, "Tenant
//! scoping"): every group write route and client create / edit / revoke, through the
//! same `If-Match`-guarded, validated, audited edits as an unscoped admin's. Writes that
//! touch another tenant's group or client answer the 404 of a missing one and change
//! nothing; a tenant admin cannot create a group or client of another tenant (or of
//! none); a tenant viewer only reads; providers are readable (as a viewer sees them) but
//! only unscoped admins write them; the audit trail shows a tenant only its objects.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchyard_testkit::control::{hash, Api, ADMIN};
use switchyard_testkit::{chat, client, TestGateway};

const ACME_ADMIN: &str = "acme-admin-token";
const ACME_VIEWER: &str = "acme-viewer-token-w";
const GLOBEX_VIEWER: &str = "globex-viewer-token-w";

fn yaml() -> String {
    format!(
        r#"
providers:
  mock: {{ kind: mock, api_key: "env:HOME" }}
groups:
  ga:
    tenant: acme
    members:
      - {{ name: m, role: champion, provider: mock, weight: 1 }}
      - {{ name: c, role: challenger, provider: mock, weight: 1 }}
  gb:
    tenant: globex
    members:
      - {{ name: m, role: champion, provider: mock, weight: 1 }}
      - {{ name: c, role: challenger, provider: mock, weight: 1 }}
clients:
  - {{ name: app-acme, key_sha256: "{}", groups: ["*"], tenant: acme }}
  - {{ name: app-globex, key_sha256: "{}", groups: ["*"], tenant: globex }}
admin:
  tokens:
    - {{ name: root, token_sha256: "{}", role: admin }}
    - {{ name: acme-admin, token_sha256: "{}", role: admin, tenant: acme }}
    - {{ name: acme-viewer, token_sha256: "{}", role: viewer, tenant: acme }}
    - {{ name: globex-viewer, token_sha256: "{}", role: viewer, tenant: globex }}
"#,
        hash("sk-w-acme"),
        hash("sk-w-globex"),
        hash(ADMIN),
        hash(ACME_ADMIN),
        hash(ACME_VIEWER),
        hash(GLOBEX_VIEWER),
    )
}

/// A write as `token` based on the current version: (status, body).
async fn write(api: &Api, token: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let v = api.version().await;
    let mut r = api
        .http
        .request(method, format!("{}{path}", api.base))
        .bearer_auth(token)
        .header("if-match", format!("\"{v}\""));
    if let Some(body) = body {
        r = r.json(&body);
    }
    let r = r.send().await.expect("send");
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn get(api: &Api, token: &str, path: &str) -> Value {
    let r = api.get(path, token).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.expect("json")
}

fn member(name: &str) -> Value {
    json!({"name": name, "role": "challenger", "provider": "mock", "weight": 0})
}

fn group_body(tenant: Option<&str>) -> Value {
    let mut g = json!({"members": [{"name": "m", "role": "champion", "provider": "mock", "weight": 1}]});
    if let Some(t) = tenant {
        g["tenant"] = t.into();
    }
    g
}

/// Every group write route, on `group`.
fn group_writes(group: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::PUT, format!("/groups/{group}/weights"), Some(json!({"weights": {"c": 3.0}}))),
        (Method::POST, format!("/groups/{group}/promote"), Some(json!({"member": "c"}))),
        (Method::POST, format!("/groups/{group}/pause"), None),
        (Method::POST, format!("/groups/{group}/members"), Some(member("x"))),
        (Method::DELETE, format!("/groups/{group}/members/x"), None),
        (Method::PUT, format!("/groups/{group}"), Some(group_body(None))),
        (Method::DELETE, format!("/groups/{group}"), None),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_admin_writes_only_its_tenants_groups() {
    let gw = TestGateway::start_with_control(&yaml()).await;
    let api = Api::new(&gw);
    let gb_before = get(&api, ADMIN, "/groups/gb").await["config"].clone();

    // Another tenant's group: every write route is the 404 of a missing group, and gb
    // stays as it was.
    for ((method, path, body), (_, missing, _)) in group_writes("gb").into_iter().zip(group_writes("zz")) {
        let version = api.version().await;
        let (status, other) = write(&api, ACME_ADMIN, method.clone(), &path, body.clone()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {other}");
        assert_eq!(api.version().await, version, "{method} {path} changed nothing");
        // (`PUT /groups/zz` would create zz: group names are one namespace.)
        if !(method == Method::PUT && path == "/groups/gb") {
            let (_, absent) = write(&api, ACME_ADMIN, method.clone(), &missing, body).await;
            assert_eq!(other.to_string().replace("gb", "?"), absent.to_string().replace("zz", "?"), "{method} {path}");
        }
    }
    assert_eq!(get(&api, ADMIN, "/groups/gb").await["config"], gb_before);
    // Creating a group of another tenant, or moving its own group to one, is refused.
    let (status, body) = write(
        &api,
        ACME_ADMIN,
        Method::POST,
        "/groups",
        Some(json!({"name": "gx", "config": group_body(Some("globex"))})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = write(&api, ACME_ADMIN, Method::PUT, "/groups/ga", Some(group_body(Some("globex")))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Its own group: every write route works, validated and If-Match-guarded.
    for (method, path, body) in group_writes("ga").into_iter().take(5) {
        let (status, view) = write(&api, ACME_ADMIN, method.clone(), &path, body).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}: {view}");
    }
    let ga = get(&api, ADMIN, "/groups/ga").await;
    assert_eq!(ga["config"]["members"][1]["role"], "champion", "c promoted: {ga}");
    let r = api.http.put(format!("{}/groups/ga/weights", api.base)).bearer_auth(ACME_ADMIN);
    let r = r.json(&json!({"weights": {"m": 1.0}})).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::PRECONDITION_REQUIRED, "If-Match is still required");
    let (status, _) =
        write(&api, ACME_ADMIN, Method::PUT, "/groups/ga/weights", Some(json!({"weights": {"m": -1}}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "validated like the file");
    // A group it creates (or replaces) without a tenant is its tenant's.
    let (status, view) =
        write(&api, ACME_ADMIN, Method::POST, "/groups", Some(json!({"name": "gc", "config": group_body(None)}))).await;
    assert_eq!((status, &view["config"]["tenant"]), (StatusCode::OK, &json!("acme")), "{view}");
    let (status, view) = write(&api, ACME_ADMIN, Method::PUT, "/groups/ga", Some(group_body(None))).await;
    assert_eq!((status, &view["config"]["tenant"]), (StatusCode::OK, &json!("acme")), "{view}");
    let (status, _) = write(&api, ACME_ADMIN, Method::DELETE, "/groups/gc", None).await;
    assert_eq!(status, StatusCode::OK);

    // A tenant viewer only reads.
    let (status, _) = write(&api, ACME_VIEWER, Method::POST, "/groups/ga/pause", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The unscoped admin edits gb; its tenant's viewer sees that entry, acme does not.
    let (status, _) = write(&api, ADMIN, Method::POST, "/groups/gb/pause", None).await;
    assert_eq!(status, StatusCode::OK);
    let targets = async |token: &str| -> Vec<String> {
        let entries = get(&api, token, "/audit?limit=1000").await;
        entries.as_array().expect("entries").iter().map(|e| e["target"].as_str().expect("target").to_owned()).collect()
    };
    let acme = targets(ACME_VIEWER).await;
    assert!(acme.len() >= 8 && acme.iter().all(|t| t == "groups.ga" || t == "groups.gc"), "{acme:?}");
    assert_eq!(targets(GLOBEX_VIEWER).await, ["groups.gb"]);
    assert!(targets(ADMIN).await.len() > acme.len());
    let filtered = get(&api, ACME_VIEWER, "/audit?target=groups.gb").await;
    assert_eq!(filtered, json!([]));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_admin_manages_only_its_tenants_clients_and_reads_providers() {
    let gw = TestGateway::start_with_control(&yaml()).await;
    let api = Api::new(&gw);
    let names = |v: &Value| -> Vec<String> {
        v.as_array().expect("clients").iter().map(|c| c["name"].as_str().expect("name").to_owned()).collect()
    };
    assert_eq!(names(&get(&api, ACME_VIEWER, "/clients").await), ["app-acme"]);
    assert_eq!(names(&get(&api, ADMIN, "/clients").await), ["app-acme", "app-globex"]);

    // Create: the client is its tenant's (not named after itself); another tenant, or a
    // group of another tenant, is refused — the latter in the words of a missing group.
    let (status, made) =
        write(&api, ACME_ADMIN, Method::POST, "/clients", Some(json!({"name": "new-app", "groups": ["ga"]}))).await;
    assert_eq!((status, &made["client"]["tenant"]), (StatusCode::OK, &json!("acme")), "{made}");
    let key = made["key"].as_str().expect("key").to_owned();
    let (status, _) = write(
        &api,
        ACME_ADMIN,
        Method::POST,
        "/clients",
        Some(json!({"name": "spy", "groups": ["ga"], "tenant": "globex"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let refused = async |group: &str| {
        let body = json!({"name": "spy", "groups": [group]});
        let (status, body) = write(&api, ACME_ADMIN, Method::POST, "/clients", Some(body)).await;
        (status, body.to_string().replace(group, "?"))
    };
    let (other, missing) = (refused("gb").await, refused("zz").await);
    assert_eq!((other.0, &other), (StatusCode::UNPROCESSABLE_ENTITY, &missing));
    // The new client serves on its tenant's group only.
    let send = async |group: &str| {
        let r = client().post(gw.url("/v1/chat/completions")).bearer_auth(&key).body(chat(group)).send().await;
        r.expect("send").status()
    };
    assert_eq!((send("ga").await, send("gb").await), (StatusCode::OK, StatusCode::NOT_FOUND));

    // Edit and revoke: its own clients only; another tenant's is a missing client.
    let (status, view) = write(&api, ACME_ADMIN, Method::PUT, "/clients/new-app", Some(json!({"groups": ["*"]}))).await;
    assert_eq!((status, &view["groups"]), (StatusCode::OK, &json!(["*"])), "{view}");
    for method in [Method::PUT, Method::DELETE] {
        let body = (method == Method::PUT).then(|| json!({"groups": ["*"]}));
        let (status, other) = write(&api, ACME_ADMIN, method.clone(), "/clients/app-globex", body.clone()).await;
        let (_, missing) = write(&api, ACME_ADMIN, method.clone(), "/clients/nobody", body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}");
        assert_eq!(other.to_string().replace("app-globex", "?"), missing.to_string().replace("nobody", "?"));
    }
    let (status, _) = write(&api, ACME_ADMIN, Method::DELETE, "/clients/new-app", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(send("ga").await, StatusCode::UNAUTHORIZED, "revoked at once");
    assert_eq!(names(&get(&api, ADMIN, "/clients").await), ["app-acme", "app-globex"]);
    let targets = get(&api, ACME_VIEWER, "/audit").await;
    let targets: Vec<&str> = targets.as_array().expect("audit").iter().filter_map(|e| e["target"].as_str()).collect();
    assert_eq!(targets, ["clients.new-app", "clients.new-app", "clients.new-app"]);

    // Providers: read as a viewer reads them (no last four characters); writes are the
    // unscoped admins'.
    let p = get(&api, ACME_ADMIN, "/providers/mock").await;
    assert_eq!(p["api_key"], json!({"source": "env", "last4": null}), "{p}");
    assert!(get(&api, ADMIN, "/providers/mock").await["api_key"]["last4"].is_string());
    assert_eq!(get(&api, ACME_ADMIN, "/providers").await.as_array().map(Vec::len), Some(1));
    let (status, _) = write(&api, ACME_ADMIN, Method::PUT, "/providers/mock2", Some(json!({"kind": "mock"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = write(&api, ACME_ADMIN, Method::DELETE, "/providers/mock", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_session_keeps_its_tokens_tenant() {
    let gw = TestGateway::start_with_control(&yaml()).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let signin = http
        .post(format!("{}/ui/signin", gw.admin))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={ACME_ADMIN}"))
        .send()
        .await
        .expect("sign in");
    let cookies: Vec<String> =
        signin.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect();
    let value = |name: &str| {
        cookies
            .iter()
            .find_map(|c| c.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.split(';').next())
            .map(str::to_owned)
    };
    let (session, csrf) = (value("sy_session").expect("session"), value("sy_csrf").expect("csrf"));
    let jar = format!("sy_session={session}");
    let read = async |path: &str| {
        let r = http.get(format!("{}{path}", gw.admin)).header("cookie", &jar).send().await.expect("send");
        (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
    };
    assert_eq!(read("/ui/session").await.1, json!({"name": "acme-admin", "role": "admin", "tenant": "acme"}));
    let (status, groups) = read("/api/v1/groups").await;
    assert_eq!((status, groups.as_array().map(Vec::len)), (StatusCode::OK, Some(1)), "{groups}");
    assert_eq!(groups[0]["name"], "ga");
    assert_eq!(read("/api/v1/groups/gb").await.0, StatusCode::NOT_FOUND);
    assert_eq!(read("/api/v1/config/versions").await.0, StatusCode::NOT_FOUND);
    // Its writes take the same scoped paths.
    let version = Api::new(&gw).version().await;
    for (group, want) in [("gb", StatusCode::NOT_FOUND), ("ga", StatusCode::OK)] {
        let r = http
            .post(format!("{}/api/v1/groups/{group}/pause", gw.admin))
            .header("cookie", &jar)
            .header("x-csrf-token", &csrf)
            .header("if-match", format!("\"{version}\""))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), want, "{group}");
    }
    gw.stop().await;
}
