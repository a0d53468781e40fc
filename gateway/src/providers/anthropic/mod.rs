//! `anthropic` adapter: the Messages API (`POST /v1/messages`).
//!
//! Serves Anthropic-format requests natively (only `model` is rewritten, the answer is
//! passed through) and OpenAI chat requests by translation ([`convert`], [`stream`]).
//! Authentication is `x-api-key`; `anthropic-version` is the provider's `api_version`
//! (default `2023-06-01`).

pub mod convert;
pub mod stream;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use http_body_util::{BodyExt, Full};
use switchyard_config::{ProviderSpec, Timeouts};

use super::base::{Auth, HttpBase};
use super::{Adapter, CallFuture, Endpoint, UpstreamCall, UpstreamResponse};

use crate::upstream::UpstreamClient;
pub use convert::anthropic_error_type;

/// The `anthropic-version` sent when the provider sets no `api_version`.
pub const DEFAULT_VERSION: &str = "2023-06-01";

/// Adapter for one `kind: anthropic` provider.
pub struct AnthropicAdapter {
    base: HttpBase,
    url: String,
}

// === impl AnthropicAdapter ===

impl AnthropicAdapter {
    /// Builds the adapter; fails on an invalid URL, header or version.
    pub fn new(client: UpstreamClient, spec: &ProviderSpec) -> Result<Self, String> {
        let mut base = HttpBase::new(client, spec, Auth::Header("x-api-key"))?;
        let version = spec.config.api_version.as_deref().unwrap_or(DEFAULT_VERSION);
        base.insert("anthropic-version", HeaderValue::try_from(version).map_err(|_| "api_version is invalid")?);
        let url = if base.base_url.ends_with("/v1") {
            format!("{}/messages", base.base_url)
        } else {
            format!("{}/v1/messages", base.base_url)
        };
        Ok(Self { base, url })
    }
}

impl Adapter for AnthropicAdapter {
    fn supports(&self, endpoint: Endpoint) -> bool {
        matches!(endpoint, Endpoint::Messages | Endpoint::ChatCompletions)
    }

    /// `GET …/v1/models` (paged with `after_id`).
    fn discover(&self, _: Option<&str>, page: Option<(&str, &str)>, timeouts: Timeouts) -> Option<CallFuture> {
        let models = self.url.strip_suffix("/messages").map(|root| format!("{root}/models"))?;
        Some(self.base.get(&models, page, timeouts))
    }

    fn translates(&self, endpoint: Endpoint) -> bool {
        endpoint == Endpoint::ChatCompletions
    }

    fn call(&self, call: UpstreamCall) -> CallFuture {
        let translate = match call.endpoint {
            Endpoint::Messages => false,
            Endpoint::ChatCompletions => true,
            _ => return Box::pin(async { Ok(unsupported()) }),
        };
        let body = if translate {
            match call.json_for_upstream() {
                Some(req) => Bytes::from(convert::request_from_openai(&req, &call.model).to_string()),
                None => call.body_for_upstream(),
            }
        } else {
            call.body_for_upstream()
        };
        if !translate {
            return self.base.send(&self.url, &call, body, |resp| resp);
        }
        let stream = call.stream;
        self.base.send(&self.url, &call, body, move |resp| {
            resp.translated(
                stream,
                stream::ToOpenAi::default,
                Box::new(|status: StatusCode, bytes: Bytes| {
                    if status.is_success() {
                        let v = serde_json::from_slice(&bytes).ok()?;
                        Some(Bytes::from(convert::response_to_openai(&v)?.to_string()))
                    } else {
                        Some(convert::error_to_openai(&bytes).map_or(bytes, Bytes::from))
                    }
                }),
            )
        })
    }
}

/// A 400 for an endpoint this adapter cannot serve (the proxy checks first).
pub(super) fn unsupported() -> UpstreamResponse {
    let body = br#"{"error":{"message":"this provider cannot serve this endpoint","type":"invalid_request_error","code":"unsupported_endpoint"}}"#;
    UpstreamResponse::plain(
        StatusCode::BAD_REQUEST,
        Some(HeaderValue::from_static("application/json")),
        Full::new(Bytes::from_static(body)).map_err(|e: std::convert::Infallible| match e {}).boxed_unsync(),
    )
}
