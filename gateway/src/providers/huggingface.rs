//! `huggingface` adapter: Text Generation Inference's native `/generate` and
//! `/generate_stream` (also what a Hugging Face Inference Endpoint running TGI serves:
//! set `base_url` to the endpoint URL).
//!
//! Serves OpenAI completions (`prompt` → `inputs`) and chat requests (messages joined
//! into a plain `role: text` transcript ending in `assistant:` — for a model's own chat
//! template use TGI's OpenAI-compatible route with `kind: openai`). Token counts come
//! from `details`: `generated_tokens`, and the prefill length for non-streamed answers
//! (TGI does not report prefill tokens in streams). Authentication is Bearer.

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

/// Adapter for one `kind: huggingface` provider.
pub struct TgiAdapter {
    base: HttpBase,
}

/// TGI token stream → OpenAI chunks.
struct ToOpenAi {
    chat: bool,
    model: String,
    created: u64,
    done: bool,
}

// === impl TgiAdapter ===

impl TgiAdapter {
    /// Builds the adapter; fails on an invalid URL or header.
    pub fn new(client: UpstreamClient, spec: &ProviderSpec) -> Result<Self, String> {
        Ok(Self { base: HttpBase::new(client, spec, Auth::Bearer)? })
    }
}

impl Adapter for TgiAdapter {
    fn supports(&self, endpoint: Endpoint) -> bool {
        matches!(endpoint, Endpoint::ChatCompletions | Endpoint::Completions)
    }

    /// `GET {base_url}/info`: the one model the endpoint serves.
    fn discover(&self, _: Option<&str>, _: Option<(&str, &str)>, timeouts: Timeouts) -> Option<CallFuture> {
        Some(self.base.get(&format!("{}/info", self.base.base_url), None, timeouts))
    }

    fn translates(&self, endpoint: Endpoint) -> bool {
        self.supports(endpoint)
    }

    fn call(&self, call: UpstreamCall) -> CallFuture {
        let chat = match call.endpoint {
            Endpoint::ChatCompletions => true,
            Endpoint::Completions => false,
            _ => return Box::pin(async { Ok(super::anthropic::unsupported()) }),
        };
        let body = call.json_for_upstream().map(|v| request_from_openai(&v, chat, call.stream)).unwrap_or(Value::Null);
        let path = if call.stream { "generate_stream" } else { "generate" };
        let uri = format!("{}/{path}", self.base.base_url);
        let (stream, model) = (call.stream, call.model.clone());
        self.base.send(&uri, &call, Bytes::from(body.to_string()), move |resp| {
            let stream_model = model.clone();
            let translator = move || ToOpenAi { chat, model: stream_model, created: now_secs(), done: false };
            resp.translated(
                stream,
                translator,
                Box::new(move |status: StatusCode, bytes: Bytes| {
                    let v: Value = serde_json::from_slice(&bytes).ok()?;
                    let out = if status.is_success() {
                        response_to_openai(&v, chat, &model)?
                    } else {
                        json!({"error": {"message": v["error"], "type": v["error_type"], "code": null}})
                    };
                    Some(Bytes::from(out.to_string()))
                }),
            )
        })
    }
}

/// OpenAI (chat) completion request → TGI `generate` request.
fn request_from_openai(req: &Value, chat: bool, stream: bool) -> Value {
    let inputs = if chat {
        let mut t = String::new();
        for m in req["messages"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let content = text_of(&m["content"]);
            t.push_str(&format!("{}: {content}\n", m["role"].as_str().unwrap_or("user")));
        }
        t.push_str("assistant:");
        t
    } else {
        match &req["prompt"] {
            Value::String(s) => s.clone(),
            Value::Array(a) => a.first().and_then(Value::as_str).unwrap_or("").to_owned(),
            _ => String::new(),
        }
    };
    let mut p = Map::new();
    if let Some(n) = req["max_completion_tokens"].as_u64().or_else(|| req["max_tokens"].as_u64()) {
        p.insert("max_new_tokens".into(), json!(n));
    }
    if let Some(t) = req["temperature"].as_f64().filter(|t| *t > 0.0) {
        p.insert("temperature".into(), json!(t));
    }
    if let Some(x) = req["top_p"].as_f64().filter(|x| *x > 0.0 && *x < 1.0) {
        p.insert("top_p".into(), json!(x));
    }
    match &req["stop"] {
        Value::String(s) => {
            p.insert("stop".into(), json!([s]));
        }
        Value::Array(a) => {
            p.insert("stop".into(), Value::Array(a.clone()));
        }
        _ => {}
    }
    p.insert("details".into(), json!(true));
    if !stream {
        p.insert("decoder_input_details".into(), json!(true));
    }
    json!({"inputs": inputs, "parameters": p, "stream": stream})
}

fn finish(details: &Value) -> &'static str {
    match details["finish_reason"].as_str() {
        Some("length") => "length",
        _ => "stop",
    }
}

/// TGI `generate` response (an object, or a one-element array from the root route) →
/// OpenAI (chat) completion.
fn response_to_openai(v: &Value, chat: bool, model: &str) -> Option<Value> {
    let v = v.as_array().and_then(|a| a.first()).unwrap_or(v);
    let text = v.get("generated_text")?.as_str()?;
    let d = &v["details"];
    let prompt = d["prefill"].as_array().map(|p| p.len() as u64);
    let completion = d["generated_tokens"].as_u64();
    let choice = if chat {
        json!({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish(d)})
    } else {
        json!({"index": 0, "text": text, "finish_reason": finish(d)})
    };
    Some(json!({
        "id": "tgi", "object": if chat { "chat.completion" } else { "text_completion" },
        "created": now_secs(), "model": model, "choices": [choice],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                  "total_tokens": prompt.unwrap_or(0).saturating_add(completion.unwrap_or(0))},
    }))
}

// === impl ToOpenAi ===

impl ToOpenAi {
    fn chunk(&self, out: &mut Vec<u8>, text: &str, finish: Option<&str>, usage: Option<Value>) {
        let choice = if self.chat {
            json!({"index": 0, "delta": if text.is_empty() { json!({}) } else { json!({"content": text}) }, "finish_reason": finish})
        } else {
            json!({"index": 0, "text": text, "finish_reason": finish})
        };
        let object = if self.chat { "chat.completion.chunk" } else { "text_completion" };
        let head = ChunkHead { id: "tgi", object, created: self.created, model: &self.model };
        write_chunk(out, &head, choice, usage);
    }
}

impl SseTranslator for ToOpenAi {
    fn event(&mut self, ev: &SseEvent, out: &mut Vec<u8>) -> Result<(), UpstreamFailure> {
        let v = event_json(ev)?;
        let tok = &v["token"];
        if tok["special"].as_bool() != Some(true) {
            if let Some(t) = tok["text"].as_str().filter(|t| !t.is_empty()) {
                self.chunk(out, t, None, None);
            }
        }
        if let Some(d) = v.get("details").filter(|d| d.is_object()) {
            let n = d["generated_tokens"].as_u64();
            let usage = json!({"completion_tokens": n, "total_tokens": n});
            self.chunk(out, "", Some(finish(d)), Some(usage));
            out.extend_from_slice(b"data: [DONE]\n\n");
            self.done = true;
        }
        Ok(())
    }

    fn end(&mut self, _out: &mut Vec<u8>) -> Result<(), UpstreamFailure> {
        if self.done {
            Ok(())
        } else {
            Err(UpstreamFailure::Reset)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::sse::SseParser;

    #[test]
    fn recorded_answers_translate_with_token_counts() {
        let v: Value = serde_json::from_str(include_str!("../../fixtures/tgi_generate.json")).expect("json");
        let o = response_to_openai(&v, true, "m").expect("generated_text");
        assert_eq!(o["usage"]["prompt_tokens"], 6);
        assert_eq!(o["usage"]["completion_tokens"], 10);

        let mut events = Vec::new();
        let mut p = SseParser::default();
        p.feed(include_bytes!("../../fixtures/tgi_stream.sse"), &mut events);
        let mut t = ToOpenAi { chat: true, model: "m".into(), created: 0, done: false };
        let mut out = Vec::new();
        for e in &events {
            t.event(e, &mut out).expect("event");
        }
        t.end(&mut out).expect("end");
        let text = String::from_utf8(out).expect("utf8");
        assert!(text.contains(r#"" Deep""#) && !text.contains("</s>"), "{text}");
        assert!(text.contains(r#""completion_tokens":3"#), "{text}");
    }
}
