//! Anthropic → OpenAI: a Messages request for an OpenAI-chat member, and an Anthropic
//! member's message or error for an OpenAI client.

use serde_json::{json, Map, Value};

use super::{finish_from_stop, text_of};

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
        message_to_openai(m, &mut messages);
    }
    let mut out = Map::new();
    out.insert("messages".into(), Value::Array(messages));
    params_to_openai(req, &mut out);
    tools_to_openai(req, &mut out);
    if let Some(u) = req.get("metadata").and_then(|m| m["user_id"].as_str()) {
        out.insert("user".into(), json!(u));
    }
    Some(out)
}

/// One Anthropic message → OpenAI messages (tool results become `role: tool` messages).
fn message_to_openai(m: &Value, messages: &mut Vec<Value>) {
    let role = m["role"].as_str().unwrap_or("user");
    let blocks = match &m["content"] {
        Value::String(s) => {
            messages.push(json!({"role": role, "content": s}));
            return;
        }
        Value::Array(b) => b.as_slice(),
        _ => &[],
    };
    let mut parts = Vec::new();
    let mut tool_calls = Vec::new();
    for b in blocks {
        match b["type"].as_str().unwrap_or("") {
            "text" => parts.push(json!({"type": "text", "text": b["text"]})),
            "image" => parts.push(json!({"type": "image_url", "image_url": {"url": image_url(&b["source"])}})),
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

/// An Anthropic image source → an OpenAI image URL (a data URL for base64 images).
fn image_url(s: &Value) -> String {
    match s["type"].as_str() {
        Some("base64") => format!(
            "data:{};base64,{}",
            s["media_type"].as_str().unwrap_or("image/png"),
            s["data"].as_str().unwrap_or("")
        ),
        _ => s["url"].as_str().unwrap_or("").to_owned(),
    }
}

/// `max_tokens`, temperature, top_p, stop sequences, stream (with usage).
fn params_to_openai(req: &Map<String, Value>, out: &mut Map<String, Value>) {
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
}

/// Tools and the tool choice.
fn tools_to_openai(req: &Map<String, Value>, out: &mut Map<String, Value>) {
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
        "created": switchyard_core::unix_secs(),
        "model": resp["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": finish_from_stop(resp["stop_reason"].as_str())}],
        "usage": {
            "prompt_tokens": input.unwrap_or(0),
            "completion_tokens": output.unwrap_or(0),
            "total_tokens": input.unwrap_or(0).saturating_add(output.unwrap_or(0)),
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
