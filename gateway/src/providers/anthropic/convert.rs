//! Anthropic Messages ⇄ OpenAI chat completions, for whole bodies: requests both ways,
//! responses both ways, and error bodies both ways.
//!
//! Mapped: the system prompt (`system` ⇄ system/developer messages), roles, text and
//! image parts, tools and tool choice, tool calls (`tool_use` ⇄ `tool_calls`) and tool
//! results (`tool_result` ⇄ `role: tool`), `max_tokens`, `stop_sequences` ⇄ `stop`,
//! temperature/top_p, the user id, stop reasons and usage. Anything else (thinking
//! blocks, logprobs, n > 1) is dropped. Conversions never panic on odd input: missing
//! fields become defaults, and only a body that is not the expected JSON object at all
//! is refused (`None`).

use serde_json::{json, Map, Value};

/// `max_tokens` sent to Anthropic when the OpenAI request sets none (it is required).
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// OpenAI chat request → Anthropic Messages request for `model`.
pub fn request_from_openai(req: &Value, model: &str) -> Value {
    let mut system: Vec<String> = Vec::new();
    let mut messages: Vec<Value> = Vec::new();
    for m in req["messages"].as_array().map(Vec::as_slice).unwrap_or_default() {
        match m["role"].as_str().unwrap_or("user") {
            "system" | "developer" => system.push(text_of(&m["content"])),
            "assistant" => {
                let mut blocks = blocks_from_openai(&m["content"]);
                for tc in m["tool_calls"].as_array().map(Vec::as_slice).unwrap_or_default() {
                    let args = tc["function"]["arguments"].as_str().unwrap_or("{}");
                    let input: Value = serde_json::from_str(args).unwrap_or_else(|_| json!({}));
                    blocks.push(
                        json!({"type": "tool_use", "id": tc["id"], "name": tc["function"]["name"], "input": input}),
                    );
                }
                push_message(&mut messages, "assistant", blocks);
            }
            "tool" => {
                let block =
                    json!({"type": "tool_result", "tool_use_id": m["tool_call_id"], "content": text_of(&m["content"])});
                push_message(&mut messages, "user", vec![block]);
            }
            _ => push_message(&mut messages, "user", blocks_from_openai(&m["content"])),
        }
    }
    let mut out = Map::new();
    out.insert("model".into(), json!(model));
    if !system.is_empty() {
        out.insert("system".into(), json!(system.join("\n\n")));
    }
    out.insert("messages".into(), Value::Array(messages));
    let max =
        req["max_completion_tokens"].as_u64().or_else(|| req["max_tokens"].as_u64()).unwrap_or(DEFAULT_MAX_TOKENS);
    out.insert("max_tokens".into(), json!(max));
    if let Some(t) = req["temperature"].as_f64() {
        out.insert("temperature".into(), json!(t.clamp(0.0, 1.0)));
    }
    if let Some(p) = req["top_p"].as_f64() {
        out.insert("top_p".into(), json!(p));
    }
    match &req["stop"] {
        Value::String(s) => {
            out.insert("stop_sequences".into(), json!([s]));
        }
        Value::Array(a) if !a.is_empty() => {
            out.insert("stop_sequences".into(), Value::Array(a.clone()));
        }
        _ => {}
    }
    if req["stream"].as_bool() == Some(true) {
        out.insert("stream".into(), json!(true));
    }
    if let Some(tools) = req["tools"].as_array() {
        let tools: Vec<Value> = tools
            .iter()
            .filter(|t| t["type"].as_str().unwrap_or("function") == "function")
            .map(|t| {
                let f = &t["function"];
                let schema =
                    if f["parameters"].is_object() { f["parameters"].clone() } else { json!({"type": "object"}) };
                let mut tool = json!({"name": f["name"], "input_schema": schema});
                if let Some(d) = f["description"].as_str() {
                    tool["description"] = json!(d);
                }
                tool
            })
            .collect();
        out.insert("tools".into(), Value::Array(tools));
    }
    let choice = match &req["tool_choice"] {
        Value::String(s) if s == "auto" => Some(json!({"type": "auto"})),
        Value::String(s) if s == "required" => Some(json!({"type": "any"})),
        Value::String(s) if s == "none" => Some(json!({"type": "none"})),
        Value::Object(o) => o.get("function").map(|f| json!({"type": "tool", "name": f["name"]})),
        _ => None,
    };
    if let Some(c) = choice {
        out.insert("tool_choice".into(), c);
    }
    if let Some(u) = req["user"].as_str() {
        out.insert("metadata".into(), json!({"user_id": u}));
    }
    Value::Object(out)
}

/// Anthropic Messages request → OpenAI chat request (without `model`: the caller sets it).
pub fn request_to_openai(req: &Value) -> Option<Map<String, Value>> {
    let req = req.as_object()?;
    let mut messages = Vec::new();
    let system = match req.get("system") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks.iter().filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join("\n\n"),
        _ => String::new(),
    };
    if !system.is_empty() {
        messages.push(json!({"role": "system", "content": system}));
    }
    for m in req.get("messages")?.as_array()? {
        let role = m["role"].as_str().unwrap_or("user");
        let blocks = match &m["content"] {
            Value::String(s) => {
                messages.push(json!({"role": role, "content": s}));
                continue;
            }
            Value::Array(b) => b.as_slice(),
            _ => &[],
        };
        let mut parts = Vec::new();
        let mut tool_calls = Vec::new();
        for b in blocks {
            match b["type"].as_str().unwrap_or("") {
                "text" => parts.push(json!({"type": "text", "text": b["text"]})),
                "image" => {
                    let s = &b["source"];
                    let url = match s["type"].as_str() {
                        Some("base64") => format!(
                            "data:{};base64,{}",
                            s["media_type"].as_str().unwrap_or("image/png"),
                            s["data"].as_str().unwrap_or("")
                        ),
                        _ => s["url"].as_str().unwrap_or("").to_owned(),
                    };
                    parts.push(json!({"type": "image_url", "image_url": {"url": url}}));
                }
                "tool_use" => tool_calls.push(json!({
                    "id": b["id"], "type": "function",
                    "function": {"name": b["name"], "arguments": b["input"].to_string()},
                })),
                "tool_result" => messages.push(json!({
                    "role": "tool", "tool_call_id": b["tool_use_id"], "content": text_of(&b["content"]),
                })),
                _ => {}
            }
        }
        let only_text = parts.iter().all(|p| p["type"] == "text");
        let content = if only_text {
            let text: Vec<&str> = parts.iter().filter_map(|p| p["text"].as_str()).collect();
            (!text.is_empty()).then(|| json!(text.join("")))
        } else {
            Some(Value::Array(parts))
        };
        if role == "assistant" {
            let mut msg = json!({"role": "assistant", "content": content.unwrap_or(Value::Null)});
            if !tool_calls.is_empty() {
                msg["tool_calls"] = Value::Array(tool_calls);
            }
            messages.push(msg);
        } else if let Some(content) = content {
            messages.push(json!({"role": role, "content": content}));
        }
    }
    let mut out = Map::new();
    out.insert("messages".into(), Value::Array(messages));
    if let Some(n) = req.get("max_tokens").and_then(Value::as_u64) {
        out.insert("max_tokens".into(), json!(n));
    }
    for key in ["temperature", "top_p"] {
        if let Some(v) = req.get(key).filter(|v| v.is_number()) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(stop) = req.get("stop_sequences").filter(|v| v.is_array()) {
        out.insert("stop".into(), stop.clone());
    }
    if req.get("stream").and_then(Value::as_bool) == Some(true) {
        out.insert("stream".into(), json!(true));
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if let Some(tools) = req.get("tools").and_then(Value::as_array) {
        let tools: Vec<Value> = tools
            .iter()
            .map(|t| {
                let mut f = json!({"name": t["name"], "parameters": t["input_schema"]});
                if let Some(d) = t["description"].as_str() {
                    f["description"] = json!(d);
                }
                json!({"type": "function", "function": f})
            })
            .collect();
        out.insert("tools".into(), Value::Array(tools));
    }
    if let Some(c) = req.get("tool_choice") {
        let choice = match c["type"].as_str() {
            Some("auto") => Some(json!("auto")),
            Some("any") => Some(json!("required")),
            Some("none") => Some(json!("none")),
            Some("tool") => Some(json!({"type": "function", "function": {"name": c["name"]}})),
            _ => None,
        };
        if let Some(choice) = choice {
            out.insert("tool_choice".into(), choice);
        }
    }
    if let Some(u) = req.get("metadata").and_then(|m| m["user_id"].as_str()) {
        out.insert("user".into(), json!(u));
    }
    Some(out)
}

/// Anthropic message → OpenAI chat completion.
pub fn response_to_openai(resp: &Value) -> Option<Value> {
    if resp["type"] != "message" {
        return None;
    }
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for b in resp["content"].as_array().map(Vec::as_slice).unwrap_or_default() {
        match b["type"].as_str() {
            Some("text") => text.push_str(b["text"].as_str().unwrap_or("")),
            Some("tool_use") => tool_calls.push(json!({
                "id": b["id"], "type": "function",
                "function": {"name": b["name"], "arguments": b["input"].to_string()},
            })),
            _ => {}
        }
    }
    let mut message = json!({"role": "assistant", "content": if text.is_empty() && !tool_calls.is_empty() { Value::Null } else { json!(text) }});
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    let (input, output) = (resp["usage"]["input_tokens"].as_u64(), resp["usage"]["output_tokens"].as_u64());
    Some(json!({
        "id": resp["id"],
        "object": "chat.completion",
        "created": now_secs(),
        "model": resp["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": finish_from_stop(resp["stop_reason"].as_str())}],
        "usage": {
            "prompt_tokens": input.unwrap_or(0),
            "completion_tokens": output.unwrap_or(0),
            "total_tokens": input.unwrap_or(0) + output.unwrap_or(0),
        },
    }))
}

/// OpenAI chat completion → Anthropic message.
pub fn response_from_openai(resp: &Value) -> Option<Value> {
    let choice = resp["choices"].as_array()?.first()?;
    let msg = &choice["message"];
    let mut content = Vec::new();
    if let Some(t) = msg["content"].as_str().filter(|t| !t.is_empty()) {
        content.push(json!({"type": "text", "text": t}));
    }
    for tc in msg["tool_calls"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let args = tc["function"]["arguments"].as_str().unwrap_or("{}");
        let input: Value = serde_json::from_str(args).unwrap_or_else(|_| json!({}));
        content.push(json!({"type": "tool_use", "id": tc["id"], "name": tc["function"]["name"], "input": input}));
    }
    Some(json!({
        "id": message_id(&resp["id"]),
        "type": "message",
        "role": "assistant",
        "model": resp["model"],
        "content": content,
        "stop_reason": stop_from_finish(choice["finish_reason"].as_str()),
        "stop_sequence": null,
        "usage": {
            "input_tokens": resp["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
            "output_tokens": resp["usage"]["completion_tokens"].as_u64().unwrap_or(0),
        },
    }))
}

/// Anthropic error body → OpenAI error body (other bodies unchanged).
pub fn error_to_openai(body: &[u8]) -> Option<Vec<u8>> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let e = v.get("error").filter(|_| v["type"] == "error")?;
    let out = json!({"error": {"message": e["message"], "type": e["type"], "code": null}});
    Some(out.to_string().into_bytes())
}

/// OpenAI error body (with the status it came with) → Anthropic error body.
pub fn error_from_openai(status: u16, body: &[u8]) -> Vec<u8> {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = v["error"]["message"].as_str().unwrap_or("upstream error");
    json!({"type": "error", "error": {"type": anthropic_error_type(status), "message": message}})
        .to_string()
        .into_bytes()
}

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

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The text of an OpenAI or Anthropic content value (string or array of text parts).
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join(""),
        _ => String::new(),
    }
}

fn blocks_from_openai(content: &Value) -> Vec<Value> {
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
fn push_message(messages: &mut Vec<Value>, role: &str, blocks: Vec<Value>) {
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
}
