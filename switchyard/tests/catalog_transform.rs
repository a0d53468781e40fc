//! LLM-assisted metadata (issue 13, SPEC §8 `POST /api/v1/models/transform`) with a fake
//! LLM member on loopback answering, by scenario: a correct entry; no JSON at all; a schema
//! violation fixed on the retry; a violation never fixed. Each reply as the operator gets
//! it, nothing stored, and the transform's own inferences in the records (tenant
//! `system`, client `catalog-transform`).

use reqwest::StatusCode;
use serde_json::{json, Value};
use switchyard_testkit::control::{admin_yaml, Api, ADMIN, VIEWER};
use switchyard_testkit::fake_server::{Fake, Reply, Seen, Wire};
use switchyard_testkit::TestGateway;

const GOOD: &str = "Here it is:\n```json\n{\"id\": \"openai/gpt-4o\", \"provider\": \"openai\", \"name\": \"gpt-4o\", \
                    \"kind\": \"chat\", \"limits\": {\"context_tokens\": 128000}}\n```";
const BAD: &str = "{\"id\": \"openai/gpt-4o\", \"provider\": \"openai\", \"name\": \"gpt-4o\", \"kind\": \"chat\", \
                   \"limits\": {\"context_tokens\": 0}}";

/// An OpenAI-compatible model whose answer depends on the scenario named in the source
/// and on whether it is the retry (four messages: system, user, its answer, the problems).
struct Llm;

impl Wire for Llm {
    fn answer(&self, seen: &Seen) -> Reply {
        let text = seen.body.to_string();
        let retry = seen.body["messages"].as_array().is_some_and(|m| m.len() == 4);
        let content = if text.contains("scenario-good") {
            GOOD
        } else if text.contains("scenario-not-json") {
            if retry {
                "Still no JSON, sorry."
            } else {
                "I am not able to help with that."
            }
        } else if text.contains("scenario-fixed") {
            if retry {
                GOOD
            } else {
                BAD
            }
        } else {
            BAD
        };
        let body = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "fake-llm",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140}
        });
        Reply::Json(200, body.to_string())
    }

    fn error(&self, status: u16) -> String {
        format!(r#"{{"error":{{"message":"fake {status}","type":"server_error","code":null}}}}"#)
    }
}

async fn transform(api: &Api, scenario: &str) -> Value {
    let r = api
        .http
        .post(format!("{}/models/transform", api.base))
        .bearer_auth(ADMIN)
        .json(&json!({"source": {"model": "gpt-4o", "note": scenario}, "hints": {"provider": "openai"}, "via_group": "catalog-llm"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK, "{scenario}");
    r.json().await.expect("json")
}

#[tokio::test]
async fn transform_proposes_retries_once_and_is_recorded() {
    let llm = Fake::start(Llm).await;
    let yaml = format!(
        "providers:\n  llm: {{ kind: openai, base_url: \"{}/v1\" }}\ngroups:\n  catalog-llm:\n    members:\n      \
         - {{ name: m, role: champion, provider: llm, model: fake-llm, weight: 100 }}\n{}",
        llm.url(),
        admin_yaml()
    );
    let gw = TestGateway::start_with_control(&yaml).await;
    let api = Api::new(&gw);
    // The catalog knows the context window from the provider: the evidence for confidence.
    let current = json!({"id": "openai/gpt-4o", "provider": "openai", "name": "gpt-4o",
        "limits": {"context_tokens": 128000},
        "provenance": {"limits.context_tokens": {"source": "provider", "confidence": 1.0}}});
    let r = api
        .http
        .put(format!("{}/models/openai/gpt-4o", api.base))
        .bearer_auth(ADMIN)
        .header("if-none-match", "*")
        .json(&current)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED);

    // A correct answer: a proposal with confidence per field and a diff; nothing stored.
    let good = transform(&api, "scenario-good").await;
    assert_eq!((good["retried"].as_bool(), good["request_ids"].as_array().map(Vec::len)), (Some(false), Some(1)));
    assert_eq!(good["problems"], json!([]), "{good}");
    assert_eq!(good["proposal"]["kind"], "chat");
    assert_eq!(good["proposal"]["provenance"]["kind"]["source"], "llm");
    assert_eq!(good["confidence"]["limits.context_tokens"], 0.9, "agrees with the provider's value");
    assert_eq!(good["confidence"]["kind"], 0.5, "the LLM alone");
    assert_eq!(good["diff"], json!([{"path": "kind", "before": null, "after": "chat"}]));
    let stored: Value =
        api.get("/models/openai/gpt-4o", VIEWER).send().await.expect("send").json().await.expect("json");
    assert_eq!(stored["kind"], Value::Null, "a proposal is not stored");

    // Not JSON: retried once, then the problems; no proposal.
    let no_json = transform(&api, "scenario-not-json").await;
    assert_eq!((no_json["retried"].as_bool(), no_json["proposal"].is_null()), (Some(true), true), "{no_json}");
    assert_eq!(no_json["problems"][0]["message"], "the answer was still not a valid entry after one retry");
    assert_eq!(no_json["request_ids"].as_array().map(Vec::len), Some(2));

    // A schema violation fixed on the retry: the proposal.
    let fixed = transform(&api, "scenario-fixed").await;
    assert_eq!(
        (fixed["retried"].as_bool(), fixed["proposal"]["limits"]["context_tokens"].as_u64()),
        (Some(true), Some(128_000))
    );
    assert_eq!(fixed["problems"], json!([]));

    // A violation never fixed: its problems with paths, never a value.
    let never = transform(&api, "scenario-never").await;
    assert!(never["proposal"].is_null(), "{never}");
    let paths: Vec<&str> =
        never["problems"].as_array().expect("problems").iter().map(|p| p["path"].as_str().expect("path")).collect();
    assert_eq!(paths, ["", "limits.context_tokens"], "{never}");

    // Refusals: unknown group, viewers.
    let r = api
        .http
        .post(format!("{}/models/transform", api.base))
        .bearer_auth(ADMIN)
        .json(&json!({"source": {}, "via_group": "nope"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = api
        .http
        .post(format!("{}/models/transform", api.base))
        .bearer_auth(VIEWER)
        .json(&json!({"source": {}, "via_group": "catalog-llm"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // The transform's own inferences are in the records, attributable to it.
    let mut ids: Vec<String> = [&good, &no_json, &fixed, &never]
        .iter()
        .flat_map(|r| r["request_ids"].as_array().expect("ids").iter().map(|i| i.as_str().expect("id").to_owned()))
        .collect();
    ids.sort();
    assert_eq!(ids.len(), 7);
    let dir = gw.stop().await;
    let mut recorded: Vec<_> = TestGateway::records(&dir).into_iter().filter(|r| r.group == "catalog-llm").collect();
    recorded.sort_by(|a, b| a.request_id.cmp(&b.request_id));
    let got: Vec<String> = recorded.iter().map(|r| r.request_id.clone()).collect();
    assert_eq!(got, ids);
    for r in &recorded {
        assert_eq!((r.tenant.as_str(), r.client.as_str(), r.status), ("system", "catalog-transform", 200), "{r:?}");
        assert_eq!((r.input_tokens, r.output_tokens), (Some(100), Some(40)));
    }
}
