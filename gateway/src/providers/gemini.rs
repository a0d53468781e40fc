//! `gemini` adapter: Google's `generateContent` / `streamGenerateContent?alt=sse`.
//!
//! Serves OpenAI chat requests by translation: system messages → `systemInstruction`,
//! user/assistant → `contents` with roles `user`/`model`, tools → `functionDeclarations`,
//! tool calls and results → `functionCall`/`functionResponse` parts, sampling settings →
//! `generationConfig`. Answers come back as OpenAI completions or chunks with usage from
//! `usageMetadata`. The key goes in `x-goog-api-key`; `base_url` is the API root, e.g.
//! `https://generativelanguage.googleapis.com/v1beta`.

use std::collections::HashMap;

use bytes::Bytes;
use http::StatusCode;
use serde_json::{json, Map, Value};
use switchyard_config::{ProviderSpec, Timeouts};
use switchyard_core::unix_secs as now_secs;

use super::base::{Auth, HttpBase};
use super::openai_wire::{event_json, text_of, write_chunk, ChunkHead};
use super::sse::{SseEvent, SseTranslator};
use super::{Adapter, CallFuture, Endpoint, UpstreamCall, UpstreamFailure};
use crate::upstream::UpstreamClient;

/// Adapter for one `kind: gemini` provider.
pub struct GeminiAdapter {
    base: HttpBase,
}

/// Gemini stream → OpenAI chunks.
#[derive(Default)]
struct ToOpenAi {
    model: String,
    created: u64,
    started: bool,
    tools: usize,
    finish: Option<&'static str>,
    usage: Option<(u64, u64)>,
}

// === impl GeminiAdapter ===

impl GeminiAdapter {
    /// Builds the adapter; fails on an invalid URL or header.
    pub fn new(client: UpstreamClient, spec: &ProviderSpec) -> Result<Self, String> {
        Ok(Self { base: HttpBase::new(client, spec, Auth::Header("x-goog-api-key"))? })
    }
}

impl Adapter for GeminiAdapter {
    fn supports(&self, endpoint: Endpoint) -> bool {
        endpoint == Endpoint::ChatCompletions
    }

    /// `GET {base_url}/models` (paged with `pageToken`).
    fn discover(&self, _: Option<&str>, page: Option<(&str, &str)>, timeouts: Timeouts) -> Option<CallFuture> {
        Some(self.base.get(&format!("{}/models", self.base.base_url), page, timeouts))
    }

    fn translates(&self, endpoint: Endpoint) -> bool {
        self.supports(endpoint)
    }

    fn call(&self, call: UpstreamCall) -> CallFuture {
        if call.endpoint != Endpoint::ChatCompletions {
            return Box::pin(async { Ok(super::anthropic::unsupported()) });
        }
        let body = call.json_for_upstream().map(|v| request_from_openai(&v)).unwrap_or(Value::Null);
        let op = if call.stream { "streamGenerateContent?alt=sse" } else { "generateContent" };
        let uri = format!("{}/models/{}:{op}", self.base.base_url, call.model);
        let (stream, model) = (call.stream, call.model.clone());
        self.base.send(&uri, &call, Bytes::from(body.to_string()), move |resp| {
            let stream_model = model.clone();
            let translator = move || ToOpenAi { model: stream_model, created: now_secs(), ..ToOpenAi::default() };
            resp.translated(
                stream,
                translator,
                Box::new(move |status: StatusCode, bytes: Bytes| {
                    let v: Value = serde_json::from_slice(&bytes).ok()?;
                    let out = if status.is_success() {
                        response_to_openai(&v, &model)?
                    } else {
                        let e = &v["error"];
                        json!({"error": {"message": e["message"], "type": e["status"], "code": null}})
                    };
                    Some(Bytes::from(out.to_string()))
                }),
            )
        })
    }
}

/// OpenAI chat request → `generateContent` request.
fn request_from_openai(req: &Value) -> Value {
    let mut system = Vec::new();
    let mut contents: Vec<Value> = Vec::new();
    let mut call_names: HashMap<String, String> = HashMap::new();
    for m in req["messages"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let text = text_of(&m["content"]);
        let (role, mut parts) = match m["role"].as_str().unwrap_or("user") {
            "system" | "developer" => {
                system.push(json!({"text": text}));
                continue;
            }
            "assistant" => ("model", Vec::new()),
            "tool" => {
                let id = m["tool_call_id"].as_str().unwrap_or("");
                let name = call_names.get(id).cloned().unwrap_or_default();
                let response: Value = serde_json::from_str(&text).unwrap_or_else(|_| json!({"content": text}));
                let part = json!({"functionResponse": {"name": name, "response": response}});
                contents.push(json!({"role": "user", "parts": [part]}));
                continue;
            }
            _ => ("user", Vec::new()),
        };
        if !text.is_empty() {
            parts.push(json!({"text": text}));
        }
        for tc in m["tool_calls"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let name = tc["function"]["name"].as_str().unwrap_or("").to_owned();
            if let Some(id) = tc["id"].as_str() {
                call_names.insert(id.to_owned(), name.clone());
            }
            let args: Value = serde_json::from_str(tc["function"]["arguments"].as_str().unwrap_or("{}"))
                .unwrap_or_else(|_| json!({}));
            parts.push(json!({"functionCall": {"name": name, "args": args}}));
        }
        contents.push(json!({"role": role, "parts": parts}));
    }
    let mut out = Map::new();
    out.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        out.insert("systemInstruction".into(), json!({"parts": system}));
    }
    let mut config = Map::new();
    if let Some(n) = req["max_completion_tokens"].as_u64().or_else(|| req["max_tokens"].as_u64()) {
        config.insert("maxOutputTokens".into(), json!(n));
    }
    for (from, to) in [("temperature", "temperature"), ("top_p", "topP")] {
        if let Some(x) = req[from].as_f64() {
            config.insert(to.into(), json!(x));
        }
    }
    match &req["stop"] {
        Value::String(s) => {
            config.insert("stopSequences".into(), json!([s]));
        }
        Value::Array(a) => {
            config.insert("stopSequences".into(), Value::Array(a.clone()));
        }
        _ => {}
    }
    if !config.is_empty() {
        out.insert("generationConfig".into(), Value::Object(config));
    }
    if let Some(tools) = req["tools"].as_array() {
        let decls: Vec<Value> = tools
            .iter()
            .map(|t| {
                let f = &t["function"];
                json!({"name": f["name"], "description": f["description"].as_str().unwrap_or(""), "parameters": f["parameters"]})
            })
            .collect();
        out.insert("tools".into(), json!([{"functionDeclarations": decls}]));
    }
    Value::Object(out)
}

fn finish_reason(r: &str) -> &'static str {
    match r {
        "MAX_TOKENS" => "length",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => "content_filter",
        _ => "stop",
    }
}

fn usage_of(v: &Value) -> Option<(u64, u64)> {
    let u = v.get("usageMetadata")?;
    let output =
        u["candidatesTokenCount"].as_u64().unwrap_or(0).saturating_add(u["thoughtsTokenCount"].as_u64().unwrap_or(0));
    Some((u["promptTokenCount"].as_u64().unwrap_or(0), output))
}

/// Text and function calls of the first candidate.
fn parts_of(v: &Value) -> (String, Vec<(String, String)>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    for p in v["candidates"][0]["content"]["parts"].as_array().map(Vec::as_slice).unwrap_or_default() {
        if p["thought"].as_bool() == Some(true) {
            continue;
        }
        if let Some(t) = p["text"].as_str() {
            text.push_str(t);
        }
        if let Some(fc) = p.get("functionCall") {
            calls.push((fc["name"].as_str().unwrap_or("").to_owned(), fc["args"].to_string()));
        }
    }
    (text, calls)
}

/// `generateContent` response → OpenAI chat completion.
fn response_to_openai(v: &Value, model: &str) -> Option<Value> {
    v.get("candidates")?;
    let (text, calls) = parts_of(v);
    let mut message = json!({"role": "assistant", "content": text});
    let mut finish = finish_reason(v["candidates"][0]["finishReason"].as_str().unwrap_or("STOP"));
    if !calls.is_empty() {
        let calls: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, (n, a))| json!({"id": format!("call_{i}"), "type": "function", "function": {"name": n, "arguments": a}}))
            .collect();
        message["tool_calls"] = Value::Array(calls);
        finish = "tool_calls";
    }
    let (i, o) = usage_of(v).unwrap_or_default();
    Some(json!({
        "id": v["responseId"].as_str().map_or_else(|| "gemini".to_owned(), |s| format!("chatcmpl-{s}")),
        "object": "chat.completion", "created": now_secs(), "model": v["modelVersion"].as_str().unwrap_or(model),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": i, "completion_tokens": o, "total_tokens": i.saturating_add(o)},
    }))
}

// === impl ToOpenAi ===

impl ToOpenAi {
    fn chunk(&self, out: &mut Vec<u8>, delta: Value, finish: Option<&str>, usage: Option<Value>) {
        let head = ChunkHead {
            id: "chatcmpl-gemini",
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
        };
        write_chunk(out, &head, json!({"index": 0, "delta": delta, "finish_reason": finish}), usage);
    }
}

impl SseTranslator for ToOpenAi {
    fn event(&mut self, ev: &SseEvent, out: &mut Vec<u8>) -> Result<(), UpstreamFailure> {
        let v = event_json(ev)?;
        let (text, calls) = parts_of(&v);
        if !self.started {
            self.started = true;
            self.chunk(out, json!({"role": "assistant", "content": ""}), None, None);
        }
        if !text.is_empty() {
            self.chunk(out, json!({"content": text}), None, None);
        }
        for (name, args) in calls {
            let i = self.tools;
            self.tools += 1;
            let call = json!({"index": i, "id": format!("call_{i}"), "type": "function",
                              "function": {"name": name, "arguments": args}});
            self.chunk(out, json!({"tool_calls": [call]}), None, None);
        }
        if let Some(r) = v["candidates"][0]["finishReason"].as_str() {
            self.finish = Some(if self.tools > 0 { "tool_calls" } else { finish_reason(r) });
        }
        if let Some(u) = usage_of(&v) {
            self.usage = Some(u);
        }
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<u8>) -> Result<(), UpstreamFailure> {
        let finish = self.finish.ok_or(UpstreamFailure::Reset)?;
        let (i, o) = self.usage.unwrap_or_default();
        let usage = json!({"prompt_tokens": i, "completion_tokens": o, "total_tokens": i.saturating_add(o)});
        self.chunk(out, json!({}), Some(finish), Some(usage));
        out.extend_from_slice(b"data: [DONE]\n\n");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::sse::SseParser;

    #[test]
    fn recorded_answers_translate() {
        let v: Value = serde_json::from_str(include_str!("../../fixtures/gemini_response.json")).expect("json");
        let o = response_to_openai(&v, "m").expect("candidates");
        assert_eq!(o["usage"]["prompt_tokens"], 8);
        assert_eq!(o["usage"]["completion_tokens"], 11);
        assert_eq!(o["choices"][0]["finish_reason"], "stop");

        let mut events = Vec::new();
        let mut p = SseParser::default();
        p.feed(include_bytes!("../../fixtures/gemini_stream.sse"), &mut events);
        p.finish(&mut events);
        let mut t = ToOpenAi::default();
        let mut out = Vec::new();
        for e in &events {
            t.event(e, &mut out).expect("event");
        }
        t.end(&mut out).expect("end");
        let text = String::from_utf8(out).expect("utf8");
        assert!(text.contains("Rayleigh"), "{text}");
        assert!(text.contains(r#""completion_tokens":11"#), "{text}");
        assert!(text.ends_with("data: [DONE]\n\n"));
    }

    #[test]
    fn request_maps_system_roles_and_config() {
        let r = request_from_openai(&json!({"model": "m", "max_tokens": 9, "stop": "x", "messages": [
            {"role": "system", "content": "s"}, {"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]}));
        assert_eq!(r["systemInstruction"]["parts"][0]["text"], "s");
        assert_eq!(r["contents"][1]["role"], "model");
        assert_eq!(r["generationConfig"]["maxOutputTokens"], 9);
        assert_eq!(r["generationConfig"]["stopSequences"], json!(["x"]));
    }

    /// Token counts that add up past `u64::MAX` saturate (the same overflow the
    /// anthropic_convert fuzz target found in the Anthropic converter).
    #[test]
    fn huge_token_counts_saturate() {
        let v = json!({"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": u64::MAX, "candidatesTokenCount": u64::MAX, "thoughtsTokenCount": 1}});
        let o = response_to_openai(&v, "m").expect("a response");
        assert_eq!(
            (o["usage"]["completion_tokens"].as_u64(), o["usage"]["total_tokens"].as_u64()),
            (Some(u64::MAX), Some(u64::MAX))
        );
    }
}
