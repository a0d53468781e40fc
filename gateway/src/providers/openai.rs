//! `openai` adapter: any OpenAI-compatible server (OpenAI, vLLM, TGI, Ollama).
//!
//! The request body is forwarded with only `model` rewritten; the response body is
//! streamed back untouched. Authentication is `authorization: Bearer <api_key>`; extra
//! configured headers are added to every request.

use bytes::Bytes;
use http::header::{HeaderName, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::BodyExt;
use switchyard_config::ProviderSpec;

use super::{Adapter, CallFuture, UpstreamCall, UpstreamFailure, UpstreamResponse};
use crate::upstream::UpstreamClient;

/// Adapter for one `kind: openai` provider.
pub struct OpenAiAdapter {
    client: UpstreamClient,
    /// Base URL without a trailing slash.
    base_url: String,
    /// Headers sent on every request (auth and configured extras).
    headers: HeaderMap,
}

// === impl OpenAiAdapter ===

impl OpenAiAdapter {
    /// Builds the adapter; fails on an invalid URL or header.
    pub fn new(client: UpstreamClient, spec: &ProviderSpec) -> Result<Self, String> {
        let base_url = spec.config.base_url.as_deref().ok_or("base_url is required")?;
        let base_url = base_url.trim_end_matches('/').to_owned();
        format!("{base_url}/chat/completions")
            .parse::<Uri>()
            .map_err(|e| format!("base_url is not a valid URL: {e}"))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &spec.config.headers {
            let name = HeaderName::try_from(name.as_str()).map_err(|_| format!("header `{name}` is invalid"))?;
            let value =
                HeaderValue::try_from(value.as_str()).map_err(|_| format!("header `{name}` has an invalid value"))?;
            headers.insert(name, value);
        }
        if let Some(key) = &spec.api_key {
            let mut value = HeaderValue::try_from(format!("Bearer {}", key.expose()))
                .map_err(|_| "api_key contains characters not allowed in a header".to_owned())?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(Self { client, base_url, headers })
    }
}

impl Adapter for OpenAiAdapter {
    fn call(&self, call: UpstreamCall) -> CallFuture {
        let uri = format!("{}{}", self.base_url, call.endpoint.openai_path());
        let mut builder = Request::builder().method(Method::POST).uri(uri);
        if let Some(h) = builder.headers_mut() {
            h.clone_from(&self.headers);
            h.insert(
                ACCEPT,
                HeaderValue::from_static(if call.stream { "text/event-stream" } else { "application/json" }),
            );
            h.insert("x-request-id", call.request_id.clone());
            if let Some(tp) = &call.traceparent {
                h.insert("traceparent", tp.clone());
            }
        }
        let body: Bytes = call.body_for_upstream();
        let client = self.client.clone();
        let first_byte = call.timeouts.first_byte;
        Box::pin(async move {
            let req = builder.body(http_body_util::Full::new(body)).map_err(|_| UpstreamFailure::Connect)?;
            let resp = client.send(req, first_byte).await?;
            let (parts, body) = resp.into_parts();
            Ok(UpstreamResponse {
                status: parts.status,
                content_type: parts.headers.get(CONTENT_TYPE).cloned(),
                body: body.map_err(|_| UpstreamFailure::Reset).boxed_unsync(),
            })
        })
    }
}
