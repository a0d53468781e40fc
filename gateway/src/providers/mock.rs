//! `mock` adapter: an in-process model for quick starts, demos and tests.
//!
//! Answers in the OpenAI wire format after `latency_ms`, with configurable token counts,
//! streamed chunk count and pause, and an `error_rate` of 500s. No network involved; the
//! response goes through the same streaming and recording phases as a real upstream.

use std::convert::Infallible;

use std::sync::Arc;
use std::time::Duration;
use switchyard_core::unix_secs as now_secs;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use serde_json::json;
use switchyard_config::ProviderSpec;

use super::{Adapter, CallFuture, Endpoint, UpstreamCall, UpstreamFailure, UpstreamResponse};

/// Adapter for one `kind: mock` provider.
pub struct MockAdapter {
    latency: Duration,
    input_tokens: u32,
    output_tokens: u32,
    chunks: u32,
    chunk_delay: Duration,
    error_rate: f64,
}

// === impl MockAdapter ===

impl MockAdapter {
    /// Builds the mock from its config (defaults: 0 ms, 10 in, 20 out, 5 chunks).
    pub fn new(spec: &ProviderSpec) -> Self {
        let c = &spec.config;
        Self {
            latency: Duration::from_millis(c.latency_ms.unwrap_or(0)),
            input_tokens: c.input_tokens.unwrap_or(10),
            output_tokens: c.output_tokens.unwrap_or(20),
            chunks: c.stream_chunks.unwrap_or(5).max(1),
            chunk_delay: Duration::from_millis(c.chunk_delay_ms.unwrap_or(0)),
            error_rate: c.error_rate.unwrap_or(0.0),
        }
    }

    fn usage(&self) -> serde_json::Value {
        json!({
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.input_tokens.saturating_add(self.output_tokens),
        })
    }

    fn text(&self, model: &str) -> String {
        format!("Mock answer from {model}.")
    }

    fn full_body(&self, call: &UpstreamCall) -> serde_json::Value {
        let model = &*call.model;
        match call.endpoint {
            Endpoint::ChatCompletions => json!({
                "id": format!("chatcmpl-{}", call.request_id.to_str().unwrap_or("mock")),
                "object": "chat.completion",
                "created": now_secs(),
                "model": model,
                "choices": [{
                    "index": 0,
                    "message": { "role": "assistant", "content": self.text(model) },
                    "finish_reason": "stop",
                }],
                "usage": self.usage(),
            }),
            Endpoint::Completions => json!({
                "id": format!("cmpl-{}", call.request_id.to_str().unwrap_or("mock")),
                "object": "text_completion",
                "created": now_secs(),
                "model": model,
                "choices": [{ "index": 0, "text": self.text(model), "finish_reason": "stop" }],
                "usage": self.usage(),
            }),
            Endpoint::Embeddings | Endpoint::Messages | Endpoint::OipInfer => json!({
                "object": "list",
                "model": model,
                "data": [{ "object": "embedding", "index": 0, "embedding": [0.1, -0.2, 0.3, 0.05, -0.4, 0.6, 0.0, 0.25] }],
                "usage": { "prompt_tokens": self.input_tokens, "total_tokens": self.input_tokens },
            }),
        }
    }

    fn stream_events(&self, call: &UpstreamCall) -> Vec<Bytes> {
        let model = &*call.model;
        let id = format!("chatcmpl-{}", call.request_id.to_str().unwrap_or("mock"));
        let created = now_secs();
        let chat = call.endpoint == Endpoint::ChatCompletions;
        let mut events = Vec::with_capacity(self.chunks as usize + 2);
        for i in 0..self.chunks {
            let piece = format!("part {i} ");
            let chunk = if chat {
                json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                       "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": null}]})
            } else {
                json!({"id": id, "object": "text_completion", "created": created, "model": model,
                       "choices": [{"index": 0, "text": piece, "finish_reason": null}]})
            };
            events.push(Bytes::from(format!("data: {chunk}\n\n")));
        }
        let last = json!({"id": id, "object": if chat { "chat.completion.chunk" } else { "text_completion" },
                          "created": created, "model": model,
                          "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                          "usage": self.usage()});
        events.push(Bytes::from(format!("data: {last}\n\n")));
        events.push(Bytes::from_static(b"data: [DONE]\n\n"));
        events
    }
}

impl Adapter for MockAdapter {
    fn call(&self, call: UpstreamCall) -> CallFuture {
        if !self.supports(call.endpoint) {
            return Box::pin(async { Ok(super::anthropic::unsupported()) });
        }
        let fail = self.error_rate > 0.0 && rand::random::<f64>() < self.error_rate;
        let latency = self.latency;
        let delay = self.chunk_delay;
        let streamed = call.stream && call.endpoint != Endpoint::Embeddings;
        let (status, body) = if fail {
            let err = json!({"error": {"message": "mock failure", "type": "server_error", "code": null}});
            (StatusCode::INTERNAL_SERVER_ERROR, Err(Bytes::from(err.to_string())))
        } else if streamed {
            (StatusCode::OK, Ok(self.stream_events(&call)))
        } else {
            (StatusCode::OK, Err(Bytes::from(self.full_body(&call).to_string())))
        };
        Box::pin(async move {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            let (content_type, body) = match body {
                Err(full) => ("application/json", Full::new(full).map_err(|e: Infallible| match e {}).boxed_unsync()),
                Ok(events) => {
                    let events = Arc::new(events);
                    let stream = futures_util::stream::unfold(0usize, move |i| {
                        let events = events.clone();
                        async move {
                            let ev = events.get(i)?.clone();
                            if i > 0 && !delay.is_zero() {
                                tokio::time::sleep(delay).await;
                            }
                            Some((Ok::<_, UpstreamFailure>(Frame::data(ev)), i + 1))
                        }
                    });
                    ("text/event-stream", StreamBody::new(stream).boxed_unsync())
                }
            };
            Ok(UpstreamResponse::plain(status, Some(HeaderValue::from_static(content_type)), body))
        })
    }
}
