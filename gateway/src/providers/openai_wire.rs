//! The OpenAI wire format as the translating adapters (Anthropic, Gemini, TGI) read and
//! write it: the text of a message's content, one streamed chunk, and an upstream event
//! parsed as JSON. One copy of each, so the adapters translate the same way.

use serde_json::{json, Value};

use super::sse::{write_data, SseEvent};
use super::UpstreamFailure;

/// The text of an OpenAI (or Anthropic) content value: a string, or the text parts of
/// an array joined.
pub fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join(""),
        _ => String::new(),
    }
}

/// The fixed fields of the chunks of one translated stream.
pub struct ChunkHead<'a> {
    /// The completion id.
    pub id: &'a str,
    /// `chat.completion.chunk` or `text_completion`.
    pub object: &'a str,
    /// Unix seconds.
    pub created: u64,
    /// The model name reported.
    pub model: &'a str,
}

/// Appends one OpenAI stream chunk with `choice` (and `usage`, when given) as an SSE
/// `data:` event.
pub fn write_chunk(out: &mut Vec<u8>, head: &ChunkHead<'_>, choice: Value, usage: Option<Value>) {
    let mut c = json!({
        "id": head.id, "object": head.object, "created": head.created, "model": head.model, "choices": [choice],
    });
    if let Some(u) = usage {
        c["usage"] = u;
    }
    write_data(out, &c);
}

/// An upstream event's data as JSON; an unparsable event or an `error` object fails the
/// stream.
pub fn event_json(ev: &SseEvent) -> Result<Value, UpstreamFailure> {
    let v: Value = serde_json::from_str(&ev.data).map_err(|_| UpstreamFailure::Reset)?;
    if v.get("error").is_some() {
        return Err(UpstreamFailure::Reset);
    }
    Ok(v)
}
