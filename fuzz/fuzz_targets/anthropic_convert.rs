//! The Anthropic ⇄ OpenAI converters on any JSON, and the two SSE stream translators on
//! any event stream: nothing panics (no overflow either: the fuzz build checks it), every
//! body produced is a JSON object, every stream produced is SSE whose data is a JSON
//! object or `[DONE]`, and nothing follows a translator's terminal event.
//!
//! The input is used twice: as a JSON value for the converters and as the upstream's
//! SSE bytes for the translators.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchyard_gateway::providers::anthropic::convert::{
    error_from_openai, error_to_openai, request_from_openai, request_to_openai, response_from_openai,
    response_to_openai,
};
use switchyard_gateway::providers::anthropic::stream::{FromOpenAi, ToOpenAi};
use switchyard_gateway::providers::sse::{SseEvent, SseParser, SseTranslator};

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        converters(&v);
    }
    for status in [400, 429, 500] {
        object(&error_from_openai(status, data));
    }
    if let Some(out) = error_to_openai(data) {
        object(&out);
    }
    let mut events = Vec::new();
    let mut p = SseParser::default();
    p.feed(data, &mut events);
    p.finish(&mut events);
    translate(ToOpenAi::default(), &events, b"data: [DONE]\n\n");
    translate(FromOpenAi::default(), &events, b"event: message_stop\n");
});

fn converters(v: &Value) {
    if let Some(openai) = request_to_openai(v) {
        let openai = Value::Object(openai);
        // And back, as a mixed group would.
        assert!(request_from_openai(&openai, "m").is_object());
    }
    assert!(request_from_openai(v, "m").is_object());
    if let Some(r) = response_to_openai(v) {
        assert!(r.is_object());
        assert!(response_from_openai(&r).is_some_and(|a| a.is_object()));
    }
    if let Some(r) = response_from_openai(v) {
        assert!(r.is_object());
        assert!(response_to_openai(&r).is_some_and(|o| o.is_object()));
    }
}

/// Runs `events` through `t`; checks the output and that nothing follows `terminal`.
fn translate<T: SseTranslator>(mut t: T, events: &[SseEvent], terminal: &[u8]) {
    let mut out = Vec::new();
    let mut failed = false;
    for ev in events {
        if t.event(ev, &mut out).is_err() {
            failed = true;
            break;
        }
    }
    if !failed {
        let _ = t.end(&mut out);
    }
    if let Some(at) = out.windows(terminal.len()).position(|w| w == terminal) {
        let tail = &out[at + terminal.len()..];
        let rest = if terminal.starts_with(b"event") {
            // The terminal event's data line ends it.
            let end = tail.windows(2).position(|w| w == b"\n\n").map_or(tail.len(), |e| e + 2);
            &tail[end..]
        } else {
            tail
        };
        assert!(rest.is_empty(), "output after the terminal event: {:?}", String::from_utf8_lossy(rest));
    }
    let mut produced = Vec::new();
    let mut p = SseParser::default();
    p.feed(&out, &mut produced);
    p.finish(&mut produced);
    for ev in produced {
        if ev.data != "[DONE]" {
            let v: Value = serde_json::from_str(&ev.data).expect("translated data is JSON");
            assert!(v.is_object());
        }
    }
}

fn object(body: &[u8]) {
    let v: Value = serde_json::from_slice(body).expect("a converted error is JSON");
    assert!(v.is_object());
}
