//! Anthropic Messages ⇄ OpenAI chat completions, for whole bodies: requests, responses and
//! error bodies, one module per direction ([`to_anthropic`], [`to_openai`]) and the
//! vocabulary both share here (stop reasons, error types, content helpers).
//!
//! Mapped: the system prompt (`system` ⇄ system/developer messages), roles, text and
//! image parts, tools and tool choice, tool calls (`tool_use` ⇄ `tool_calls`) and tool
//! results (`tool_result` ⇄ `role: tool`), `max_tokens`, `stop_sequences` ⇄ `stop`,
//! temperature/top_p, the user id, stop reasons and usage. Anything else (thinking
//! blocks, logprobs, n > 1) is dropped. Conversions never panic on odd input: missing
//! fields become defaults, and only a body that is not the expected JSON object at all
//! is refused (`None`).

mod to_anthropic;
mod to_openai;

use serde_json::{json, Value};

pub(super) use crate::providers::openai_wire::text_of;

pub use to_anthropic::{error_from_openai, request_from_openai, response_from_openai, DEFAULT_MAX_TOKENS};
pub use to_openai::{error_to_openai, request_to_openai, response_to_openai};

/// The Anthropic error `type` for an HTTP status.
pub fn anthropic_error_type(status: u16) -> &'static str {
    match status {
        400 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        504 => "timeout_error",
        _ => "api_error",
    }
}

/// Anthropic `stop_reason` → OpenAI `finish_reason`.
pub fn finish_from_stop(stop: Option<&str>) -> &'static str {
    match stop {
        Some("max_tokens") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        _ => "stop",
    }
}

/// OpenAI `finish_reason` → Anthropic `stop_reason`.
pub fn stop_from_finish(finish: Option<&str>) -> &'static str {
    match finish {
        Some("length") => "max_tokens",
        Some("tool_calls" | "function_call") => "tool_use",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    }
}

/// An Anthropic-looking message id for an OpenAI completion id.
pub fn message_id(id: &Value) -> String {
    match id.as_str() {
        Some(s) if s.starts_with("msg_") => s.to_owned(),
        Some(s) => format!("msg_{s}"),
        None => "msg_switchyard".to_owned(),
    }
}

pub(super) fn blocks_from_openai(content: &Value) -> Vec<Value> {
    match content {
        Value::String(s) if !s.is_empty() => vec![json!({"type": "text", "text": s})],
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| match p["type"].as_str() {
                Some("text") => {
                    p["text"].as_str().filter(|t| !t.is_empty()).map(|t| json!({"type": "text", "text": t}))
                }
                Some("image_url") => {
                    let url = p["image_url"]["url"].as_str().unwrap_or("");
                    let source = match url.strip_prefix("data:").and_then(|r| r.split_once(";base64,")) {
                        Some((media, data)) => json!({"type": "base64", "media_type": media, "data": data}),
                        None => json!({"type": "url", "url": url}),
                    };
                    Some(json!({"type": "image", "source": source}))
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Appends `blocks` as a `role` message, merging with the previous message of the same
/// role (Anthropic wants user and assistant turns to alternate).
pub(super) fn push_message(messages: &mut Vec<Value>, role: &str, blocks: Vec<Value>) {
    if blocks.is_empty() {
        return;
    }
    if let Some(last) = messages.last_mut().filter(|m| m["role"] == role) {
        if let Some(content) = last["content"].as_array_mut() {
            content.extend(blocks);
            return;
        }
    }
    messages.push(json!({"role": role, "content": blocks}));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openai_request_round_trips_through_anthropic() {
        let req = json!({
            "model": "g", "max_tokens": 100, "temperature": 0.5, "stop": "END", "user": "u1",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "weather in Paris?"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            ],
            "tools": [{"type": "function", "function": {"name": "get_weather", "description": "w",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
            "tool_choice": "required",
        });
        let a = request_from_openai(&req, "claude-x");
        assert_eq!(a["model"], "claude-x");
        assert_eq!(a["system"], "be brief");
        assert_eq!(a["max_tokens"], 100);
        assert_eq!(a["stop_sequences"], json!(["END"]));
        assert_eq!(a["metadata"]["user_id"], "u1");
        assert_eq!(a["tool_choice"], json!({"type": "any"}));
        assert_eq!(a["tools"][0]["input_schema"]["properties"]["city"]["type"], "string");
        let msgs = a["messages"].as_array().expect("messages");
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[1]["content"][0]["type"], "tool_use");
        assert_eq!(msgs[1]["content"][0]["input"]["city"], "Paris");
        assert_eq!(msgs[2]["content"][0]["type"], "tool_result");

        let back = request_to_openai(&a).expect("object");
        let msgs = back["messages"].as_array().expect("messages");
        assert_eq!(msgs[0], json!({"role": "system", "content": "be brief"}));
        assert_eq!(msgs[2]["tool_calls"][0]["function"]["name"], "get_weather");
        assert_eq!(msgs[3]["role"], "tool");
        assert_eq!(back["tool_choice"], "required");
    }

    #[test]
    fn responses_and_errors_convert_both_ways() {
        let a = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [{"type": "text", "text": "Hi"}], "stop_reason": "max_tokens",
            "usage": {"input_tokens": 7, "output_tokens": 3}});
        let o = response_to_openai(&a).expect("message");
        assert_eq!(o["choices"][0]["finish_reason"], "length");
        assert_eq!(o["usage"]["total_tokens"], 10);
        let back = response_from_openai(&o).expect("completion");
        assert_eq!(back["stop_reason"], "max_tokens");
        assert_eq!(back["content"][0]["text"], "Hi");
        assert_eq!(back["usage"]["input_tokens"], 7);

        let err = br#"{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}"#;
        let o: Value = serde_json::from_slice(&error_to_openai(err).expect("error")).expect("json");
        assert_eq!(o["error"]["message"], "slow");
        let a: Value = serde_json::from_slice(&error_from_openai(429, &o.to_string().into_bytes())).expect("json");
        assert_eq!(a["error"]["type"], "rate_limit_error");
    }

    /// A non-streamed answer whose token counts add up past `u64::MAX` saturates (it
    /// overflowed: a panic with overflow checks, a wrapped `total_tokens` without).
    #[test]
    fn huge_token_counts_saturate() {
        let resp = json!({"type": "message", "usage": {"input_tokens": u64::MAX, "output_tokens": 1}});
        let o = response_to_openai(&resp).expect("a message");
        assert_eq!(o["usage"]["total_tokens"], u64::MAX);
    }
}
