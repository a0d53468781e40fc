//! Provider adapters: the seam between the data plane and model servers.
//!
//! An [`Adapter`] turns one [`UpstreamCall`] (a request in one of the gateway's wire
//! formats, already routed to a member) into an [`UpstreamResponse`] whose body is
//! streamed, never buffered here. Each provider kind is one module; [`build_adapter`] is
//! the factory the `ConfigStore` calls when it compiles a routing table, so adapters are
//! swapped together with the table that references them. Adapters share one pooled
//! upstream client ([`crate::upstream::UpstreamClient`]) unless a provider needs its own
//! TLS roots or pool size.
//!
//! Invariants:
//! - An adapter answers in the wire format of the call's [`Endpoint`]: OpenAI JSON/SSE for
//!   the OpenAI endpoints, Anthropic for [`Endpoint::Messages`], OIP v2 for
//!   [`Endpoint::OipInfer`]. [`Adapter::supports`] says which endpoints it can serve; the
//!   proxy translates the others (e.g. Anthropic ingress to an OpenAI member).
//! - A streamed success body is translated frame by frame as it arrives; a collected body
//!   (non-streamed or an error status) is translated once, by [`UpstreamResponse::convert`].
//! - Error bodies of translating adapters are normalised to the OpenAI error shape, so the
//!   proxy's pass-through rules and the client-format rendering work on one shape.

pub mod anthropic;
mod base;
pub mod complexity;
mod gemini;
mod http;
mod huggingface;
mod mock;
mod oip;
mod openai;
pub mod openai_wire;
pub mod sse;

use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ::http::{HeaderValue, StatusCode};
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use switchyard_config::schema::ExplainProtocol;
use switchyard_config::{ProviderKind, ProviderSpec, Timeouts};

use crate::upstream::UpstreamClient;

/// A streamed upstream response body.
pub type UpstreamBody = UnsyncBoxBody<Bytes, UpstreamFailure>;

/// What an adapter's call returns.
pub type CallFuture = Pin<Box<dyn Future<Output = Result<UpstreamResponse, UpstreamFailure>> + Send>>;

/// Converts a collected body (with the upstream status) into the caller's wire format;
/// `None` when the body is not what the provider should have sent.
pub type FullConvert = Box<dyn FnOnce(StatusCode, Bytes) -> Option<Bytes> + Send>;

/// The data plane's handle on a provider.
pub trait Adapter: Send + Sync + 'static {
    /// Sends one request upstream and returns once response headers arrived.
    fn call(&self, call: UpstreamCall) -> CallFuture;

    /// Whether this adapter serves `endpoint` in that endpoint's own wire format.
    fn supports(&self, endpoint: Endpoint) -> bool {
        matches!(endpoint, Endpoint::ChatCompletions | Endpoint::Completions | Endpoint::Embeddings)
    }

    /// Whether serving `endpoint` means translating the body into another wire format
    /// (parsing it into a JSON tree), so its size in elements is bounded
    /// (`limits.max_translated_elements`).
    fn translates(&self, endpoint: Endpoint) -> bool {
        let _ = endpoint;
        false
    }

    /// Whether responses may carry feature attributions worth extracting.
    fn explains(&self) -> bool {
        false
    }

    /// A GET of what the provider serves (SPEC §8 discover): its model list, TGI's
    /// `/info`, or model `model`'s OIP metadata; `page` continues a paged list (query
    /// parameter and value). `None` when this kind of provider has no such endpoint.
    fn discover(&self, model: Option<&str>, page: Option<(&str, &str)>, timeouts: Timeouts) -> Option<CallFuture> {
        let _ = (model, page, timeouts);
        None
    }

    /// Sends an explainer request (SPEC §9): `call.body` is already in `protocol`'s shape
    /// and `call.model` names the explainer's model. `None` when this adapter cannot be
    /// asked that way (validation keeps such configs out).
    fn explain(&self, _call: UpstreamCall, _protocol: ExplainProtocol) -> Option<CallFuture> {
        None
    }
}

/// The shared, swappable adapter type stored in routing tables.
pub type SharedAdapter = Arc<dyn Adapter>;

/// The operation a request asks for; it also fixes the request's wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/chat/completions` (OpenAI).
    ChatCompletions,
    /// `POST /v1/completions` (OpenAI).
    Completions,
    /// `POST /v1/embeddings` (OpenAI).
    Embeddings,
    /// `POST /v1/messages` (Anthropic).
    Messages,
    /// `POST /v2/models/{m}/infer` (Open Inference Protocol v2).
    OipInfer,
}

/// The wire format a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    /// OpenAI JSON and SSE.
    OpenAi,
    /// Anthropic Messages JSON and SSE.
    Anthropic,
    /// Open Inference Protocol v2 JSON.
    Oip,
}

/// One request to send upstream.
#[derive(Debug, Clone)]
pub struct UpstreamCall {
    /// The operation (and so the body's wire format).
    pub endpoint: Endpoint,
    /// The request body in the endpoint's format.
    pub body: Bytes,
    /// Byte range of the `model` value (quotes included) in `body`; empty when the body
    /// names no model (OIP: the model is in the path).
    pub model_span: Range<usize>,
    /// The member's upstream model name.
    pub model: String,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// `x-request-id` upstream: the client's own, else the gateway's request id.
    pub request_id: HeaderValue,
    /// W3C `traceparent` sent upstream: the attempt's span when the request is sampled
    /// (set per attempt by [`crate::trace::AttemptSpan::start`]), else the client's.
    pub traceparent: Option<HeaderValue>,
    /// The client's W3C `tracestate`, kept.
    pub tracestate: Option<HeaderValue>,
    /// The server span attempts are children of; `None` when the request is not sampled.
    pub span_parent: Option<crate::trace::SpanParent>,
    /// The group's timeouts.
    pub timeouts: Timeouts,
}

/// Response headers and a streamed body from upstream.
pub struct UpstreamResponse {
    /// Upstream status.
    pub status: StatusCode,
    /// `content-type` of `body` as the caller will see it, if known.
    pub content_type: Option<HeaderValue>,
    /// The body, as it arrives (already translated when streamed).
    pub body: UpstreamBody,
    /// `Retry-After` from the upstream, when it sent one (seconds form).
    pub retry_after: Option<Duration>,
    /// Translation of a collected body; `None` means the body is already in the caller's
    /// format.
    pub convert: Option<FullConvert>,
}

/// How an upstream exchange failed (the member is added by the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamFailure {
    /// TCP/TLS connect failed (or the connect timeout passed).
    #[error("connect failed")]
    Connect,
    /// No response headers within `first_byte`.
    #[error("no response in time")]
    FirstByteTimeout,
    /// The connection broke, or the upstream ended a stream with an error event.
    #[error("connection reset")]
    Reset,
    /// The gateway could not build the upstream request (its own fault, not the member's).
    #[error("upstream request could not be built")]
    Request,
}

// === impl Endpoint ===

impl Endpoint {
    /// Path relative to an OpenAI-style base URL.
    pub fn openai_path(self) -> &'static str {
        match self {
            Self::ChatCompletions => "/chat/completions",
            Self::Completions => "/completions",
            Self::Embeddings => "/embeddings",
            Self::Messages => "/messages",
            Self::OipInfer => "/infer",
        }
    }

    /// Name in records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChatCompletions => "chat.completions",
            Self::Completions => "completions",
            Self::Embeddings => "embeddings",
            Self::Messages => "messages",
            Self::OipInfer => "oip.infer",
        }
    }

    /// The wire format of requests and responses on this endpoint.
    pub fn format(self) -> WireFormat {
        match self {
            Self::ChatCompletions | Self::Completions | Self::Embeddings => WireFormat::OpenAi,
            Self::Messages => WireFormat::Anthropic,
            Self::OipInfer => WireFormat::Oip,
        }
    }
}

// === impl UpstreamCall ===

impl UpstreamCall {
    /// The body with `model` replaced by the member's upstream model name. Copies the
    /// body once; no JSON parse. Unchanged when the body names no model.
    pub fn body_for_upstream(&self) -> Bytes {
        let Range { start, end } = self.model_span.clone();
        if end > self.body.len() || start >= end {
            return self.body.clone();
        }
        let quoted = serde_json::to_string(&*self.model).unwrap_or_else(|_| "\"\"".into());
        let mut out = Vec::with_capacity(self.body.len() + quoted.len());
        out.extend_from_slice(&self.body[..start]);
        out.extend_from_slice(quoted.as_bytes());
        out.extend_from_slice(&self.body[end..]);
        Bytes::from(out)
    }

    /// The body parsed as JSON with `model` set to the member's model (for adapters that
    /// translate the request anyway).
    pub fn json_for_upstream(&self) -> Option<serde_json::Value> {
        let mut v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        if let Some(obj) = v.as_object_mut() {
            obj.insert("model".into(), serde_json::Value::String(self.model.clone()));
        }
        Some(v)
    }
}

// === impl UpstreamResponse ===

impl UpstreamResponse {
    /// A response whose body needs no translation.
    pub fn plain(status: StatusCode, content_type: Option<HeaderValue>, body: UpstreamBody) -> Self {
        Self { status, content_type, body, retry_after: None, convert: None }
    }

    /// This response in the caller's format: a successful stream translated event by
    /// event by `translator`, anything else converted once collected by `convert`.
    pub fn translated<T: sse::SseTranslator>(
        mut self,
        stream: bool,
        translator: impl FnOnce() -> T,
        convert: FullConvert,
    ) -> Self {
        if stream && self.status.is_success() {
            self.body = sse::translate(self.body, translator());
            self.content_type = Some(HeaderValue::from_static("text/event-stream"));
        } else {
            self.content_type = Some(HeaderValue::from_static("application/json"));
            self.convert = Some(convert);
        }
        self
    }

    /// Applies [`Self::convert`] to a collected body.
    pub fn convert_full(convert: Option<FullConvert>, status: StatusCode, bytes: Bytes) -> Option<Bytes> {
        match convert {
            None => Some(bytes),
            Some(f) => f(status, bytes),
        }
    }
}

/// Builds the adapter for a provider (the `ConfigStore`'s factory).
pub fn build_adapter(client: &UpstreamClient, spec: &ProviderSpec) -> Result<SharedAdapter, String> {
    let c = &spec.config;
    let client = || client.with_settings(c.ca_file.as_deref(), c.pool_max_idle_per_host, c.max_in_flight);
    Ok(match spec.kind {
        ProviderKind::Openai => Arc::new(openai::OpenAiAdapter::new(client()?, spec)?),
        ProviderKind::Anthropic => Arc::new(anthropic::AnthropicAdapter::new(client()?, spec)?),
        ProviderKind::Gemini => Arc::new(gemini::GeminiAdapter::new(client()?, spec)?),
        ProviderKind::Huggingface => Arc::new(huggingface::TgiAdapter::new(client()?, spec)?),
        ProviderKind::Oip => Arc::new(oip::OipAdapter::new(client()?, spec)?),
        ProviderKind::Http => Arc::new(http::HttpAdapter::new(client()?, spec)?),
        ProviderKind::Mock => Arc::new(mock::MockAdapter::new(spec)),
    })
}
