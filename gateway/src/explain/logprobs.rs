//! Token log-probability summaries of LLM answers (SPEC §9 (c)): tokens, mean and min
//! log-probability, perplexity `exp(-mean)`.
//!
//! Read from OpenAI chat `choices[].logprobs.content[].logprob` and legacy completions
//! `choices[].logprobs.token_logprobs[]` (a `null` there — the first echoed token — is
//! skipped), in complete answers and in stream chunks. Only bodies that mention
//! `"logprob` are parsed.

use serde::Deserialize;
use switchyard_records::LogprobSummary;

use crate::providers::sse::LineSplitter;

/// Running sums over the tokens seen.
#[derive(Debug, Default, Clone, Copy)]
pub struct Logprobs {
    tokens: u32,
    sum: f64,
    min: f64,
}

/// An SSE stream's summary, fed frame by frame.
#[derive(Debug, Default)]
pub struct SseLogprobs {
    lines: LineSplitter,
    acc: Logprobs,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    logprobs: Option<ChoiceLogprobs>,
}

#[derive(Deserialize)]
struct ChoiceLogprobs {
    #[serde(default)]
    content: Option<Vec<Token>>,
    #[serde(default)]
    token_logprobs: Option<Vec<Option<f64>>>,
}

#[derive(Deserialize)]
struct Token {
    logprob: f64,
}

// === impl Logprobs ===

impl Logprobs {
    fn add(&mut self, lp: f64) {
        if !lp.is_finite() {
            return;
        }
        self.min = if self.tokens == 0 { lp } else { self.min.min(lp) };
        self.tokens = self.tokens.saturating_add(1);
        self.sum += lp;
    }

    fn feed_json(&mut self, json: &[u8]) {
        let Ok(answer) = serde_json::from_slice::<Answer>(json) else { return };
        for lp in answer.choices.into_iter().filter_map(|c| c.logprobs) {
            lp.content.into_iter().flatten().for_each(|t| self.add(t.logprob));
            lp.token_logprobs.into_iter().flatten().flatten().for_each(|x| self.add(x));
        }
    }

    /// The summary, when any token had a log-probability.
    pub fn summary(&self) -> Option<LogprobSummary> {
        (self.tokens > 0).then(|| {
            let mean = self.sum / f64::from(self.tokens);
            LogprobSummary { tokens: self.tokens, mean, min: self.min, perplexity: (-mean).exp() }
        })
    }
}

/// The summary of a complete answer.
pub fn of_answer(body: &[u8]) -> Option<LogprobSummary> {
    if !mentions(body) {
        return None;
    }
    let mut acc = Logprobs::default();
    acc.feed_json(body);
    acc.summary()
}

fn mentions(bytes: &[u8]) -> bool {
    bytes.windows(8).any(|w| w == b"\"logprob")
}

// === impl SseLogprobs ===

impl SseLogprobs {
    /// Feeds one body frame.
    pub fn feed(&mut self, chunk: &[u8]) {
        let acc = &mut self.acc;
        self.lines.feed(chunk, |line| {
            if let Some(data) = line.strip_prefix(b"data:") {
                if mentions(data) {
                    acc.feed_json(data);
                }
            }
        });
    }

    /// The summary so far.
    pub fn summary(&self) -> Option<LogprobSummary> {
        self.acc.summary()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_and_completions_answers() {
        let chat = br#"{"choices":[{"message":{"content":"Hi there"},"logprobs":{"content":[
            {"token":"Hi","logprob":-0.5,"top_logprobs":[]},{"token":" there","logprob":-1.5,"top_logprobs":[]}]}}]}"#;
        let s = of_answer(chat).expect("summary");
        assert_eq!((s.tokens, s.mean, s.min), (2, -1.0, -1.5));
        assert!((s.perplexity - 1f64.exp()).abs() < 1e-12);
        let legacy =
            br#"{"choices":[{"text":"a b","logprobs":{"tokens":["a","b","c"],"token_logprobs":[null,-2.0,-1.0]}}]}"#;
        assert_eq!(of_answer(legacy).map(|s| (s.tokens, s.mean)), Some((2, -1.5)));
        assert_eq!(of_answer(br#"{"choices":[{"logprobs":null}]}"#), None);
        assert_eq!(of_answer(br#"{"choices":[]}"#), None);
    }

    #[test]
    fn streamed_chunks_split_anywhere() {
        let stream = b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"},\"logprobs\":{\"content\":[{\"token\":\"a\",\"logprob\":-0.25}]}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"b\"},\"logprobs\":{\"content\":[{\"token\":\"b\",\"logprob\":-0.75}]}}]}\n\ndata: [DONE]\n\n";
        for split in 1..stream.len() {
            let mut s = SseLogprobs::default();
            s.feed(&stream[..split]);
            s.feed(&stream[split..]);
            let sum = s.summary().expect("summary");
            assert_eq!((sum.tokens, sum.mean, sum.min), (2, -0.5, -0.75), "split at {split}");
        }
    }
}
