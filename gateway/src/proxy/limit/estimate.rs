//! What a request may cost in tokens, and asking a stream for its usage.
//!
//! **Estimate** (reserved on every tokens rule before the call, settled with the real usage
//! after it): the input is the request body's bytes / [`BYTES_PER_TOKEN`] (rounded up — a
//! deliberately generous stand-in for a tokenizer: JSON punctuation and field names count
//! too), plus the output limit the request sets — `max_completion_tokens`, else
//! `max_tokens` — or [`DEFAULT_OUTPUT_TOKENS`] when it sets none. Embeddings and OIP
//! requests produce no output tokens. The body is scanned once, only when a tokens rule
//! applies, borrowing the few fields read and skipping the rest.
//!
//! **Usage of streams**: an OpenAI stream reports its usage only when asked
//! (`stream_options.include_usage`). [`ask_for_usage`] splices that into the call's body —
//! the rest of the body is copied byte for byte, never re-serialised — and keeps the
//! `model` span (which the adapters rewrite) pointing at the same value.

use std::ops::Range;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::providers::{Endpoint, UpstreamCall};

/// Request-body bytes counted as one input token.
pub const BYTES_PER_TOKEN: u64 = 4;
/// Output tokens reserved for a request that sets no `max_tokens` /
/// `max_completion_tokens` (until the catalog's `max_output_tokens` is wired in).
pub const DEFAULT_OUTPUT_TOKENS: u64 = 1_024;

/// What the estimate reads from a body.
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow, default)]
    max_tokens: Option<&'a RawValue>,
    #[serde(borrow, default)]
    max_completion_tokens: Option<&'a RawValue>,
    /// Any value, `null` included (so a `null` is replaced, not shadowed by a second key).
    #[serde(borrow, default, deserialize_with = "any_value")]
    stream_options: Option<&'a RawValue>,
}

fn any_value<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(de).map(Some)
}

/// A body's token estimate and where its `stream_options` value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Tokens to reserve.
    pub tokens: u64,
    /// Byte range of the `stream_options` value, when the body has one.
    pub stream_options: Option<Range<usize>>,
}

/// Scans `body` (already checked to be a JSON object by resolve) for `endpoint`.
pub fn scan(body: &[u8], endpoint: Endpoint) -> Scan {
    let input = (body.len() as u64).div_ceil(BYTES_PER_TOKEN);
    let fields: Option<Fields<'_>> = serde_json::from_slice(body).ok();
    let limit = |raw: Option<&RawValue>| raw.and_then(|r| r.get().parse::<u64>().ok());
    let output = match endpoint {
        Endpoint::Embeddings | Endpoint::OipInfer => 0,
        _ => fields
            .as_ref()
            .and_then(|f| limit(f.max_completion_tokens).or_else(|| limit(f.max_tokens)))
            .unwrap_or(DEFAULT_OUTPUT_TOKENS),
    };
    let stream_options = fields.and_then(|f| f.stream_options).map(|raw| span_of(body, raw));
    Scan { tokens: input.saturating_add(output), stream_options }
}

/// Whether [`ask_for_usage`] applies: an OpenAI chat or completions stream.
pub fn asks_for_usage(endpoint: Endpoint, stream: bool) -> bool {
    stream && matches!(endpoint, Endpoint::ChatCompletions | Endpoint::Completions)
}

/// Makes `call` ask for `stream_options.include_usage: true`: inserted first in the body
/// when absent; set in the existing object otherwise (only that small value is rewritten).
pub fn ask_for_usage(call: &mut UpstreamCall, stream_options: Option<Range<usize>>) {
    let (range, value) = match stream_options {
        None => {
            // resolve checked the body is an object holding at least `model`, so a comma
            // after the new member is always followed by another.
            let Some(open) = call.body.iter().position(|b| *b == b'{') else { return };
            (open + 1..open + 1, Bytes::from_static(br#""stream_options":{"include_usage":true},"#))
        }
        Some(range) => {
            let Some(value) = with_usage(&call.body[range.clone()]) else { return };
            (range, value)
        }
    };
    let mut body = Vec::with_capacity(call.body.len() + value.len());
    body.extend_from_slice(&call.body[..range.start]);
    body.extend_from_slice(&value);
    body.extend_from_slice(&call.body[range.end..]);
    if call.model_span.start >= range.end {
        let shift = |at: usize| at + value.len() - range.len();
        call.model_span = shift(call.model_span.start)..shift(call.model_span.end);
    }
    call.body = Bytes::from(body);
}

/// `raw` (a `stream_options` value) with `include_usage: true`; `None` when it already says so.
fn with_usage(raw: &[u8]) -> Option<Bytes> {
    let mut object = match serde_json::from_slice::<serde_json::Value>(raw) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    if object.get("include_usage") == Some(&serde_json::Value::Bool(true)) {
        return None;
    }
    object.insert("include_usage".into(), serde_json::Value::Bool(true));
    Some(Bytes::from(serde_json::Value::Object(object).to_string()))
}

/// The byte range of a value borrowed from `body`.
fn span_of(body: &[u8], raw: &RawValue) -> Range<usize> {
    let start = raw.get().as_ptr() as usize - body.as_ptr() as usize;
    start..start + raw.get().len()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::proxy::resolve::RequestProbe;

    fn call(body: &str) -> UpstreamCall {
        let probe = RequestProbe::scan(body.as_bytes()).expect("valid");
        UpstreamCall {
            endpoint: Endpoint::ChatCompletions,
            body: Bytes::from(body.to_owned()),
            model_span: probe.model_span,
            model: String::new(),
            stream: true,
            request_id: http::HeaderValue::from_static("id"),
            traceparent: None,
            tracestate: None,
            span_parent: None,
            timeouts: switchyard_config::Timeouts {
                connect: Duration::from_secs(1),
                first_byte: Duration::from_secs(1),
                idle: Duration::from_secs(1),
                total: Duration::from_secs(1),
            },
        }
    }

    fn spliced(body: &str) -> (serde_json::Value, String) {
        let mut c = call(body);
        let scan = scan(&c.body, c.endpoint);
        ask_for_usage(&mut c, scan.stream_options);
        let model = std::str::from_utf8(&c.body[c.model_span.clone()]).expect("utf8").to_owned();
        (serde_json::from_slice(&c.body).expect("still JSON"), model)
    }

    #[test]
    fn the_estimate_is_body_over_four_plus_the_output_limit() {
        let body = br#"{"model":"g","max_tokens":100,"messages":[]}"#;
        assert_eq!(scan(body, Endpoint::ChatCompletions).tokens, 11 + 100);
        let body = br#"{"model":"g","max_tokens":100,"max_completion_tokens":7}"#;
        assert_eq!(scan(body, Endpoint::ChatCompletions).tokens, 14 + 7, "max_completion_tokens wins");
        let body = br#"{"model":"g"}"#;
        assert_eq!(scan(body, Endpoint::ChatCompletions).tokens, 4 + DEFAULT_OUTPUT_TOKENS);
        assert_eq!(scan(body, Endpoint::Embeddings).tokens, 4, "embeddings produce no output");
        let body = br#"{"model":"g","max_tokens":"lots"}"#;
        assert_eq!(scan(body, Endpoint::Messages).tokens, 9 + DEFAULT_OUTPUT_TOKENS, "not a number: the default");
    }

    #[test]
    fn usage_is_asked_for_by_splicing_and_the_model_span_follows() {
        let (v, model) = spliced(r#"{"model":"grp","stream":true,"messages":[{"role":"user","content":"hi"}]}"#);
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!((model.as_str(), v["messages"][0]["content"].as_str()), ("\"grp\"", Some("hi")));

        let (v, model) = spliced(r#"{"stream_options":{"include_usage":false,"x":1},"model":"grp","stream":true}"#);
        assert_eq!(v["stream_options"], serde_json::json!({"include_usage": true, "x": 1}));
        assert_eq!(model, "\"grp\"");

        let (v, model) = spliced(r#" {"model":"grp","stream":true,"stream_options":null}"#);
        assert_eq!((v["stream_options"]["include_usage"].as_bool(), model.as_str()), (Some(true), "\"grp\""));

        let body = r#"{"model":"grp","stream":true,"stream_options":{"include_usage":true}}"#;
        let mut c = call(body);
        let s = scan(&c.body, c.endpoint);
        ask_for_usage(&mut c, s.stream_options);
        assert_eq!(c.body, body.as_bytes(), "already asked: untouched");
    }

    #[test]
    fn only_openai_streams_are_asked() {
        assert!(asks_for_usage(Endpoint::ChatCompletions, true));
        assert!(asks_for_usage(Endpoint::Completions, true));
        assert!(!asks_for_usage(Endpoint::ChatCompletions, false));
        assert!(!asks_for_usage(Endpoint::Messages, true));
    }
}
