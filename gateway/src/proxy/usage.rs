//! Token usage from OpenAI- and Anthropic-format responses, found without building a
//! JSON tree.
//!
//! Non-streamed bodies carry `usage` at the top level (`prompt_tokens`/`completion_tokens`
//! or Anthropic's `input_tokens`/`output_tokens`); OpenAI streams carry it in a chunk near
//! the end (`stream_options.include_usage`, or servers like vLLM that always send it),
//! Anthropic streams in `message_start` (`message.usage`) and `message_delta`. Counts seen
//! later replace earlier ones field by field.
//! [`SseUsage`] splits a stream into lines as frames arrive (the shared
//! [`LineSplitter`]) and parses only `data:` lines that mention `"usage"`.

use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::providers::sse::LineSplitter;

/// Token counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_tokens: Option<u32>,
    /// Completion tokens.
    #[serde(default)]
    pub completion_tokens: Option<u32>,
}

/// Either naming of the two counts.
#[derive(Debug, Default, Deserialize)]
struct RawUsage {
    #[serde(default)]
    prompt_tokens: Option<u32>,
    #[serde(default)]
    completion_tokens: Option<u32>,
    #[serde(default)]
    input_tokens: Option<u32>,
    #[serde(default)]
    output_tokens: Option<u32>,
}

/// A value that is a usage object, or anything else (ignored).
#[derive(Deserialize)]
#[serde(untagged)]
enum Lenient<T> {
    Yes(T),
    No(IgnoredAny),
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    usage: Option<Lenient<RawUsage>>,
}

#[derive(Deserialize)]
struct WithUsage {
    #[serde(default)]
    usage: Option<Lenient<RawUsage>>,
    #[serde(default)]
    message: Option<Lenient<Message>>,
    #[serde(default, rename = "error")]
    _error: Option<IgnoredAny>,
}

// === impl WithUsage ===

impl WithUsage {
    /// Applies the counts found to `into`.
    fn merge(self, into: &mut Usage) -> bool {
        let nested = match self.message {
            Some(Lenient::Yes(Message { usage: Some(Lenient::Yes(u)) })) => Some(u),
            _ => None,
        };
        let top = match self.usage {
            Some(Lenient::Yes(u)) => Some(u),
            _ => None,
        };
        let mut found = false;
        for u in [nested, top].into_iter().flatten() {
            if let Some(n) = u.prompt_tokens.or(u.input_tokens) {
                into.prompt_tokens = Some(n);
            }
            if let Some(n) = u.completion_tokens.or(u.output_tokens) {
                into.completion_tokens = Some(n);
            }
            found = true;
        }
        found
    }
}

/// Parses a complete JSON response; `None` when it is not JSON at all.
pub fn usage_of_json(body: &[u8]) -> Option<Usage> {
    let w = serde_json::from_slice::<WithUsage>(body).ok()?;
    let mut u = Usage::default();
    w.merge(&mut u);
    Some(u)
}

/// Incremental usage scanner for an SSE stream.
#[derive(Debug, Default)]
pub struct SseUsage {
    lines: LineSplitter,
    /// The last usage seen.
    pub usage: Option<Usage>,
}

// === impl SseUsage ===

impl SseUsage {
    /// Feeds one body frame.
    pub fn feed(&mut self, chunk: &[u8]) {
        let usage = &mut self.usage;
        self.lines.feed(chunk, |line| {
            let Some(data) = line.strip_prefix(b"data:") else { return };
            if !contains(data, b"\"usage\"") {
                return;
            }
            if let Ok(w) = serde_json::from_slice::<WithUsage>(data) {
                let mut u = usage.unwrap_or_default();
                if w.merge(&mut u) {
                    *usage = Some(u);
                }
            }
        });
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_split_across_frames_is_found() {
        let stream = b"data: {\"choices\":[],\"usage\":null}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":11}}\n\ndata: [DONE]\n\n";
        for split in 1..stream.len() {
            let mut s = SseUsage::default();
            s.feed(&stream[..split]);
            s.feed(&stream[split..]);
            assert_eq!(
                s.usage,
                Some(Usage { prompt_tokens: Some(7), completion_tokens: Some(11) }),
                "split at {split}"
            );
        }
    }

    #[test]
    fn json_usage() {
        assert_eq!(
            usage_of_json(br#"{"id":"x","usage":{"prompt_tokens":1,"total_tokens":1}}"#),
            Some(Usage { prompt_tokens: Some(1), completion_tokens: None })
        );
        assert_eq!(usage_of_json(b"<html>"), None);
        assert_eq!(usage_of_json(br#"{"message":"not an object","usage":7}"#), Some(Usage::default()));
    }

    #[test]
    fn anthropic_stream_usage_is_merged() {
        let mut s = SseUsage::default();
        s.feed(include_bytes!("../../fixtures/anthropic_stream.sse"));
        assert_eq!(s.usage, Some(Usage { prompt_tokens: Some(12), completion_tokens: Some(15) }));
    }
}
