//! OpenAI → Anthropic: a chat request for an Anthropic member, and an OpenAI member's
//! completion or error for an Anthropic client.

use serde_json::{json, Map, Value};

use super::{anthropic_error_type, blocks_from_openai, message_id, push_message, stop_from_finish, text_of};

/// `max_tokens` sent to Anthropic when the OpenAI request sets none (it is required).
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// OpenAI chat request → Anthropic Messages request for `model`.
pub fn request_from_openai(req: &Value, model: &str) -> Value {
    let (system, messages) = messages_from_openai(req);
    let mut out = Map::new();
    out.insert("model".into(), json!(model));
    if !system.is_empty() {
        out.insert("system".into(), json!(system.join("\n\n")));
    }
    out.insert("messages".into(), Value::Array(messages));
    sampling_from_openai(req, &mut out);
    tools_from_openai(req, &mut out);
    if let Some(u) = req["user"].as_str() {
        out.insert("metadata".into(), json!({"user_id": u}));
    }
    Value::Object(out)
}

/// The system prompts and the alternating user/assistant messages.
fn messages_from_openai(req: &Value) -> (Vec<String>, Vec<Value>) {
    let mut system: Vec<String> = Vec::new();
    let mut messages: Vec<Value> = Vec::new();
    for m in req["messages"].as_array().map(Vec::as_slice).unwrap_or_default() {
        match m["role"].as_str().unwrap_or("user") {
            "system" | "developer" => system.push(text_of(&m["content"])),
            "assistant" => {
                let mut blocks = blocks_from_openai(&m["content"]);
                for tc in m["tool_calls"].as_array().map(Vec::as_slice).unwrap_or_default() {
                    blocks.push(tool_use_from_call(tc));
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
    (system, messages)
}

/// An OpenAI tool call → an Anthropic `tool_use` block.
fn tool_use_from_call(tc: &Value) -> Value {
    let args = tc["function"]["arguments"].as_str().unwrap_or("{}");
    let input: Value = serde_json::from_str(args).unwrap_or_else(|_| json!({}));
    json!({"type": "tool_use", "id": tc["id"], "name": tc["function"]["name"], "input": input})
}

/// `max_tokens` (required by Anthropic), temperature, top_p, stop sequences, stream.
fn sampling_from_openai(req: &Value, out: &mut Map<String, Value>) {
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
}

/// Function tools and the tool choice.
fn tools_from_openai(req: &Value, out: &mut Map<String, Value>) {
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
        content.push(tool_use_from_call(tc));
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

/// OpenAI error body (with the status it came with) → Anthropic error body.
pub fn error_from_openai(status: u16, body: &[u8]) -> Vec<u8> {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = v["error"]["message"].as_str().unwrap_or("upstream error");
    json!({"type": "error", "error": {"type": anthropic_error_type(status), "message": message}})
        .to_string()
        .into_bytes()
}
