//! The fine-tuning jobs API beyond the state machine (SPEC §10), against fake trainers on
//! loopback: bad requests are refused with their paths, an in-house trainer on the HTTP
//! contract trains and registers, a key the trainer refuses fails the job without the key
//! showing anywhere, and a tenant's token sees and makes only its tenant's jobs.

use serde_json::{json, Value};
use switchyard_testkit::control::{get_json, ADMIN, VIEWER};
use switchyard_testkit::finetune_fake::FineTuneFake;
use switchyard_testkit::{client, TestGateway};

use crate::jobs::{create, file_job, job, wait, yaml, HAPPY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_with_their_paths() {
    let fake = FineTuneFake::start(HAPPY, None).await;
    let data = tempfile::tempdir().expect("tempdir");
    let gw = TestGateway::start(&yaml(data.path(), &fake, "")).await;
    let c = client();
    let url = format!("{}/api/v1/jobs", gw.admin);
    let send = |token: &'static str, body: Value| {
        let (c, url) = (c.clone(), url.clone());
        async move {
            let r = c.post(&url).bearer_auth(token).json(&body).send().await.expect("send");
            (r.status().as_u16(), r.json::<Value>().await.expect("json"))
        }
    };
    let (s, b) = send(ADMIN, json!({"group": "g", "provider": "ft", "base_model": "m", "dataset": {"bogus": 1}})).await;
    assert_eq!(s, 422, "{b}");
    assert!(b["error"]["problems"][0].as_str().expect("problem").starts_with("dataset"), "{b}");
    let bad = json!({"group": "nope", "provider": "mock", "base_model": "",
        "dataset": {"source": "file", "path": "../etc/passwd"}, "enroll": {"group": "g", "weight": -1}});
    let (s, b) = send(ADMIN, bad).await;
    assert_eq!(s, 422);
    let problems = b["error"]["problems"].to_string();
    for p in ["group:", "provider:", "base_model:", "dataset.path:", "enroll.weight:"] {
        assert!(problems.contains(p), "{p} in {problems}");
    }
    assert_eq!(send(VIEWER, file_job(true)).await.0, 403);
    assert_eq!(c.get(format!("{url}/nope")).bearer_auth(VIEWER).send().await.expect("send").status(), 404);
    let list: Value = get_json(&c, format!("{url}?state=bogus"), VIEWER).await;
    assert!(list["error"]["message"].as_str().expect("message").contains("bogus"));
    let doc: Value =
        reqwest::get(format!("{}/openapi.json", gw.admin)).await.expect("send").json().await.expect("json");
    for p in [
        "/api/v1/jobs",
        "/api/v1/jobs/{id}",
        "/api/v1/jobs/{id}/events",
        "/api/v1/jobs/{id}/start",
        "/api/v1/jobs/{id}/cancel",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing from openapi.json");
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_house_trainer_on_the_http_contract_trains_and_registers() {
    let trainer = switchyard_testkit::http_trainer_fake::HttpTrainerFake::start().await;
    let fake = FineTuneFake::start(HAPPY, None).await;
    let data = tempfile::tempdir().expect("tempdir");
    let extra = format!("  inhouse: {{ kind: http, base_url: \"{}\" }}\n", trainer.url());
    let yaml = yaml(data.path(), &fake, "").replace("  ft: {", &format!("{extra}  ft: {{"));
    let gw = TestGateway::start(&yaml).await;
    let c = client();
    let spec = json!({"group": "g", "provider": "inhouse", "base_model": "tabular-base",
        "dataset": {"source": "file", "path": "chats.jsonl"}});
    let id = create(&c, &gw, &spec).await;
    let j = wait(&c, &gw, &id, |j| j["state"] == "registered" || j["state"] == "failed").await;
    assert_eq!(j["state"], "registered", "{j:#}");
    assert_eq!(trainer.jobs(), 1);
    let rows: usize = trainer.datasets().iter().map(|(_, _, c)| String::from_utf8_lossy(c).lines().count()).sum();
    assert_eq!(rows, 40, "both files uploaded whole");
    let model = j["fine_tuned_model"].as_str().expect("model");
    let entry: Value = get_json(&c, format!("{}/api/v1/models/inhouse/{model}", gw.admin), ADMIN).await;
    assert_eq!(entry["training"]["framework"], "http-trainer");
    assert_eq!(entry["metrics"]["accuracy"], 0.91);
    let events: Value = get_json(&c, format!("{}/api/v1/jobs/{id}/events", gw.admin), VIEWER).await;
    assert!(events["events"].as_array().expect("events").iter().any(|e| e["provider_status"] == "warming_up"));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_fails_the_job_without_showing_the_key() {
    let fake = FineTuneFake::start(HAPPY, Some("the-right-key")).await;
    let data = tempfile::tempdir().expect("tempdir");
    let key = data.path().join("wrong.key");
    std::fs::write(&key, "sk-the-wrong-key-1234").expect("key");
    let yaml = yaml(data.path(), &fake, "").replace(
        &format!("  ft: {{ kind: openai, base_url: \"{}\" }}", fake.base_url()),
        &format!("  ft: {{ kind: openai, base_url: \"{}\", api_key: \"file:{}\" }}", fake.base_url(), key.display()),
    );
    assert!(yaml.contains("file:"), "{yaml}");
    let gw = TestGateway::start(&yaml).await;
    let c = client();
    let id = create(&c, &gw, &file_job(true)).await;
    let j = wait(&c, &gw, &id, |j| j["state"] == "failed").await;
    assert!(j["error"].as_str().expect("error").contains("refused the provider's credentials (401)"), "{j:#}");
    let events = c
        .get(format!("{}/api/v1/jobs/{id}/events", gw.admin))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    let audit = c
        .get(format!("{}/api/v1/audit", gw.admin))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    for text in [j.to_string(), events, audit] {
        assert!(!text.contains("the-wrong-key"), "the key leaked: {text}");
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_tokens_see_and_make_only_their_tenants_jobs() {
    use switchyard_testkit::control::hash;
    let fake = FineTuneFake::start(HAPPY, None).await;
    let data = tempfile::tempdir().expect("tempdir");
    // Groups of two tenants; a tenant admin of each.
    let tenants =
        "  ga:\n    tenant: acme\n    members:\n      - { name: champ, role: champion, provider: mock, weight: 1 }\n  \
         gb:\n    tenant: globex\n    members:\n      - { name: champ, role: champion, provider: mock, weight: 1 }\n\
         jobs:";
    let yaml = yaml(data.path(), &fake, "").replacen("jobs:", tenants, 1).replace(
        "admin:\n  tokens:\n",
        &format!(
            "admin:\n  tokens:\n    - {{ name: acme-admin, token_sha256: \"{}\", role: admin, tenant: acme }}\n    \
             - {{ name: globex-admin, token_sha256: \"{}\", role: admin, tenant: globex }}\n",
            hash("acme-token"),
            hash("globex-token")
        ),
    );
    let gw = TestGateway::start(&yaml).await;
    let c = client();
    let call = |method: reqwest::Method, path: String, token: &'static str, body: Option<Value>| {
        let mut r = c.request(method, format!("{}/api/v1/jobs{path}", gw.admin)).bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        async move {
            let resp = r.send().await.expect("send");
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let spec = |group: &str, tenant: Option<&str>| {
        let mut s = file_job(false);
        s["group"] = group.into();
        if let Some(t) = tenant {
            s["tenant"] = t.into();
        }
        s
    };
    use reqwest::Method;
    // acme's admin makes a job on its group: it takes acme's tenant.
    let (status, mine) = call(Method::POST, String::new(), "acme-token", Some(spec("ga", None))).await;
    assert_eq!(status, 201, "{mine:#}");
    assert_eq!(mine["spec"]["tenant"].as_str().or(mine["tenant"].as_str()), Some("acme"), "{mine:#}");
    let id = mine["id"].as_str().expect("id").to_owned();
    // Not on globex's group, not for globex, not on the shared group.
    for (group, tenant, path) in [("gb", None, "group"), ("ga", Some("globex"), "tenant"), ("g", None, "group")] {
        let (status, body) = call(Method::POST, String::new(), "acme-token", Some(spec(group, tenant))).await;
        assert_eq!(status, 422, "{group} {tenant:?}: {body:#}");
        assert!(body.to_string().contains(path), "{body}");
    }
    // The unscoped admin's job of no tenant and globex's job are invisible to acme.
    let other = create(&c, &gw, &file_job(false)).await;
    let (status, theirs) = call(Method::POST, String::new(), "globex-token", Some(spec("gb", None))).await;
    assert_eq!(status, 201, "{theirs:#}");
    let theirs = theirs["id"].as_str().expect("id").to_owned();
    // Validated and waiting in draft (start: false) before acme tries to touch it.
    wait(&c, &gw, &theirs, |j| j["state"] == "draft" && j["validated_at_ms"].is_i64()).await;

    let (status, listed) = call(Method::GET, String::new(), "acme-token", None).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = listed["jobs"].as_array().expect("jobs").iter().filter_map(|j| j["id"].as_str()).collect();
    assert_eq!(ids, [id.as_str()], "acme lists only its job");
    let (_, all) = call(Method::GET, String::new(), ADMIN, None).await;
    assert_eq!(all["jobs"].as_array().map(Vec::len), Some(3), "the unscoped admin lists every job");
    for hidden in [&other, &theirs] {
        for (method, path) in [
            (Method::GET, format!("/{hidden}")),
            (Method::GET, format!("/{hidden}/events")),
            (Method::POST, format!("/{hidden}/start")),
            (Method::POST, format!("/{hidden}/cancel")),
        ] {
            let (status, body) = call(method.clone(), path.clone(), "acme-token", None).await;
            assert_eq!(status, 404, "{method} {path}: {body}");
        }
    }
    let after = job(&c, &gw, &theirs).await;
    assert_eq!(after["state"], "draft", "globex's job was not touched: {after:#}");
    let (status, own) = call(Method::POST, format!("/{id}/cancel"), "acme-token", None).await;
    assert_eq!((status, own["state"].as_str()), (200, Some("cancelled")));
    gw.stop().await;
}
