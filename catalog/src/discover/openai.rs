//! OpenAI-compatible `GET /v1/models`: `{"object": "list", "data": [{"id", "object",
//! "created", "owned_by"}]}`.
//!
//! OpenAI states only the id, so entries carry only identity; the kind stays unknown (the
//! list mixes chat, embedding, speech and image models). vLLM adds two facts per model,
//! taken verbatim when present: `max_model_len` (its context window: prompt and output
//! tokens together) → `limits.context_tokens`, and `parent` (the base model a LoRA
//! adapter is served on) → `training.base_model`.

use serde::Deserialize;
use serde_json::Value;

use super::{keep, limit, parse_body, parse_item, verbatim, Discovery};
use crate::entry::CatalogEntry;
use crate::problem::Problem;

#[derive(Deserialize)]
struct List {
    data: Vec<Value>,
}

#[derive(Deserialize)]
struct Model {
    id: String,
    /// vLLM: the context window.
    #[serde(default)]
    max_model_len: Option<u64>,
    /// vLLM: the base model of a LoRA adapter (null for a base model).
    #[serde(default)]
    parent: Option<String>,
}

/// Maps an OpenAI-compatible model list; `provider` is the Switchyard provider's name.
pub fn openai_models(provider: &str, body: &[u8]) -> Result<Discovery, Problem> {
    let list: List = parse_body(body, "an OpenAI model list ({\"data\": [...]})")?;
    let mut out = Discovery::default();
    for (i, item) in list.data.into_iter().enumerate() {
        let at = format!("data[{i}]");
        let model: Model = match parse_item(item, &at) {
            Ok(m) => m,
            Err(p) => {
                out.problems.push(p);
                continue;
            }
        };
        let mut entry = CatalogEntry::new(provider, &model.id);
        entry.limits.context_tokens = limit(model.max_model_len, &format!("{at}.max_model_len"), &mut out.problems);
        if entry.limits.context_tokens.is_some() {
            verbatim(&mut entry, "limits.context_tokens");
        }
        if let Some(parent) = model.parent.filter(|p| !p.is_empty() && *p != model.id) {
            entry.training.base_model = Some(parent);
            verbatim(&mut entry, "training.base_model");
        }
        keep(&mut out, &at, entry);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn openai_list_gives_identity_only_and_vllm_extras_verbatim() {
        let body = br#"{"object":"list","data":[
            {"id":"gpt-4o","object":"model","created":1715367049,"owned_by":"system"},
            {"id":"meta-llama/Llama-3.1-8B-Instruct","object":"model","created":1,"owned_by":"vllm",
             "root":"/models/llama","parent":null,"max_model_len":131072,"permission":[]},
            {"id":"sql-lora","object":"model","owned_by":"vllm","root":"/loras/sql",
             "parent":"meta-llama/Llama-3.1-8B-Instruct","max_model_len":131072},
            {"object":"model"},
            {"id":"bad\u202ename","object":"model"}
        ]}"#;
        let d = openai_models("vllm", body).unwrap();
        let ids: Vec<&str> = d.entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["vllm/gpt-4o", "vllm/meta-llama/Llama-3.1-8B-Instruct", "vllm/sql-lora"]);
        let gpt = &d.entries[0];
        assert_eq!(gpt.kind, None);
        assert_eq!(gpt.limits.context_tokens, None);
        assert!(gpt.provenance.is_empty());
        let llama = &d.entries[1];
        assert_eq!(llama.name, "meta-llama/Llama-3.1-8B-Instruct");
        assert_eq!(llama.limits.context_tokens, Some(131_072));
        assert_eq!(llama.training.base_model, None);
        assert_eq!(llama.provenance["limits.context_tokens"].confidence, 1.0);
        assert_eq!(d.entries[2].training.base_model.as_deref(), Some("meta-llama/Llama-3.1-8B-Instruct"));
        assert_eq!(d.problems.len(), 2, "{:?}", d.problems);
        assert!(d.problems[0].to_string().starts_with("data[3]: missing field `id`"), "{}", d.problems[0]);
        let second = d.problems[1].to_string();
        assert!(second.starts_with(r#"data[4]: model "vllm/bad\u{202e}name" left out: name:"#), "{second}");
        assert_eq!(d.next_page, None);
    }

    #[test]
    fn a_body_that_is_not_a_list_is_one_problem() {
        let err = openai_models("openai", br#"{"error":{"message":"bad key"}}"#).unwrap_err();
        assert!(err.message.contains("missing field `data`"), "{err}");
        assert!(openai_models("openai", b"<html>").is_err());
    }
}
