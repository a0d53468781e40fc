//! Anthropic Messages SSE ⇄ OpenAI chat-completion chunks, event by event.
//!
//! [`ToOpenAi`]: `message_start` → a role chunk; `content_block_start` (tool use) and
//! `content_block_delta` (`text_delta`, `input_json_delta`) → delta chunks;
//! `message_delta` → the stop reason and output tokens; `message_stop` → a final chunk
//! with `finish_reason` and `usage`, then `data: [DONE]`. An `error` event, or an end
//! without `message_stop`, fails the stream.
//!
//! [`FromOpenAi`]: the reverse, opening and closing content blocks as text and tool calls
//! arrive and ending with `message_delta` (stop reason, usage) and `message_stop` at
//! `[DONE]`. Usage is whatever the OpenAI upstream reports (the request asks for
//! `stream_options.include_usage`).
//!
//! Both ignore whatever the upstream sends after its end (`message_stop`, `[DONE]`): a
//! client sees exactly one end.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::convert::{finish_from_stop, message_id, stop_from_finish};
use crate::providers::sse::{write_data, write_event, SseEvent, SseTranslator};
use crate::providers::UpstreamFailure;
use switchyard_core::unix_secs as now_secs;

/// Anthropic events → OpenAI chunks.
#[derive(Default)]
pub struct ToOpenAi {
    id: String,
    model: String,
    created: u64,
    input: Option<u64>,
    output: Option<u64>,
    finish: Option<&'static str>,
    /// Anthropic content-block index → OpenAI tool-call index.
    tools: HashMap<u64, usize>,
    done: bool,
}

/// OpenAI chunks → Anthropic events.
#[derive(Default)]
pub struct FromOpenAi {
    started: bool,
    /// The open content block: `None` for text, `Some(i)` for OpenAI tool call `i`.
    open: Option<Option<u64>>,
    next_block: u64,
    stop: Option<&'static str>,
    input: u64,
    output: u64,
    done: bool,
}

// === impl ToOpenAi ===

impl ToOpenAi {
    fn chunk(&self, out: &mut Vec<u8>, delta: Value, finish: Option<&str>) {
        let c = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        write_data(out, &c);
    }
}

impl SseTranslator for ToOpenAi {
    fn event(&mut self, ev: &SseEvent, out: &mut Vec<u8>) -> Result<(), UpstreamFailure> {
        if self.done {
            // Nothing may follow `data: [DONE]`.
            return Ok(());
        }
        let Ok(data) = serde_json::from_str::<Value>(&ev.data) else {
            return if ev.event.as_deref() == Some("ping") { Ok(()) } else { Err(UpstreamFailure::Reset) };
        };
        match data["type"].as_str().or(ev.event.as_deref()).unwrap_or("") {
            "message_start" => {
                let m = &data["message"];
                self.id = m["id"].as_str().unwrap_or("msg").to_owned();
                self.model = m["model"].as_str().unwrap_or("").to_owned();
                self.created = now_secs();
                self.input = m["usage"]["input_tokens"].as_u64();
                self.output = m["usage"]["output_tokens"].as_u64();
                self.chunk(out, json!({"role": "assistant", "content": ""}), None);
            }
            "content_block_start" => {
                let b = &data["content_block"];
                match b["type"].as_str() {
                    Some("tool_use") => {
                        let i = self.tools.len();
                        self.tools.insert(data["index"].as_u64().unwrap_or(0), i);
                        let call = json!({"index": i, "id": b["id"], "type": "function",
                                          "function": {"name": b["name"], "arguments": ""}});
                        self.chunk(out, json!({"tool_calls": [call]}), None);
                    }
                    Some("text") => {
                        if let Some(t) = b["text"].as_str().filter(|t| !t.is_empty()) {
                            self.chunk(out, json!({"content": t}), None);
                        }
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let d = &data["delta"];
                match d["type"].as_str() {
                    Some("text_delta") => self.chunk(out, json!({"content": d["text"]}), None),
                    Some("input_json_delta") => {
                        let i = self.tools.get(&data["index"].as_u64().unwrap_or(0)).copied().unwrap_or(0);
                        let call = json!({"index": i, "function": {"arguments": d["partial_json"]}});
                        self.chunk(out, json!({"tool_calls": [call]}), None);
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(stop) = data["delta"]["stop_reason"].as_str() {
                    self.finish = Some(finish_from_stop(Some(stop)));
                }
                if let Some(n) = data["usage"]["output_tokens"].as_u64() {
                    self.output = Some(n);
                }
                if let Some(n) = data["usage"]["input_tokens"].as_u64() {
                    self.input = Some(n);
                }
            }
            "message_stop" => {
                let (i, o) = (self.input.unwrap_or(0), self.output.unwrap_or(0));
                let c = json!({
                    "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": self.finish.unwrap_or("stop")}],
                    "usage": {"prompt_tokens": i, "completion_tokens": o, "total_tokens": i.saturating_add(o)},
                });
                write_data(out, &c);
                out.extend_from_slice(b"data: [DONE]\n\n");
                self.done = true;
            }
            "error" => return Err(UpstreamFailure::Reset),
            _ => {}
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

// === impl FromOpenAi ===

impl FromOpenAi {
    fn start(&mut self, out: &mut Vec<u8>, chunk: &Value) {
        if self.started {
            return;
        }
        self.started = true;
        let message = json!({
            "id": message_id(&chunk["id"]), "type": "message", "role": "assistant", "content": [],
            "model": chunk["model"], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        });
        write_event(out, "message_start", &json!({"type": "message_start", "message": message}));
    }

    fn open(&mut self, out: &mut Vec<u8>, kind: Option<u64>, block: Value) {
        self.close(out);
        write_event(
            out,
            "content_block_start",
            &json!({"type": "content_block_start", "index": self.next_block, "content_block": block}),
        );
        self.open = Some(kind);
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if self.open.take().is_some() {
            write_event(out, "content_block_stop", &json!({"type": "content_block_stop", "index": self.next_block}));
            self.next_block += 1;
        }
    }

    fn delta(&self, out: &mut Vec<u8>, delta: Value) {
        write_event(
            out,
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": self.next_block, "delta": delta}),
        );
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        self.start(out, &Value::Null);
        self.close(out);
        let delta = json!({
            "type": "message_delta",
            "delta": {"stop_reason": self.stop.unwrap_or("end_turn"), "stop_sequence": null},
            "usage": {"input_tokens": self.input, "output_tokens": self.output},
        });
        write_event(out, "message_delta", &delta);
        write_event(out, "message_stop", &json!({"type": "message_stop"}));
        self.done = true;
    }
}

impl SseTranslator for FromOpenAi {
    fn event(&mut self, ev: &SseEvent, out: &mut Vec<u8>) -> Result<(), UpstreamFailure> {
        if self.done {
            // Nothing may follow `message_stop`.
            return Ok(());
        }
        if ev.data.trim() == "[DONE]" {
            self.finish(out);
            return Ok(());
        }
        let chunk: Value = serde_json::from_str(&ev.data).map_err(|_| UpstreamFailure::Reset)?;
        if chunk.get("error").is_some() {
            return Err(UpstreamFailure::Reset);
        }
        self.start(out, &chunk);
        if let Some(choice) = chunk["choices"].as_array().and_then(|c| c.first()) {
            let d = &choice["delta"];
            if let Some(text) = d["content"].as_str().filter(|t| !t.is_empty()) {
                if self.open != Some(None) {
                    self.open(out, None, json!({"type": "text", "text": ""}));
                }
                self.delta(out, json!({"type": "text_delta", "text": text}));
            }
            for tc in d["tool_calls"].as_array().map(Vec::as_slice).unwrap_or_default() {
                let i = tc["index"].as_u64().unwrap_or(0);
                if tc["id"].is_string() || self.open != Some(Some(i)) {
                    let id = tc["id"].as_str().map_or_else(|| format!("toolu_{i}"), str::to_owned);
                    let block = json!({"type": "tool_use", "id": id, "name": tc["function"]["name"], "input": {}});
                    self.open(out, Some(i), block);
                }
                if let Some(args) = tc["function"]["arguments"].as_str().filter(|a| !a.is_empty()) {
                    self.delta(out, json!({"type": "input_json_delta", "partial_json": args}));
                }
            }
            if let Some(f) = choice["finish_reason"].as_str() {
                self.stop = Some(stop_from_finish(Some(f)));
            }
        }
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            self.input = u["prompt_tokens"].as_u64().unwrap_or(self.input);
            self.output = u["completion_tokens"].as_u64().unwrap_or(self.output);
        }
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<u8>) -> Result<(), UpstreamFailure> {
        if !self.done && self.stop.is_none() {
            return Err(UpstreamFailure::Reset);
        }
        self.finish(out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::sse::SseParser;

    fn run<T: SseTranslator>(t: &mut T, text: &str) -> Result<String, UpstreamFailure> {
        let mut events = Vec::new();
        let mut p = SseParser::default();
        p.feed(text.as_bytes(), &mut events);
        p.finish(&mut events);
        let mut out = Vec::new();
        for e in &events {
            t.event(e, &mut out)?;
        }
        t.end(&mut out)?;
        Ok(String::from_utf8(out).expect("utf8"))
    }

    #[test]
    fn anthropic_stream_becomes_openai_chunks_and_back() {
        let anthropic = include_str!("../../../fixtures/anthropic_stream.sse");
        let openai = run(&mut ToOpenAi::default(), anthropic).expect("clean stream");
        assert!(openai.ends_with("data: [DONE]\n\n"), "{openai}");
        assert!(openai.contains(r#""finish_reason":"stop""#), "{openai}");
        assert!(openai.contains(r#""completion_tokens":15"#), "{openai}");
        let back = run(&mut FromOpenAi::default(), &openai).expect("clean stream");
        assert!(back.starts_with("event: message_start\n"), "{back}");
        assert!(back.contains(r#""stop_reason":"end_turn""#), "{back}");
        assert!(back.contains(r#""output_tokens":15"#), "{back}");
        assert!(back.trim_end().ends_with(r#"data: {"type":"message_stop"}"#), "{back}");
    }

    #[test]
    fn an_error_event_or_a_cut_fails_the_stream() {
        let err =
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"x\"}}\n\n";
        assert_eq!(run(&mut ToOpenAi::default(), err), Err(UpstreamFailure::Reset));
        let cut =
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{}}}\n\n";
        assert_eq!(run(&mut ToOpenAi::default(), cut), Err(UpstreamFailure::Reset));
    }

    /// Found by `fuzz/fuzz_targets/anthropic_convert.rs`: a repeated `message_stop` sent the
    /// OpenAI client a second final chunk and `[DONE]`; chunks after `[DONE]` opened content
    /// blocks after the Anthropic client's `message_stop`.
    #[test]
    fn nothing_follows_the_end_of_a_stream() {
        let stop = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        let openai = run(&mut ToOpenAi::default(), &format!("{stop}{stop}")).expect("ends cleanly");
        assert_eq!(openai.matches("[DONE]").count(), 1, "{openai}");
        assert!(openai.ends_with("data: [DONE]\n\n"), "{openai}");
        let chunk = "data: {\"choices\":[{\"delta\":{\"content\":\"late\"}}]}\n\n";
        let anthropic = run(&mut FromOpenAi::default(), &format!("data: [DONE]\n\n{chunk}")).expect("ends cleanly");
        assert_eq!(anthropic.matches("message_stop").count(), 2, "{anthropic}"); // the event name and its type
        assert!(!anthropic.contains("late"), "{anthropic}");
        assert!(anthropic.trim_end().ends_with(r#"data: {"type":"message_stop"}"#), "{anthropic}");
    }

    /// Token counts near `u64::MAX` from the upstream saturate instead of overflowing.
    #[test]
    fn huge_token_counts_saturate() {
        let text = "data: {\"type\":\"message_delta\",\"usage\":{\"input_tokens\":18446744073709551615,\
                    \"output_tokens\":1}}\n\ndata: {\"type\":\"message_stop\"}\n\n";
        let openai = run(&mut ToOpenAi::default(), text).expect("ends cleanly");
        assert!(openai.contains(r#""total_tokens":18446744073709551615"#), "{openai}");
    }
}
