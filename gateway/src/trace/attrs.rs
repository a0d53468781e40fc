//! Span attributes: the OpenTelemetry GenAI semantic conventions (`gen_ai.*`), HTTP
//! (`http.*`, `error.type`) and Switchyard's own (`switchyard.*`).
//!
//! Attributes are only ever built for sampled spans. `gen_ai.provider.name` is the current
//! convention; `gen_ai.system` carries the same value for backends that read the older
//! name.

use std::borrow::Cow;

use opentelemetry::{Key, KeyValue};
use serde::Deserialize;

use crate::providers::Endpoint;

/// `gen_ai.provider.name`.
pub const PROVIDER_NAME: Key = Key::from_static_str("gen_ai.provider.name");
/// `gen_ai.system` (the older name of the provider attribute).
pub const SYSTEM: Key = Key::from_static_str("gen_ai.system");
/// `gen_ai.operation.name`.
pub const OPERATION: Key = Key::from_static_str("gen_ai.operation.name");
/// `gen_ai.request.model`.
pub const REQUEST_MODEL: Key = Key::from_static_str("gen_ai.request.model");
/// `gen_ai.response.model`.
pub const RESPONSE_MODEL: Key = Key::from_static_str("gen_ai.response.model");
/// `gen_ai.usage.input_tokens`.
pub const INPUT_TOKENS: Key = Key::from_static_str("gen_ai.usage.input_tokens");
/// `gen_ai.usage.output_tokens`.
pub const OUTPUT_TOKENS: Key = Key::from_static_str("gen_ai.usage.output_tokens");
/// `http.response.status_code`.
pub const STATUS_CODE: Key = Key::from_static_str("http.response.status_code");
/// `http.request.method`.
pub const METHOD: Key = Key::from_static_str("http.request.method");
/// `http.route`.
pub const ROUTE: Key = Key::from_static_str("http.route");
/// `error.type`.
pub const ERROR_TYPE: Key = Key::from_static_str("error.type");
/// `switchyard.request_id`.
pub const REQUEST_ID: Key = Key::from_static_str("switchyard.request_id");
/// `switchyard.group`.
pub const GROUP: Key = Key::from_static_str("switchyard.group");
/// `switchyard.member`.
pub const MEMBER: Key = Key::from_static_str("switchyard.member");
/// `switchyard.role`.
pub const ROLE: Key = Key::from_static_str("switchyard.role");
/// `switchyard.assignment`.
pub const ASSIGNMENT: Key = Key::from_static_str("switchyard.assignment");
/// `switchyard.config_version`.
pub const CONFIG_VERSION: Key = Key::from_static_str("switchyard.config_version");
/// `switchyard.attempt` (0 for the first try, then 1, 2, … for retries).
pub const ATTEMPT: Key = Key::from_static_str("switchyard.attempt");

/// `gen_ai.provider.name` of a provider kind (`azure` when an `openai` provider has an
/// `api_version`). Kinds the convention does not name keep their config name.
pub fn provider_name(kind: &str, azure: bool) -> &'static str {
    match kind {
        "openai" if azure => "azure.ai.openai",
        "openai" => "openai",
        "anthropic" => "anthropic",
        "gemini" => "gcp.gemini",
        "huggingface" => "huggingface",
        "oip" => "oip",
        "http" => "http",
        "mock" => "mock",
        _ => "unknown",
    }
}

/// `gen_ai.operation.name` of an endpoint (as recorded: `chat.completions`, …).
pub fn operation(endpoint: &str) -> &'static str {
    match endpoint {
        "chat.completions" | "messages" => "chat",
        "completions" => "text_completion",
        "embeddings" => "embeddings",
        _ => "predict",
    }
}

/// [`operation`] of an [`Endpoint`].
pub fn operation_of(endpoint: Endpoint) -> &'static str {
    operation(endpoint.as_str())
}

/// The provider attributes (current and older name).
pub fn provider(name: &'static str) -> [KeyValue; 2] {
    [KeyValue::new(PROVIDER_NAME, name), KeyValue::new(SYSTEM, name)]
}

/// Token counts, those known.
pub fn usage(input: Option<u32>, output: Option<u32>) -> impl Iterator<Item = KeyValue> {
    let input = input.map(|n| KeyValue::new(INPUT_TOKENS, i64::from(n)));
    let output = output.map(|n| KeyValue::new(OUTPUT_TOKENS, i64::from(n)));
    input.into_iter().chain(output)
}

/// The top-level `model` of a complete JSON answer, when it names one.
pub fn response_model(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Answer<'a> {
        #[serde(default, borrow)]
        model: Option<Cow<'a, str>>,
    }
    let model = serde_json::from_slice::<Answer<'_>>(body).ok()?.model?;
    (!model.is_empty()).then(|| model.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_conventions() {
        assert_eq!(provider_name("openai", false), "openai");
        assert_eq!(provider_name("openai", true), "azure.ai.openai");
        assert_eq!(provider_name("gemini", false), "gcp.gemini");
        assert_eq!(operation("chat.completions"), "chat");
        assert_eq!(operation("messages"), "chat");
        assert_eq!(operation("embeddings"), "embeddings");
        assert_eq!(operation("completions"), "text_completion");
        assert_eq!(operation("oip.infer"), "predict");
    }

    #[test]
    fn the_response_model_is_read_from_the_top_level() {
        assert_eq!(
            response_model(br#"{"id":"x","choices":[{"message":{"model":"no"}}],"model":"gpt-4o-2024-08-06"}"#),
            Some("gpt-4o-2024-08-06".into())
        );
        assert_eq!(response_model(br#"{"id":"x"}"#), None);
        assert_eq!(response_model(br#"{"model":""}"#), None);
        assert_eq!(response_model(b"<html>"), None);
    }
}
