//! The model catalog through the control API (issue 13, SPEC §8): CRUD with per-entry
//! ETags (`If-Match`, `If-None-Match: *`, 412 before the body is read, 428 without a
//! precondition), search and filters, validate-only, the JSON Schema, viewers read only,
//! and every change in the audit trail.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchyard_testkit::control::{admin_yaml, error_json, Api, ADMIN, VIEWER};
use switchyard_testkit::TestGateway;

fn yaml() -> String {
    format!(
        "providers:\n  mock: {{ kind: mock }}\ngroups:\n  g:\n    members:\n      - {{ name: champ, role: champion, provider: mock, weight: 100 }}\n{}",
        admin_yaml()
    )
}

/// The entry ETag of a response.
fn tag(r: &reqwest::Response) -> String {
    r.headers()["etag"].to_str().expect("ascii").to_owned()
}

fn put(api: &Api, path: &str) -> reqwest::RequestBuilder {
    api.http.request(Method::PUT, format!("{}/models/{path}", api.base)).bearer_auth(ADMIN)
}

fn gpt4o() -> Value {
    json!({
        "id": "openai/gpt-4o", "provider": "openai", "name": "gpt-4o", "display_name": "GPT-4o", "kind": "chat",
        "limits": {"context_tokens": 128000, "max_output_tokens": 16384},
        "pricing": {"input_per_mtok": "2.50", "output_per_mtok": "10", "currency": "USD"},
        "capabilities": {"streaming": true, "tools": true}
    })
}

async fn audit_actions(api: &Api, target: &str) -> Vec<String> {
    let r = api.get(&format!("/audit?target={target}"), ADMIN).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let entries: Vec<Value> = r.json().await.expect("json");
    entries.iter().map(|e| e["action"].as_str().expect("action").to_owned()).collect()
}

#[tokio::test]
async fn entries_are_created_read_replaced_and_deleted_with_etags_and_audit() {
    let gw = TestGateway::start_with_control(&yaml()).await;
    let api = Api::new(&gw);

    // Create: needs If-None-Match: * (or If-Match on an existing entry).
    let r = put(&api, "openai/gpt-4o").json(&gpt4o()).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::PRECONDITION_REQUIRED);
    assert_eq!(error_json(r).await["error"]["code"], "precondition_required");
    let r = put(&api, "openai/gpt-4o").header("if-match", "*").json(&gpt4o()).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED, "If-Match: * needs an entry that exists");
    let r = put(&api, "openai/gpt-4o").header("if-none-match", "*").json(&gpt4o()).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(tag(&r), "\"1\"");
    let created: Value = r.json().await.expect("json");
    assert_eq!(created["pricing"]["input_per_mtok"], "2.5", "prices normalised");
    assert_eq!(created["provenance"]["pricing.input_per_mtok"]["source"], "operator");
    assert_eq!(created["capabilities"]["logprobs"], Value::Null, "unknown stays null");
    assert!(created["created_at"].is_string());

    // Read: the entry itself with its ETag; viewers read too.
    let r = api.get("/models/openai/gpt-4o", VIEWER).send().await.expect("send");
    assert_eq!((r.status(), tag(&r)), (StatusCode::OK, "\"1\"".to_owned()));
    assert_eq!(r.json::<Value>().await.expect("json"), created);

    // Creating again is 412; a stale If-Match is 412 whatever the body.
    let r = put(&api, "openai/gpt-4o").header("if-none-match", "*").json(&gpt4o()).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    let r = put(&api, "openai/gpt-4o")
        .header("if-match", "\"7\"")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!((r.status(), tag(&r)), (StatusCode::PRECONDITION_FAILED, "\"1\"".to_owned()));
    assert_eq!(error_json(r).await["error"]["current_version"], 1);
    let r = put(&api, "openai/gpt-4o").header("if-match", "not a tag").json(&gpt4o()).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Replace: the read entry, edited, back with its ETag.
    let mut edit = created.clone();
    edit["pricing"]["output_per_mtok"] = json!("8");
    edit["labels"] = json!({"team": "search"});
    let r = put(&api, "openai/gpt-4o").header("if-match", "\"1\"").json(&edit).send().await.expect("send");
    assert_eq!((r.status(), tag(&r)), (StatusCode::OK, "\"2\"".to_owned()));
    let replaced: Value = r.json().await.expect("json");
    assert_eq!(replaced["pricing"]["output_per_mtok"], "8");
    assert_eq!(replaced["created_at"], created["created_at"]);
    // The same PUT again changes nothing: same version, no audit entry.
    let r = put(&api, "openai/gpt-4o").header("if-match", "\"2\"").json(&replaced).send().await.expect("send");
    assert_eq!((r.status(), tag(&r)), (StatusCode::OK, "\"2\"".to_owned()));
    // The old tag no longer works.
    let r = put(&api, "openai/gpt-4o").header("if-match", "\"1\"").json(&edit).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);

    // Invalid entries: 422 with every path; nothing stored.
    let mut bad = replaced.clone();
    bad["limits"] = json!({"context_tokens": 1000, "max_input_tokens": 2000, "max_output_tokens": 0});
    bad["pricing"]["currency"] = json!("dollars");
    let r = put(&api, "openai/gpt-4o").header("if-match", "\"2\"").json(&bad).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = error_json(r).await;
    assert_eq!(body["error"]["code"], "invalid_entry");
    let problems: Vec<&str> =
        body["error"]["problems"].as_array().expect("problems").iter().map(|p| p.as_str().expect("s")).collect();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems.iter().any(|p| p.starts_with("limits.max_input_tokens: ")), "{problems:?}");
    assert!(problems.iter().any(|p| p.starts_with("limits.max_output_tokens: ")), "{problems:?}");
    assert!(problems.iter().any(|p| p.starts_with("pricing.currency: ")), "{problems:?}");
    let mut unknown = replaced.clone();
    unknown["capabilities"]["teleport"] = json!(true);
    let r = put(&api, "openai/gpt-4o").header("if-match", "\"2\"").json(&unknown).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p = error_json(r).await["error"]["problems"][0].as_str().expect("problem").to_owned();
    assert!(p.starts_with("capabilities.teleport: "), "{p}");
    let mut other = replaced.clone();
    other["id"] = json!("openai/gpt-4o-mini");
    let r = put(&api, "openai/gpt-4o").header("if-match", "\"2\"").json(&other).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Viewers read only.
    let r = api
        .http
        .put(format!("{}/models/openai/gpt-4o", api.base))
        .bearer_auth(VIEWER)
        .header("if-match", "\"2\"")
        .json(&replaced)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Delete: If-Match required, stale refused, then gone.
    let del = |tag: Option<&str>| {
        let mut r = api.http.delete(format!("{}/models/openai/gpt-4o", api.base)).bearer_auth(ADMIN);
        if let Some(t) = tag {
            r = r.header("if-match", t);
        }
        r
    };
    assert_eq!(del(None).send().await.expect("send").status(), StatusCode::PRECONDITION_REQUIRED);
    assert_eq!(del(Some("\"1\"")).send().await.expect("send").status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(del(Some("\"2\"")).send().await.expect("send").status(), StatusCode::NO_CONTENT);
    assert_eq!(api.get("/models/openai/gpt-4o", ADMIN).send().await.expect("send").status(), StatusCode::NOT_FOUND);
    assert_eq!(del(Some("\"2\"")).send().await.expect("send").status(), StatusCode::NOT_FOUND);

    // Every stored change is audited, newest first, with the entry before and after.
    assert_eq!(audit_actions(&api, "models.openai/gpt-4o").await, ["model.delete", "model.update", "model.create"]);
    let r = api.get("/audit?target=models.openai/gpt-4o&action=model.update", ADMIN).send().await.expect("send");
    let entries: Vec<Value> = r.json().await.expect("json");
    assert_eq!(entries[0]["actor"], "alice");
    assert_eq!(entries[0]["before"]["pricing"]["output_per_mtok"], "10");
    assert_eq!(entries[0]["after"]["pricing"]["output_per_mtok"], "8");
}

#[tokio::test]
async fn the_catalog_is_searched_and_filtered_and_names_may_hold_slashes() {
    let gw = TestGateway::start_with_control(&yaml()).await;
    let api = Api::new(&gw);
    let entries = [
        json!({"id": "openai/gpt-4o", "provider": "openai", "name": "gpt-4o", "kind": "chat", "display_name": "GPT-4o"}),
        json!({"id": "openai/text-embedding-3-small", "provider": "openai", "name": "text-embedding-3-small", "kind": "embedding"}),
        json!({"provider": "anthropic", "name": "claude-3-5-sonnet", "kind": "chat", "display_name": "Claude 3.5 Sonnet"}),
        json!({"kind": "chat"}),
    ];
    let paths = [
        "openai/gpt-4o",
        "openai/text-embedding-3-small",
        "anthropic/claude-3-5-sonnet",
        "vllm/meta-llama/Llama-3.1-8B-Instruct",
    ];
    for (path, body) in paths.iter().zip(entries) {
        let r = put(&api, path).header("if-none-match", "*").json(&body).send().await.expect("send");
        assert_eq!(r.status(), StatusCode::CREATED, "{path}: {}", r.text().await.unwrap_or_default());
    }
    let r = api.get("/models/vllm/meta-llama/Llama-3.1-8B-Instruct", VIEWER).send().await.expect("send");
    let llama: Value = r.json().await.expect("json");
    assert_eq!(
        (llama["provider"].as_str(), llama["name"].as_str()),
        (Some("vllm"), Some("meta-llama/Llama-3.1-8B-Instruct"))
    );

    let ids = |q: &'static str| {
        let api = &api;
        async move {
            let r = api.get(&format!("/models{q}"), VIEWER).send().await.expect("send");
            assert_eq!(r.status(), StatusCode::OK, "{q}");
            let page: Value = r.json().await.expect("json");
            page["models"]
                .as_array()
                .expect("models")
                .iter()
                .map(|m| m["id"].as_str().expect("id").to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ids("").await.len(), 4);
    assert_eq!(ids("?provider=openai").await, ["openai/gpt-4o", "openai/text-embedding-3-small"]);
    assert_eq!(
        ids("?kind=chat").await,
        ["anthropic/claude-3-5-sonnet", "openai/gpt-4o", "vllm/meta-llama/Llama-3.1-8B-Instruct"]
    );
    assert_eq!(ids("?q=SONNET").await, ["anthropic/claude-3-5-sonnet"]);
    assert_eq!(ids("?q=llama&kind=chat").await, ["vllm/meta-llama/Llama-3.1-8B-Instruct"]);
    assert!(ids("?provider=gemini").await.is_empty());
    let r = api.get("/models?limit=2", ADMIN).send().await.expect("send");
    let page: Value = r.json().await.expect("json");
    assert_eq!(page["models"].as_array().map(Vec::len), Some(2));
    let next = page["next_cursor"].as_str().expect("cursor").to_owned();
    let r = api.get(&format!("/models?limit=2&cursor={next}"), ADMIN).send().await.expect("send");
    let rest: Value = r.json().await.expect("json");
    assert_eq!(rest["models"][0]["id"], "openai/text-embedding-3-small");
    let r = api.get("/models?limit=0", ADMIN).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn validate_stores_nothing_and_the_schema_is_served() {
    let gw = TestGateway::start_with_control(&yaml()).await;
    let api = Api::new(&gw);
    let validate =
        |body: Value| api.http.post(format!("{}/models/validate", api.base)).bearer_auth(ADMIN).json(&body).send();
    let r = validate(gpt4o()).await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let ok: Value = r.json().await.expect("json");
    assert_eq!((ok["valid"].as_bool(), ok["entry"]["pricing"]["input_per_mtok"].as_str()), (Some(true), Some("2.5")));
    let mut bad = gpt4o();
    bad["id"] = json!("openai/other");
    bad["io_schema"] = json!({"inputs": [{"name": "x", "datatype": "FP32", "shape": [-2]}], "outputs": []});
    bad["provenance"] = json!({"limits.nope": {"source": "llm", "confidence": 2}});
    let r = validate(bad).await.expect("send");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = error_json(r).await;
    let paths: Vec<String> = body["error"]["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| p.as_str().expect("s").split(": ").next().expect("path").to_owned())
        .collect();
    assert_eq!(
        paths,
        ["id", "io_schema.inputs[0].shape[0]", "provenance[\"limits.nope\"]", "provenance[\"limits.nope\"].confidence"]
    );
    let r = validate(
        json!({"id": "p/m", "provider": "p", "name": "m", "pricing": {"input_per_mtok": 2.5, "currency": "USD"}}),
    )
    .await
    .expect("send");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p = error_json(r).await["error"]["problems"][0].as_str().expect("p").to_owned();
    assert!(p.starts_with("pricing.input_per_mtok: "), "{p}");
    // Nothing was stored.
    let page: Value = api.get("/models", ADMIN).send().await.expect("send").json().await.expect("json");
    assert_eq!(page["models"], json!([]));
    // Viewers may not post.
    let r = api.http.post(format!("{}/models/validate", api.base)).bearer_auth(VIEWER).json(&gpt4o()).send().await;
    assert_eq!(r.expect("send").status(), StatusCode::FORBIDDEN);

    let r = api.get("/models/schema.json", VIEWER).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/schema+json");
    let schema: Value = r.json().await.expect("json");
    assert_eq!(schema["title"], "CatalogEntry");
    assert!(schema["properties"]["pricing"].is_object(), "{schema}");

    // The routes are in the OpenAPI document.
    let doc: Value =
        reqwest::get(format!("{}/openapi.json", gw.admin)).await.expect("send").json().await.expect("json");
    for p in
        ["/api/v1/models", "/api/v1/models/{provider}/{name}", "/api/v1/models/validate", "/api/v1/models/schema.json"]
    {
        assert!(doc["paths"].get(p).is_some(), "{p} missing from openapi.json");
    }
}
