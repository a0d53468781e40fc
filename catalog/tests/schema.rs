//! The published JSON Schema and the serde types + `validate` agree: a corpus of entries is
//! held to both (with the `jsonschema` crate, a separate implementation of JSON Schema).
//! Entries every mapper produces are valid under both; shape errors are refused by both;
//! the cross-field rules the schema cannot state are refused by `validate` alone (and the
//! schema's description names them).

#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};
use switchyard_catalog::{discover, entry_from_value, entry_schema, litellm};

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&entry_schema()).expect("the published schema compiles")
}

fn ours_accepts(v: &Value) -> bool {
    entry_from_value(v.clone()).is_ok()
}

fn full() -> Value {
    json!({
        "id": "tabular/iris", "provider": "tabular", "name": "iris", "display_name": "Iris classifier",
        "kind": "classifier",
        "modalities": {"input": ["text", "image"], "output": ["text"]},
        "limits": {"context_tokens": 8192, "max_input_tokens": 8000, "max_output_tokens": 1024},
        "pricing": {"input_per_mtok": "0.10", "output_per_mtok": "0", "currency": "EUR"},
        "capabilities": {"streaming": false, "tools": null, "json_mode": null, "logprobs": null, "explanations": true},
        "io_schema": {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
                      "outputs": [{"name": "y", "datatype": "INT64", "shape": [-1]}]},
        "training": {"base_model": "iris-v1", "dataset": "iris.csv", "framework": "sklearn", "job": "job_1"},
        "metrics": {"accuracy": 0.97},
        "labels": {"team": "ml"},
        "provenance": {"limits.context_tokens": {"source": "operator", "confidence": 1.0}},
        "created_at": "2025-01-02T03:04:05Z", "updated_at": "2025-01-03T00:00:00Z"
    })
}

fn with(path: &[&str], value: Value) -> Value {
    let mut v = full();
    let mut at = &mut v;
    for key in &path[..path.len() - 1] {
        at = &mut at[*key];
    }
    at[path[path.len() - 1]] = value;
    v
}

#[test]
fn entries_the_crate_produces_are_valid_under_the_schema() {
    let schema = validator();
    let mut corpus = vec![full(), json!({"id": "openai/gpt-4o", "provider": "openai", "name": "gpt-4o"})];
    let entries = [
        discover::openai_models("vllm", br#"{"data":[{"id":"m","max_model_len":4096,"parent":"base"}]}"#).unwrap(),
        discover::anthropic_models("anthropic", br#"{"data":[{"id":"claude-x","display_name":"Claude X"}]}"#)
            .unwrap(),
        discover::gemini_models(
            "gemini",
            br#"{"models":[{"name":"models/g","inputTokenLimit":10,"outputTokenLimit":5,
                "supportedGenerationMethods":["generateContent","streamGenerateContent"]}]}"#,
        )
        .unwrap(),
        discover::tgi_info("tgi", br#"{"model_id":"a/b","max_input_tokens":10,"max_total_tokens":20}"#).unwrap(),
        discover::oip_model(
            "tabular",
            "iris",
            br#"{"name":"iris","platform":"mlserver","inputs":[{"name":"x","datatype":"BYTES","shape":[1]}],"outputs":[]}"#,
        )
        .unwrap(),
    ];
    for d in entries {
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        corpus.extend(d.entries.iter().map(|e| serde_json::to_value(e).unwrap()));
    }
    let file = br#"{"gpt-4o": {"litellm_provider": "openai", "mode": "chat", "max_input_tokens": 128000,
        "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05, "supports_function_calling": true,
        "supported_modalities": ["text", "image"]}}"#;
    corpus.extend(litellm::import_litellm(file).unwrap().entries.iter().map(|e| serde_json::to_value(e).unwrap()));
    assert_eq!(corpus.len(), 8);
    for v in &corpus {
        let errors: Vec<String> = schema.iter_errors(v).map(|e| format!("{}: {e}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{v}\n{errors:#?}");
        assert!(ours_accepts(v), "{v}");
    }
}

#[test]
fn shape_errors_are_refused_by_both() {
    let schema = validator();
    let cases = [
        with(&["surprise"], json!(1)),
        with(&["limits", "surprise"], json!(1)),
        with(&["kind"], json!("llm")),
        with(&["kind"], json!(["chat"])),
        with(&["modalities", "input"], json!(["smell"])),
        with(&["limits", "context_tokens"], json!(0)),
        with(&["limits", "context_tokens"], json!(-5)),
        with(&["limits", "context_tokens"], json!(1.5)),
        with(&["limits", "context_tokens"], json!("8192")),
        with(&["pricing", "input_per_mtok"], json!(2.5)),
        with(&["pricing", "input_per_mtok"], json!("-1")),
        with(&["pricing", "input_per_mtok"], json!("1e-6")),
        with(&["pricing", "currency"], json!("usd")),
        with(&["pricing", "currency"], json!("USDT")),
        with(&["pricing"], json!({"input_per_mtok": "1"})),
        with(&["capabilities", "tools"], json!("yes")),
        with(&["io_schema", "inputs"], json!([{"name": "x", "datatype": "FLOAT", "shape": [1]}])),
        with(&["io_schema", "inputs"], json!([{"name": "x", "datatype": "FP32", "shape": [-2]}])),
        with(&["io_schema", "inputs"], json!([{"name": "x", "datatype": "FP32"}])),
        with(&["io_schema", "inputs"], json!([{"name": "", "datatype": "FP32", "shape": []}])),
        with(&["metrics", "accuracy"], json!("high")),
        with(&["labels", "team"], json!(3)),
        with(&["provenance", "limits.context_tokens"], json!({"source": "llm", "confidence": 1.5})),
        with(&["provenance", "limits.context_tokens"], json!({"source": "guess", "confidence": 0.5})),
        with(&["provider"], json!("open/ai")),
        with(&["provider"], json!("")),
        with(&["name"], json!("")),
        with(&["display_name"], json!("")),
        json!({"provider": "p", "name": "m"}),
    ];
    for v in &cases {
        assert!(!schema.is_valid(v), "the schema accepts {v}");
        assert!(!ours_accepts(v), "parse_entry accepts {v}");
    }
}

#[test]
fn cross_field_rules_are_validates_alone() {
    let schema = validator();
    let cases = [
        with(&["id"], json!("tabular/other")),
        with(&["limits", "max_input_tokens"], json!(9000)),
        with(&["provenance"], json!({"limits.nope": {"source": "llm", "confidence": 0.5}})),
        with(&["name"], json!("ir\u{202e}is")),
        with(&["name"], json!("a//b")),
        with(
            &["io_schema", "outputs"],
            json!([{"name": "y", "datatype": "FP32", "shape": []},
                                               {"name": "y", "datatype": "FP32", "shape": []}]),
        ),
        with(&["updated_at"], json!("2024-01-01T00:00:00Z")),
        with(&["pricing"], json!({"currency": "USD"})),
    ];
    for v in &cases {
        assert!(schema.is_valid(v), "the schema now refuses {v}: move it to shape_errors_are_refused_by_both");
        assert!(!ours_accepts(v), "validate accepts {v}");
    }
    let description = entry_schema()["description"].as_str().unwrap().to_owned();
    for rule in ["<provider>/<name>", "limits.context_tokens", "bidirectional", "provenance"] {
        assert!(description.contains(rule), "the schema's description omits {rule}");
    }
}
