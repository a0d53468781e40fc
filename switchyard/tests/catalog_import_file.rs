//! The real LiteLLM catalog file through `POST /api/v1/models/import-file` (issue 13,
//! SPEC §8): the `model_prices_and_context_window.json` shipped in the pinned `litellm`
//! wheel (`bash scripts/litellm-file.sh`), imported with counts of mapped and skipped rows
//! that agree with an independent reading in Python (`catalog/tests/litellm_expect.py`),
//! ten entries read back through the API and checked field by field against the file,
//! a dry run that stores nothing, and a second import that changes nothing. Fails, never
//! skips, when the file or Python is missing.

use std::time::Instant;

use reqwest::StatusCode;
use serde_json::{json, Value};
use switchyard_testkit::control::{admin_yaml, Api, ADMIN, VIEWER};
use switchyard_testkit::TestGateway;

#[path = "../../catalog/tests/litellm/mod.rs"]
mod litellm;

use litellm::{file_path, python_reading, SPOT};

/// The fields `litellm_expect.py` computes, read from an entry the API returned.
fn observed(e: &Value) -> Value {
    json!({
        "id": e["id"], "provider": e["provider"], "name": e["name"],
        "kind": e["kind"],
        "max_input_tokens": e["limits"]["max_input_tokens"],
        "max_output_tokens": e["limits"]["max_output_tokens"],
        "context_tokens": e["limits"]["context_tokens"],
        "pricing": e["pricing"],
        "tools": e["capabilities"]["tools"],
        "streaming": e["capabilities"]["streaming"],
        "json_mode": e["capabilities"]["json_mode"],
        "input": e["modalities"]["input"],
        "output": e["modalities"]["output"],
    })
}

async fn post_file(api: &Api, query: &str, body: Vec<u8>) -> reqwest::Response {
    api.http
        .post(format!("{}/models/import-file{query}", api.base))
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("send")
}

async fn count_models(api: &Api) -> usize {
    let mut n = 0;
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor.as_ref().map_or(String::new(), |c| format!("&cursor={c}"));
        let r = api.get(&format!("/models?limit=1000{q}"), VIEWER).send().await.expect("send");
        assert_eq!(r.status(), StatusCode::OK);
        let page: Value = r.json().await.expect("json");
        n += page["models"].as_array().expect("models").len();
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.replace('%', "%25").replace('&', "%26").replace('+', "%2B").replace('#', "%23")),
            None => return n,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_litellm_file_is_imported_through_the_api() {
    let path = file_path();
    let body = std::fs::read(&path).unwrap_or_else(|e| {
        panic!("{}: {e}; fetch it with `bash scripts/python-test-deps.sh` (or scripts/litellm-file.sh)", path.display())
    });
    let expect = python_reading(&path);
    let rows = expect["rows"].as_array().expect("rows");
    let python_mapped = rows.iter().filter(|r| r[1] == "mapped").count();

    let yaml = format!(
        "providers:\n  mock: {{ kind: mock }}\ngroups:\n  g:\n    members:\n      - {{ name: champ, role: champion, provider: mock, weight: 100 }}\n{}",
        admin_yaml()
    );
    let gw = TestGateway::start_with_control(&yaml).await;
    let api = Api::new(&gw);

    // A dry run: the counts, nothing stored.
    let r = post_file(&api, "?dry_run=true", body.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let plan: Value = r.json().await.expect("json");
    assert_eq!(plan["mapped"].as_u64(), Some(python_mapped as u64));
    assert_eq!(plan["skipped"].as_u64(), Some((rows.len() - python_mapped) as u64));
    assert_eq!(plan["created"], plan["mapped"]);
    assert_eq!(count_models(&api).await, 0);

    // The import: every row reported in file order; every row that does not map says why.
    let started = Instant::now();
    let r = post_file(&api, "", body.clone()).await;
    let took = started.elapsed();
    assert_eq!(r.status(), StatusCode::OK);
    let reply: Value = r.json().await.expect("json");
    let replied = reply["rows"].as_array().expect("rows");
    assert_eq!(replied.len(), rows.len());
    let keys: Vec<&str> = replied.iter().map(|r| r["key"].as_str().expect("key")).collect();
    let python_keys: Vec<&str> = rows.iter().map(|r| r[0].as_str().expect("key")).collect();
    assert_eq!(keys, python_keys, "the same rows in the same order");
    for (ours, theirs) in replied.iter().zip(rows) {
        assert_eq!(ours["id"].is_string(), theirs[1] == "mapped", "{ours} vs {theirs}");
        if ours["id"].is_null() {
            assert!(!ours["problems"].as_array().expect("problems").is_empty(), "{ours}");
            assert!(ours["status"].is_null());
        } else {
            assert_eq!(ours["status"], "created", "{ours}");
            assert_eq!(ours["version"], 1, "{ours}");
        }
    }
    assert_eq!(
        (reply["mapped"].as_u64(), reply["created"].as_u64()),
        (Some(python_mapped as u64), Some(python_mapped as u64))
    );
    assert_eq!(count_models(&api).await, python_mapped);
    eprintln!(
        "{}: {} rows, {} mapped, {} skipped, imported in {took:?}",
        path.display(),
        rows.len(),
        reply["mapped"],
        reply["skipped"]
    );

    // Ten entries read back through the API, field by field against the file.
    for key in SPOT {
        let want = &expect["spot"][key];
        let id = want["id"].as_str().expect("spot id");
        let r = api.get(&format!("/models/{id}"), VIEWER).send().await.expect("send");
        assert_eq!(r.status(), StatusCode::OK, "{key} ({id})");
        let entry: Value = r.json().await.expect("json");
        assert_eq!(observed(&entry), *want, "{key}");
        assert_eq!(entry["provenance"]["pricing.currency"]["source"].as_str().unwrap_or("file"), "file", "{key}");
    }

    // Again: idempotent — every mapped row unchanged, nothing stored or audited.
    let audited = |api: &Api| {
        let r = api.get("/audit?action=model.import&limit=1000", ADMIN).send();
        async move { r.await.expect("send").json::<Vec<Value>>().await.expect("json") }
    };
    let first = audited(&api).await;
    assert_eq!(first.len(), 1000.min(python_mapped));
    assert_eq!(first[0]["reason"], "import of a LiteLLM catalog file");
    let r = post_file(&api, "", body).await;
    let again: Value = r.json().await.expect("json");
    assert_eq!(
        (again["unchanged"].as_u64(), again["created"].as_u64(), again["updated"].as_u64()),
        (Some(python_mapped as u64), Some(0), Some(0))
    );
    assert_eq!(audited(&api).await[0]["audit_id"], first[0]["audit_id"]);

    // Bodies up to 16 MiB; one byte more is 413 (the server has read it all, so the
    // answer is not lost to a reset while the client still writes). Not a JSON object: 400.
    let file_of = |len: usize| {
        let mut big = b"{\"x\": \"".to_vec();
        big.resize(len - 2, b'a');
        big.extend_from_slice(b"\"}");
        big
    };
    let at_limit = post_file(&api, "?dry_run=true", file_of(16 << 20)).await;
    assert_eq!(at_limit.status(), StatusCode::OK);
    assert_eq!(at_limit.json::<Value>().await.expect("json")["skipped"], 1, "one row, not a model");
    assert_eq!(post_file(&api, "", file_of((16 << 20) + 1)).await.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(post_file(&api, "", b"[1, 2]".to_vec()).await.status(), StatusCode::BAD_REQUEST);
}
