//! What every HTTP adapter shares: configured and auth headers, building the upstream
//! request (request id, trace context, `accept`), and the one skeleton of a call —
//! [`HttpBase::send`]: post, wait for the response headers through the pooled client
//! (status, `content-type`, `Retry-After` in either of its forms), then hand the response
//! to the adapter's translation (a stream event by event, a collected body once:
//! [`UpstreamResponse::translated`]).
//!
//! Invariant: secrets go into headers marked sensitive and nowhere else.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::Full;
use switchyard_config::ProviderSpec;

use super::{CallFuture, UpstreamCall, UpstreamFailure, UpstreamResponse};
use crate::headers;
use crate::upstream::UpstreamClient;
use switchyard_config::Timeouts;

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
            h.insert(headers::X_REQUEST_ID, call.request_id.clone());
            if let Some(tp) = &call.traceparent {
                h.insert(headers::TRACEPARENT, tp.clone());
                if let Some(ts) = &call.tracestate {
                    h.insert(headers::TRACESTATE, ts.clone());
                }
            }
        }
        builder.body(Full::new(body)).map_err(|_| UpstreamFailure::Request)
    }

    /// The call skeleton: posts `body` to `uri` and passes the response (headers
    /// arrived, body still streaming) through `then`, the adapter's translation.
    pub fn send(
        &self,
        uri: &str,
        call: &UpstreamCall,
        body: Bytes,
        then: impl FnOnce(UpstreamResponse) -> UpstreamResponse + Send + 'static,
    ) -> CallFuture {
        let req = self.post(uri, call, body, call.stream);
        let client = self.client.clone();
        let timeouts = call.timeouts;
        Box::pin(async move { Ok(then(exchange(&client, req?, &timeouts).await?)) })
    }
}

// === discovery ===

/// Characters escaped in a query value: all but RFC 3986's unreserved ones.
const QUERY_VALUE: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

impl HttpBase {
    /// A GET of `uri` (plus `page` as a query parameter) with the provider's headers:
    /// discovery (SPEC §8), never on a client's request path.
    pub fn get(&self, uri: &str, page: Option<(&str, &str)>, timeouts: Timeouts) -> CallFuture {
        let uri = match page {
            None => uri.to_owned(),
            Some((param, value)) => {
                let sep = if uri.contains('?') { '&' } else { '?' };
                let value = percent_encoding::utf8_percent_encode(value, QUERY_VALUE);
                format!("{uri}{sep}{param}={value}")
            }
        };
        let mut builder = Request::builder().method(Method::GET).uri(uri);
        if let Some(h) = builder.headers_mut() {
            h.clone_from(&self.headers);
            h.remove(CONTENT_TYPE);
            h.insert(ACCEPT, HeaderValue::from_static("application/json"));
        }
        let req = builder.body(Full::new(Bytes::new())).map_err(|_| UpstreamFailure::Request);
        let client = self.client.clone();
        Box::pin(async move { exchange(&client, req?, &timeouts).await })
    }
}

/// One exchange: response headers within the call's timeouts, body untranslated.
async fn exchange(
    client: &UpstreamClient,
    req: Request<Full<Bytes>>,
    call_timeouts: &switchyard_config::Timeouts,
) -> Result<UpstreamResponse, UpstreamFailure> {
    let resp = client.send(req, call_timeouts).await?;
    let (parts, body) = resp.into_parts();
    let mut out = UpstreamResponse::plain(parts.status, parts.headers.get(CONTENT_TYPE).cloned(), body);
    out.retry_after = parts.headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(retry_after);
    Ok(out)
}

/// Longest `Retry-After` taken into account (a day).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// A `Retry-After` value (RFC 9110 §10.2.3): delay seconds or an HTTP date.
fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Duration::from_secs_f64(s.min(MAX_RETRY_AFTER.as_secs_f64())),
        Ok(_) => return None,
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(std::time::SystemTime::now()).unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(retry_after("-1"), None);
        assert_eq!(retry_after("soon"), None);
        let in_a_minute = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(61));
        let wait = retry_after(&in_a_minute).expect("a date");
        assert!(wait > Duration::from_secs(55) && wait <= Duration::from_secs(61), "{wait:?}");
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO), "a date in the past");
    }
}
