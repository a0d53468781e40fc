//! Hugging Face Text Generation Inference (and Text Embeddings Inference) `GET /info`.
//!
//! TGI answers `{"model_id", "model_pipeline_tag", "max_input_tokens" (older versions:
//! "max_input_length"), "max_total_tokens", …}`. Taken verbatim: `model_id` → name,
//! `max_total_tokens` (prompt and generated tokens of one request together) →
//! `limits.context_tokens`, `max_input_tokens`/`max_input_length` →
//! `limits.max_input_tokens`. TGI does not say whether the model has a chat template, so
//! the kind stays unknown. TEI answers the same shape with `model_type` `{"embedding": …}`
//! / `{"classifier": …}` / `{"reranker": …}`, which states the kind (embedding, classifier,
//! other).

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{keep, limit, parse_body, verbatim, Discovery};
use crate::entry::{CatalogEntry, Kind};
use crate::problem::Problem;

#[derive(Deserialize)]
struct Info {
    model_id: String,
    #[serde(default)]
    max_input_tokens: Option<u64>,
    #[serde(default)]
    max_input_length: Option<u64>,
    #[serde(default)]
    max_total_tokens: Option<u64>,
    /// TEI only.
    #[serde(default)]
    model_type: Option<Map<String, Value>>,
}

/// Maps a TGI/TEI `/info` answer (one model); `provider` is the Switchyard provider's name.
pub fn tgi_info(provider: &str, body: &[u8]) -> Result<Discovery, Problem> {
    let info: Info = parse_body(body, "a TGI /info answer ({\"model_id\": …})")?;
    let mut out = Discovery::default();
    let mut entry = CatalogEntry::new(provider, &info.model_id);
    let (input, input_key) = match info.max_input_tokens {
        Some(v) => (Some(v), "max_input_tokens"),
        None => (info.max_input_length, "max_input_length"),
    };
    entry.limits.max_input_tokens = limit(input, input_key, &mut out.problems);
    if entry.limits.max_input_tokens.is_some() {
        verbatim(&mut entry, "limits.max_input_tokens");
    }
    entry.limits.context_tokens = limit(info.max_total_tokens, "max_total_tokens", &mut out.problems);
    if entry.limits.context_tokens.is_some() {
        verbatim(&mut entry, "limits.context_tokens");
    }
    if let Some(types) = &info.model_type {
        entry.kind = match types.keys().next().map(String::as_str) {
            Some("embedding") => Some(Kind::Embedding),
            Some("classifier") => Some(Kind::Classifier),
            Some("reranker") => Some(Kind::Other),
            other => {
                out.problems.push(Problem::new("model_type", format!("{other:?} is not a TEI model type we know")));
                None
            }
        };
        if entry.kind.is_some() {
            verbatim(&mut entry, "kind");
        }
    }
    keep(&mut out, "", entry);
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tgi_info_maps_limits_and_leaves_the_kind_unknown() {
        let body =
            br#"{"model_id":"meta-llama/Llama-3.1-8B-Instruct","model_sha":"0e9e39f","model_dtype":"torch.float16",
            "model_device_type":"cuda","model_pipeline_tag":"text-generation","max_concurrent_requests":128,
            "max_best_of":2,"max_stop_sequences":4,"max_input_tokens":8191,"max_total_tokens":8192,
            "validation_workers":2,"max_client_batch_size":4,"router":"text-generation-router","version":"3.0.1"}"#;
        let d = tgi_info("tgi", body).unwrap();
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        let e = &d.entries[0];
        assert_eq!(e.id, "tgi/meta-llama/Llama-3.1-8B-Instruct");
        assert_eq!(e.limits.context_tokens, Some(8192));
        assert_eq!(e.limits.max_input_tokens, Some(8191));
        assert_eq!(e.limits.max_output_tokens, None);
        assert_eq!(e.kind, None);
        // Older TGI: max_input_length.
        let old =
            tgi_info("tgi", br#"{"model_id":"bigscience/bloom-560m","max_input_length":1024,"max_total_tokens":2048}"#)
                .unwrap();
        assert_eq!(old.entries[0].limits.max_input_tokens, Some(1024));
    }

    #[test]
    fn tei_info_states_the_kind() {
        let body = br#"{"model_id":"BAAI/bge-large-en-v1.5","model_dtype":"float16",
            "model_type":{"embedding":{"pooling":"cls"}},"max_concurrent_requests":512,"max_input_length":512,
            "max_batch_tokens":16384,"version":"1.5.0"}"#;
        let d = tei_or_panic(body);
        assert_eq!(d.kind, Some(Kind::Embedding));
        assert_eq!(d.limits.max_input_tokens, Some(512));
        let cls = tei_or_panic(br#"{"model_id":"x/y","model_type":{"classifier":{"id2label":{"0":"neg"}}}}"#);
        assert_eq!(cls.kind, Some(Kind::Classifier));
    }

    fn tei_or_panic(body: &[u8]) -> CatalogEntry {
        let d = tgi_info("tei", body).unwrap();
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        d.entries.into_iter().next().unwrap()
    }
}
