//! Discovery and import from providers through the control API (issue 13, SPEC §8):
//! fake OpenAI-compatible, Anthropic, Gemini, TGI and OIP servers on loopback answer their
//! real discovery endpoints; the gateway asks them with each provider's own URL and key;
//! imports are per item, idempotent, `skip` / `fail_fast`, `dry_run`, and audited.

use reqwest::StatusCode;
use serde_json::{json, Value};
use switchyard_testkit::control::{admin_yaml, error_json, Api, ADMIN, VIEWER};
use switchyard_testkit::fake_server::Fake;
use switchyard_testkit::{anthropic_fake, gemini_fake, huggingface_fake, oip_fake, openai_fake, TestGateway};

struct Fakes {
    openai: Fake,
    anthropic: Fake,
    gemini: Fake,
    tgi: Fake,
    oip: Fake,
}

impl Fakes {
    async fn start() -> Self {
        Self {
            openai: openai_fake::start().await,
            anthropic: anthropic_fake::start().await,
            gemini: gemini_fake::start().await,
            tgi: huggingface_fake::start().await,
            oip: oip_fake::start().await,
        }
    }

    fn yaml(&self) -> String {
        std::env::set_var("CATALOG_IMPORT_TEST_KEY", "sk-catalog-import-1234");
        format!(
            r#"
providers:
  oa: {{ kind: openai, base_url: "{}", api_key: env:CATALOG_IMPORT_TEST_KEY }}
  an: {{ kind: anthropic, base_url: "{}", api_key: env:CATALOG_IMPORT_TEST_KEY }}
  ge: {{ kind: gemini, base_url: "{}/v1beta", api_key: env:CATALOG_IMPORT_TEST_KEY }}
  tgi: {{ kind: huggingface, base_url: "{}" }}
  tab: {{ kind: oip, base_url: "{}" }}
  mock: {{ kind: mock }}
groups:
  g:
    members:
      - {{ name: champ, role: champion, provider: mock, weight: 100 }}
  iris:
    members:
      - {{ name: m1, role: champion, provider: tab, model: iris, weight: 100 }}
{}"#,
            openai_fake::base_url(&self.openai),
            self.anthropic.url(),
            self.gemini.url(),
            self.tgi.url(),
            self.oip.url(),
            admin_yaml()
        )
    }
}

async fn import(api: &Api, body: Value) -> (StatusCode, Value) {
    let r =
        api.http.post(format!("{}/models/import", api.base)).bearer_auth(ADMIN).json(&body).send().await.expect("send");
    let status = r.status();
    (status, r.json().await.expect("json"))
}

async fn entry(api: &Api, id: &str) -> Option<Value> {
    let r = api.get(&format!("/models/{id}"), VIEWER).send().await.expect("send");
    match r.status() {
        StatusCode::OK => Some(r.json().await.expect("json")),
        StatusCode::NOT_FOUND => None,
        s => panic!("GET {id}: {s}"),
    }
}

fn statuses(reply: &Value) -> Vec<(String, String)> {
    reply["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| (i["id"].as_str().expect("id").to_owned(), i["status"].as_str().expect("status").to_owned()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

#[tokio::test]
async fn every_provider_kind_is_discovered_and_imported_with_its_own_credentials() {
    let fakes = Fakes::start().await;
    let gw = TestGateway::start_with_control(&fakes.yaml()).await;
    let api = Api::new(&gw);

    // OpenAI-compatible: ids, vLLM's max_model_len and parent; an item without an id is
    // reported with its path in the provider's answer.
    let (status, reply) = import(&api, json!({"provider": "oa"})).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(
        statuses(&reply),
        pairs(&[
            ("oa/gpt-4o", "created"),
            ("oa/meta-llama/Llama-3.1-8B-Instruct", "created"),
            ("oa/sql-lora", "created")
        ])
    );
    assert_eq!((reply["created"].as_u64(), reply["failed"].as_u64()), (Some(3), Some(0)));
    assert_eq!(reply["problems"][0]["path"], "data[3]", "{reply}");
    assert!(reply["problems"][0]["message"].as_str().expect("m").contains("missing field `id`"), "{reply}");
    let seen = fakes.openai.seen();
    let models_get = seen.iter().find(|s| s.method == "GET").expect("a GET /v1/models");
    assert_eq!(models_get.path, "/v1/models");
    assert_eq!(models_get.headers["authorization"], "Bearer sk-catalog-import-1234");
    let llama = entry(&api, "oa/meta-llama/Llama-3.1-8B-Instruct").await.expect("stored");
    assert_eq!(llama["limits"]["context_tokens"], 131_072);
    assert_eq!(llama["provenance"]["limits.context_tokens"], json!({"source": "provider", "confidence": 1.0}));
    assert_eq!(llama["kind"], Value::Null, "OpenAI's list does not say the kind: not guessed");
    let lora = entry(&api, "oa/sql-lora").await.expect("stored");
    assert_eq!(lora["training"]["base_model"], "meta-llama/Llama-3.1-8B-Instruct");

    // Anthropic: x-api-key and anthropic-version, both pages.
    let (_, reply) = import(&api, json!({"provider": "an"})).await;
    assert_eq!(reply["created"], 3, "{reply}");
    let gets: Vec<String> =
        fakes.anthropic.seen().iter().filter(|s| s.method == "GET").map(|s| s.path.clone()).collect();
    assert_eq!(gets, ["/v1/models", "/v1/models?after_id=claude-3-5-haiku-20241022"]);
    assert!(fakes.anthropic.seen().iter().all(|s| s.headers["x-api-key"] == "sk-catalog-import-1234"));
    let opus = entry(&api, "an/claude-3-opus-20240229").await.expect("second page stored");
    assert_eq!((opus["kind"].as_str(), opus["display_name"].as_str()), (Some("chat"), Some("Claude 3 Opus")));
    assert_eq!(opus["provenance"]["kind"]["confidence"], 0.9, "implied by the API, not stated per model");

    // Gemini: x-goog-api-key, pageToken, kinds from the generation methods.
    let (_, reply) = import(&api, json!({"provider": "ge"})).await;
    assert_eq!(statuses(&reply), pairs(&[("ge/gemini-2.0-flash", "created"), ("ge/text-embedding-004", "created")]));
    assert!(fakes.gemini.seen().iter().all(|s| s.headers["x-goog-api-key"] == "sk-catalog-import-1234"));
    let flash = entry(&api, "ge/gemini-2.0-flash").await.expect("stored");
    assert_eq!((flash["kind"].as_str(), flash["limits"]["max_input_tokens"].as_u64()), (Some("chat"), Some(1_048_576)));
    assert_eq!(flash["limits"]["context_tokens"], Value::Null, "not stated, not guessed");
    assert_eq!(entry(&api, "ge/text-embedding-004").await.expect("stored")["kind"], "embedding");

    // TGI: /info.
    let (_, reply) = import(&api, json!({"provider": "tgi"})).await;
    assert_eq!(statuses(&reply), pairs(&[("tgi/meta-llama/Llama-3.1-8B-Instruct", "created")]));
    let tgi = entry(&api, "tgi/meta-llama/Llama-3.1-8B-Instruct").await.expect("stored");
    assert_eq!(
        (tgi["limits"]["context_tokens"].as_u64(), tgi["limits"]["max_input_tokens"].as_u64()),
        (Some(8192), Some(8191))
    );

    // OIP: the models the config's members use, asked one at a time; the io_schema. The
    // group's OIP metadata had no tensors before and has the champion's after.
    let meta = |gw: &TestGateway| {
        let r = switchyard_testkit::client().get(gw.url("/v2/models/iris")).send();
        async move { r.await.expect("send").json::<Value>().await.expect("json") }
    };
    assert_eq!((meta(&gw).await["inputs"].clone(), meta(&gw).await["outputs"].clone()), (json!([]), json!([])));
    let (_, reply) = import(&api, json!({"provider": "tab"})).await;
    assert_eq!(statuses(&reply), pairs(&[("tab/iris", "created")]));
    assert!(fakes.oip.seen().iter().any(|s| s.method == "GET" && s.path == "/v2/models/iris"));
    let iris = entry(&api, "tab/iris").await.expect("stored");
    assert_eq!(iris["io_schema"]["inputs"], json!([{"name": "input-0", "datatype": "FP32", "shape": [-1, 4]}]));
    assert_eq!(iris["io_schema"]["outputs"][0]["datatype"], "INT64");
    // Named by its entry id (what the console sends), the model is asked for by its name and
    // found to be the same entry, not a new `tab/tab/iris`.
    let asked = fakes.oip.seen().len();
    let (_, reply) = import(&api, json!({"provider": "tab", "models": ["tab/iris"]})).await;
    assert_eq!(statuses(&reply), pairs(&[("tab/iris", "unchanged")]), "{reply}");
    let paths: Vec<String> = fakes.oip.seen()[asked..].iter().map(|s| s.path.clone()).collect();
    assert_eq!(paths, ["/v2/models/iris"]);
    let after = meta(&gw).await;
    assert_eq!(after["inputs"], iris["io_schema"]["inputs"], "{after}");
    assert_eq!(after["outputs"], json!([{"name": "predict", "datatype": "INT64", "shape": [-1, 1]}]));

    // Every import is audited per entry.
    let r = api.get("/audit?action=model.import&limit=1000", ADMIN).send().await.expect("send");
    let audit: Vec<Value> = r.json().await.expect("json");
    assert_eq!(audit.len(), 3 + 3 + 2 + 1 + 1);
    assert!(audit.iter().all(|e| e["before"].is_null() && e["after"]["id"].is_string()));
    assert!(audit
        .iter()
        .any(|e| e["reason"] == "import from provider an" && e["target"] == "models.an/claude-3-opus-20240229"));
}

#[tokio::test]
async fn imports_are_idempotent_keep_operator_edits_and_honour_dry_run_and_on_error() {
    let fakes = Fakes::start().await;
    let gw = TestGateway::start_with_control(&fakes.yaml()).await;
    let api = Api::new(&gw);

    // dry_run: the plan, nothing stored, nothing audited.
    let (_, plan) = import(&api, json!({"provider": "an", "dry_run": true})).await;
    assert_eq!((plan["dry_run"].as_bool(), plan["created"].as_u64()), (Some(true), Some(3)));
    assert!(plan["items"].as_array().expect("items").iter().all(|i| i["version"].is_null()));
    assert_eq!(entry(&api, "an/claude-3-opus-20240229").await, None);

    let (_, first) = import(&api, json!({"provider": "an"})).await;
    assert_eq!(first["created"], 3);
    assert!(first["items"].as_array().expect("items").iter().all(|i| i["version"] == 1));

    // An operator prices a model; a discovery that states no price keeps it.
    let mut sonnet = entry(&api, "an/claude-3-5-sonnet-20241022").await.expect("stored");
    sonnet["pricing"] = json!({"input_per_mtok": "3", "output_per_mtok": "15", "currency": "USD"});
    let r = api
        .http
        .put(format!("{}/models/an/claude-3-5-sonnet-20241022", api.base))
        .bearer_auth(ADMIN)
        .header("if-match", "\"1\"")
        .json(&sonnet)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);

    // The same import again: nothing changes, nothing is written or audited.
    let audit_count = |api: &Api| {
        let r = api.get("/audit?limit=1000", ADMIN).send();
        async move { r.await.expect("send").json::<Vec<Value>>().await.expect("json").len() }
    };
    let before = audit_count(&api).await;
    let (_, again) = import(&api, json!({"provider": "an"})).await;
    assert_eq!(
        (again["unchanged"].as_u64(), again["created"].as_u64(), again["updated"].as_u64()),
        (Some(3), Some(0), Some(0))
    );
    let versions: Vec<u64> =
        again["items"].as_array().expect("items").iter().map(|i| i["version"].as_u64().expect("v")).collect();
    assert_eq!(versions, [2, 1, 1]);
    assert_eq!(audit_count(&api).await, before);
    let kept = entry(&api, "an/claude-3-5-sonnet-20241022").await.expect("stored");
    assert_eq!(kept["pricing"]["output_per_mtok"], "15");
    assert_eq!(kept["provenance"]["pricing.output_per_mtok"]["source"], "operator");

    // A changed fact at the provider is an update: discover says `changed`, import updates.
    let mut edited = kept.clone();
    edited["display_name"] = json!("Sonnet, renamed by hand");
    let r = api
        .http
        .put(format!("{}/models/an/claude-3-5-sonnet-20241022", api.base))
        .bearer_auth(ADMIN)
        .header("if-match", "\"2\"")
        .json(&edited)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let r = api.http.post(format!("{}/providers/an/discover", api.base)).bearer_auth(ADMIN).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let found: Value = r.json().await.expect("json");
    let seen: Vec<(&str, &str)> = found["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|m| (m["id"].as_str().expect("id"), m["status"].as_str().expect("status")))
        .collect();
    assert_eq!(
        seen,
        [
            ("an/claude-3-5-sonnet-20241022", "changed"),
            ("an/claude-3-5-haiku-20241022", "in_catalog"),
            ("an/claude-3-opus-20240229", "in_catalog")
        ]
    );
    assert_eq!(found["models"][0]["changes"][0]["path"], "display_name");
    let (_, update) = import(&api, json!({"provider": "an", "models": ["claude-3-5-sonnet-20241022"]})).await;
    assert_eq!(statuses(&update), pairs(&[("an/claude-3-5-sonnet-20241022", "updated")]));
    assert_eq!(update["items"][0]["changes"], json!(["display_name"]));
    assert_eq!(update["items"][0]["version"], 4);

    // on_error: a named model the provider does not serve fails; skip goes on, fail_fast stops.
    let (_, skip) = import(&api, json!({"provider": "tab", "models": ["missing", "iris"]})).await;
    assert_eq!(statuses(&skip), pairs(&[("tab/missing", "failed"), ("tab/iris", "created")]));
    assert_eq!(skip["problems"][0]["path"], "models[0]");
    assert!(skip["items"][0]["problems"][0]["message"].as_str().expect("message").contains("does not offer"));
    let (_, stop) =
        import(&api, json!({"provider": "tab", "models": ["missing", "setosa"], "on_error": "fail_fast"})).await;
    assert_eq!(statuses(&stop), pairs(&[("tab/missing", "failed"), ("tab/setosa", "skipped")]));
    assert_eq!((stop["failed"].as_u64(), stop["skipped"].as_u64()), (Some(1), Some(1)));
    assert_eq!(entry(&api, "tab/setosa").await, None);
}

#[tokio::test]
async fn import_refusals() {
    let fakes = Fakes::start().await;
    let gw = TestGateway::start_with_control(&fakes.yaml()).await;
    let api = Api::new(&gw);
    let (status, body) = import(&api, json!({"provider": "mock"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"].as_str().expect("m").contains("no endpoint that lists its models"), "{body}");
    let (status, _) = import(&api, json!({"provider": "nope"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = import(&api, json!({"provider": "oa", "surprise": 1})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let r = api
        .http
        .post(format!("{}/models/import", api.base))
        .bearer_auth(VIEWER)
        .json(&json!({"provider": "oa"}))
        .send()
        .await;
    assert_eq!(r.expect("send").status(), StatusCode::FORBIDDEN);
    // A provider that fails is a 502 naming it; nothing stored.
    fakes.openai.set_mode(switchyard_testkit::fake_server::Mode::Fail(500));
    let (status, body) = import(&api, json!({"provider": "oa"})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body["error"]["message"].as_str().expect("m").contains("provider `oa` answered 500"), "{body}");
    let r = api.get("/models", ADMIN).send().await.expect("send");
    let page: Value = r.json().await.expect("json");
    assert_eq!(page["models"], json!([]));
    let r =
        api.http.post(format!("{}/providers/mock/discover", api.base)).bearer_auth(ADMIN).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    error_json(r).await;
}
