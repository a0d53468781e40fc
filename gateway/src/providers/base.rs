//! What every HTTP adapter shares: configured and auth headers, building the upstream
//! request (request id, trace context, `accept`), and one exchange through the pooled
//! client that reports status, `content-type` and `Retry-After`.
//!
//! Invariant: secrets go into headers marked sensitive and nowhere else.

use bytes::Bytes;
use http::header::{HeaderName, ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::Full;
use switchyard_config::ProviderSpec;

use super::{UpstreamCall, UpstreamFailure, UpstreamResponse};
use crate::upstream::UpstreamClient;

/// How the provider's API key is presented.
pub(super) enum Auth {
    /// `authorization: Bearer <key>`.
    Bearer,
    /// The key as the value of this header (`x-api-key`, `api-key`, `x-goog-api-key`).
    Header(&'static str),
}

/// Client, base URL and headers of one HTTP provider.
pub(super) struct HttpBase {
    pub client: UpstreamClient,
    /// Base URL without a trailing slash.
    pub base_url: String,
    headers: HeaderMap,
}

// === impl HttpBase ===

impl HttpBase {
    /// Builds the base; fails on a missing or invalid URL or header.
    pub fn new(client: UpstreamClient, spec: &ProviderSpec, auth: Auth) -> Result<Self, String> {
        let base_url = spec.config.base_url.as_deref().ok_or("base_url is required")?;
        let base_url = base_url.trim_end_matches('/').to_owned();
        base_url.replace("{model}", "m").parse::<Uri>().map_err(|e| format!("base_url is not a valid URL: {e}"))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &spec.config.headers {
            let name = HeaderName::try_from(name.as_str()).map_err(|_| format!("header `{name}` is invalid"))?;
            let value =
                HeaderValue::try_from(value.as_str()).map_err(|_| format!("header `{name}` has an invalid value"))?;
            headers.insert(name, value);
        }
        if let Some(key) = &spec.api_key {
            let (name, value) = match auth {
                Auth::Bearer => (http::header::AUTHORIZATION, format!("Bearer {}", key.expose())),
                Auth::Header(name) => (HeaderName::from_static(name), key.expose().to_owned()),
            };
            let mut value = HeaderValue::try_from(value)
                .map_err(|_| "api_key contains characters not allowed in a header".to_owned())?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(Self { client, base_url, headers })
    }

    /// Adds a fixed header sent on every request.
    pub fn insert(&mut self, name: &'static str, value: HeaderValue) {
        self.headers.insert(HeaderName::from_static(name), value);
    }

    /// A POST of `body` to `uri` with the provider's headers, the call's request id and
    /// trace context, and `accept` for SSE when `sse`.
    pub fn post(
        &self,
        uri: &str,
        call: &UpstreamCall,
        body: Bytes,
        sse: bool,
    ) -> Result<Request<Full<Bytes>>, UpstreamFailure> {
        let mut builder = Request::builder().method(Method::POST).uri(uri);
        if let Some(h) = builder.headers_mut() {
            h.clone_from(&self.headers);
            h.insert(ACCEPT, HeaderValue::from_static(if sse { "text/event-stream" } else { "application/json" }));
            h.insert("x-request-id", call.request_id.clone());
            if let Some(tp) = &call.traceparent {
                h.insert("traceparent", tp.clone());
            }
        }
        builder.body(Full::new(body)).map_err(|_| UpstreamFailure::Connect)
    }
}

/// One exchange: response headers within the call's timeouts, body untranslated.
pub(super) async fn exchange(
    client: &UpstreamClient,
    req: Request<Full<Bytes>>,
    call_timeouts: &switchyard_config::Timeouts,
) -> Result<UpstreamResponse, UpstreamFailure> {
    let resp = client.send(req, call_timeouts).await?;
    let (parts, body) = resp.into_parts();
    let mut out = UpstreamResponse::plain(parts.status, parts.headers.get(CONTENT_TYPE).cloned(), body);
    out.retry_after = parts
        .headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| std::time::Duration::from_secs_f64(s.min(86_400.0)));
    Ok(out)
}
