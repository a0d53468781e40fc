//! Gemini `GET /v1beta/models`: `{"models": [{"name": "models/…", "baseModelId", "version",
//! "displayName", "description", "inputTokenLimit", "outputTokenLimit",
//! "supportedGenerationMethods": [...]}], "nextPageToken"}`.
//!
//! Taken verbatim: the name (without the `models/` resource prefix), `displayName`,
//! `inputTokenLimit` → `limits.max_input_tokens`, `outputTokenLimit` →
//! `limits.max_output_tokens`. The context window is not stated and stays unknown. The kind
//! is what `supportedGenerationMethods` states: `generateContent` → chat, else an
//! `embedContent`-style method → embedding, else (methods listed, none of these) → other;
//! no methods → unknown. `streamGenerateContent` listed → streaming true (its absence
//! says nothing). `nextPageToken` → next page `pageToken=…`.

use serde::Deserialize;
use serde_json::Value;

use super::{keep, limit, parse_body, parse_item, verbatim, Discovery, NextPage};
use crate::entry::{CatalogEntry, Kind};
use crate::problem::Problem;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct List {
    #[serde(default)]
    models: Vec<Value>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Model {
    name: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    input_token_limit: Option<u64>,
    #[serde(default)]
    output_token_limit: Option<u64>,
    #[serde(default)]
    supported_generation_methods: Vec<String>,
}

const EMBED_METHODS: &[&str] = &["embedContent", "batchEmbedContents", "embedText", "batchEmbedText"];

/// Maps Gemini's model list; `provider` is the Switchyard provider's name.
pub fn gemini_models(provider: &str, body: &[u8]) -> Result<Discovery, Problem> {
    let list: List = parse_body(body, "a Gemini model list ({\"models\": [...]})")?;
    let mut out = Discovery::default();
    for (i, item) in list.models.into_iter().enumerate() {
        let at = format!("models[{i}]");
        match parse_item::<Model>(item, &at) {
            Ok(model) => {
                let entry = map(provider, model, &at, &mut out.problems);
                keep(&mut out, &at, entry);
            }
            Err(p) => out.problems.push(p),
        }
    }
    out.next_page = list.next_page_token.filter(|t| !t.is_empty()).map(|value| NextPage { param: "pageToken", value });
    Ok(out)
}

fn map(provider: &str, model: Model, at: &str, problems: &mut Vec<Problem>) -> CatalogEntry {
    let name = model.name.strip_prefix("models/").unwrap_or(&model.name);
    let mut entry = CatalogEntry::new(provider, name);
    if let Some(d) = model.display_name.filter(|d| !d.is_empty()) {
        entry.display_name = Some(d);
        verbatim(&mut entry, "display_name");
    }
    entry.limits.max_input_tokens = limit(model.input_token_limit, &format!("{at}.inputTokenLimit"), problems);
    if entry.limits.max_input_tokens.is_some() {
        verbatim(&mut entry, "limits.max_input_tokens");
    }
    entry.limits.max_output_tokens = limit(model.output_token_limit, &format!("{at}.outputTokenLimit"), problems);
    if entry.limits.max_output_tokens.is_some() {
        verbatim(&mut entry, "limits.max_output_tokens");
    }
    let methods = &model.supported_generation_methods;
    let has = |m: &str| methods.iter().any(|x| x == m);
    entry.kind = if methods.is_empty() {
        None
    } else if has("generateContent") {
        Some(Kind::Chat)
    } else if EMBED_METHODS.iter().any(|m| has(m)) {
        Some(Kind::Embedding)
    } else {
        Some(Kind::Other)
    };
    if entry.kind.is_some() {
        verbatim(&mut entry, "kind");
    }
    if has("streamGenerateContent") {
        entry.capabilities.streaming = Some(true);
        verbatim(&mut entry, "capabilities.streaming");
    }
    entry
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn gemini_list_maps_limits_and_kind_from_methods() {
        let body = br#"{"models":[
            {"name":"models/gemini-2.0-flash","version":"2.0","displayName":"Gemini 2.0 Flash",
             "description":"Fast","inputTokenLimit":1048576,"outputTokenLimit":8192,
             "supportedGenerationMethods":["generateContent","countTokens","createCachedContent"],
             "temperature":1,"topP":0.95,"topK":40,"maxTemperature":2,"thinking":false},
            {"name":"models/text-embedding-004","version":"004","displayName":"Text Embedding 004",
             "inputTokenLimit":2048,"outputTokenLimit":1,"supportedGenerationMethods":["embedContent"]},
            {"name":"models/imagen-3.0-generate-002","displayName":"Imagen 3","inputTokenLimit":480,
             "outputTokenLimit":8192,"supportedGenerationMethods":["predict"]},
            {"name":"models/aqa","inputTokenLimit":0}
        ],"nextPageToken":"Ch9tb2RlbHM"}"#;
        let d = gemini_models("gemini", body).unwrap();
        let flash = &d.entries[0];
        assert_eq!(flash.id, "gemini/gemini-2.0-flash");
        assert_eq!(flash.display_name.as_deref(), Some("Gemini 2.0 Flash"));
        assert_eq!(flash.kind, Some(Kind::Chat));
        assert_eq!(flash.limits.max_input_tokens, Some(1_048_576));
        assert_eq!(flash.limits.max_output_tokens, Some(8192));
        assert_eq!(flash.limits.context_tokens, None, "not stated, not guessed");
        assert_eq!(flash.capabilities.streaming, None, "absence of streamGenerateContent says nothing");
        assert_eq!(flash.provenance.len(), 4);
        assert!(flash.provenance.values().all(|p| p.confidence == 1.0));
        assert_eq!(d.entries[1].kind, Some(Kind::Embedding));
        assert_eq!(d.entries[2].kind, Some(Kind::Other));
        let aqa = &d.entries[3];
        assert_eq!((aqa.kind, aqa.limits.max_input_tokens), (None, None));
        assert_eq!(d.problems.len(), 1);
        assert_eq!(d.problems[0].path, "models[3].inputTokenLimit");
        assert_eq!(d.next_page.as_ref().map(|p| (p.param, p.value.as_str())), Some(("pageToken", "Ch9tb2RlbHM")));
    }
}
