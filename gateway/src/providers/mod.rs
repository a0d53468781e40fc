//! Provider adapters: the seam between the data plane and model servers.
//!
//! An [`Adapter`] turns one [`UpstreamCall`] (the client's request in the OpenAI wire
//! format, already routed to a member) into an [`UpstreamResponse`] whose body is
//! streamed, never buffered here. Each provider kind is one module; [`build_adapter`] is
//! the factory the `ConfigStore` calls when it compiles a routing table, so adapters are
//! swapped together with the table that references them. Adapters share one pooled
//! upstream client ([`crate::upstream::UpstreamClient`]).
//!
//! Adding a kind (Anthropic, Gemini, …) means one module that translates request and
//! response formats; the phases around it do not change.

mod mock;
mod openai;

use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use switchyard_config::{ProviderKind, ProviderSpec, Timeouts};

use crate::upstream::UpstreamClient;

/// A streamed upstream response body.
pub type UpstreamBody = UnsyncBoxBody<Bytes, UpstreamFailure>;

/// What an adapter's call returns.
pub type CallFuture = Pin<Box<dyn Future<Output = Result<UpstreamResponse, UpstreamFailure>> + Send>>;

/// The data plane's handle on a provider.
pub trait Adapter: Send + Sync + 'static {
    /// Sends one request upstream and returns once response headers arrived.
    fn call(&self, call: UpstreamCall) -> CallFuture;
}

/// The shared, swappable adapter type stored in routing tables.
pub type SharedAdapter = Arc<dyn Adapter>;

/// The OpenAI-compatible operation a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/chat/completions`.
    ChatCompletions,
    /// `POST /v1/completions`.
    Completions,
    /// `POST /v1/embeddings`.
    Embeddings,
}

/// One request to send upstream.
#[derive(Debug, Clone)]
pub struct UpstreamCall {
    /// The operation.
    pub endpoint: Endpoint,
    /// The client's JSON body.
    pub body: Bytes,
    /// Byte range of the `model` value (quotes included) in `body`.
    pub model_span: Range<usize>,
    /// The member's upstream model name.
    pub model: String,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// The gateway's request id (`x-request-id` upstream).
    pub request_id: HeaderValue,
    /// W3C trace context from the client, propagated unchanged.
    pub traceparent: Option<HeaderValue>,
    /// The group's timeouts.
    pub timeouts: Timeouts,
}

/// Response headers and a streamed body from upstream.
pub struct UpstreamResponse {
    /// Upstream status.
    pub status: StatusCode,
    /// Upstream `content-type`, if any.
    pub content_type: Option<HeaderValue>,
    /// The body, as it arrives.
    pub body: UpstreamBody,
}

/// How an upstream exchange failed (the member is added by the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamFailure {
    /// TCP/TLS connect failed.
    #[error("connect failed")]
    Connect,
    /// No response headers within `first_byte`.
    #[error("no response in time")]
    FirstByteTimeout,
    /// The connection broke.
    #[error("connection reset")]
    Reset,
}

// === impl Endpoint ===

impl Endpoint {
    /// Path relative to an OpenAI-style base URL.
    pub fn openai_path(self) -> &'static str {
        match self {
            Self::ChatCompletions => "/chat/completions",
            Self::Completions => "/completions",
            Self::Embeddings => "/embeddings",
        }
    }

    /// Name in records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChatCompletions => "chat.completions",
            Self::Completions => "completions",
            Self::Embeddings => "embeddings",
        }
    }
}

// === impl UpstreamCall ===

impl UpstreamCall {
    /// The body with `model` replaced by the member's upstream model name. Copies the
    /// body once; no JSON parse.
    pub fn body_for_upstream(&self) -> Bytes {
        let quoted = serde_json::to_string(&*self.model).unwrap_or_else(|_| "\"\"".into());
        let Range { start, end } = self.model_span.clone();
        if end > self.body.len() || start > end {
            return self.body.clone();
        }
        let mut out = Vec::with_capacity(self.body.len() + quoted.len());
        out.extend_from_slice(&self.body[..start]);
        out.extend_from_slice(quoted.as_bytes());
        out.extend_from_slice(&self.body[end..]);
        Bytes::from(out)
    }
}

/// Builds the adapter for a provider (the `ConfigStore`'s factory).
pub fn build_adapter(client: &UpstreamClient, spec: &ProviderSpec) -> Result<SharedAdapter, String> {
    match spec.kind {
        ProviderKind::Openai => Ok(Arc::new(openai::OpenAiAdapter::new(client.clone(), spec)?)),
        ProviderKind::Mock => Ok(Arc::new(mock::MockAdapter::new(spec))),
        other => Err(format!("provider kind `{}` is not supported by this build", other.as_str())),
    }
}
