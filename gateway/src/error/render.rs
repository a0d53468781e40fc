//! The one place a [`GatewayError`] becomes an HTTP response.
//!
//! The body is in the client's wire format: OpenAI's `{"error":{"message","type","code"}}`,
//! Anthropic's `{"type":"error","error":{"type","message"}}`, or OIP's
//! `{"error":"<message>"}`; a stream that already started ends with the same body as one
//! SSE event. Messages are fixed text plus values the gateway chose (group and member
//! names from the config, limits) — never a header value or a secret. The one exception is
//! [`GatewayError::UpstreamRejected`], whose body is the upstream's own JSON answer (the
//! client's request was at fault and the upstream says how).

use bytes::Bytes;
use http::header::{HeaderName, ALLOW, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response};

use super::{Blame, GatewayError};
use crate::providers::anthropic::anthropic_error_type;
use crate::providers::WireFormat;
use crate::proxy::GatewayBody;

/// Upstream statuses whose JSON body is passed to the client
/// ([`GatewayError::UpstreamRejected`]).
pub const PASS_THROUGH: [u16; 5] = [400, 404, 413, 422, 429];

// === impl GatewayError ===

impl GatewayError {
    /// The response a client in `format` gets.
    pub fn to_response(&self, format: WireFormat) -> Response<GatewayBody> {
        let mut resp = Response::new(GatewayBody::full(self.body_for(format)));
        *resp.status_mut() = self.status();
        resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some((name, value)) = self.extra_header() {
            resp.headers_mut().insert(name, value);
        }
        if let GatewayError::RateLimited(limited) = self {
            limited.write_headers(resp.headers_mut());
        }
        resp
    }

    /// The error body in a client's wire format.
    pub fn body_for(&self, format: WireFormat) -> Bytes {
        if let GatewayError::UpstreamRejected { body, .. } = self {
            return body.clone();
        }
        let message = self.to_string();
        let body = match format {
            WireFormat::OpenAi => serde_json::json!({
                "error": { "message": message, "type": self.openai_type(), "code": self.class().as_str() }
            }),
            WireFormat::Anthropic => serde_json::json!({
                "type": "error", "error": { "type": anthropic_error_type(self.status().as_u16()), "message": message }
            }),
            WireFormat::Oip => serde_json::json!({ "error": message }),
        };
        Bytes::from(body.to_string())
    }

    /// A Server-Sent Event carrying this error in a client's format, to end a stream that
    /// already started (Anthropic: an `event: error`, which its SDKs raise as an API error).
    pub fn sse_event_for(&self, format: WireFormat) -> Bytes {
        let mut out = Vec::with_capacity(192);
        if format == WireFormat::Anthropic {
            out.extend_from_slice(b"event: error\n");
        }
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&self.body_for(format));
        out.extend_from_slice(b"\n\n");
        Bytes::from(out)
    }

    /// OpenAI error `type`.
    fn openai_type(&self) -> &'static str {
        match (self.blame(), self) {
            (_, GatewayError::MissingKey | GatewayError::InvalidKey) => "authentication_error",
            (_, GatewayError::GroupForbidden(_)) => "permission_error",
            (_, GatewayError::UnknownGroup(_) | GatewayError::NotFound(_) | GatewayError::UnknownInference) => {
                "not_found_error"
            }
            (_, GatewayError::RateLimited(_) | GatewayError::FeedbackRepeated { .. }) => "rate_limit_error",
            (Blame::Client, _) => "invalid_request_error",
            (Blame::Upstream, _) => "upstream_error",
            (Blame::Internal, _) => "server_error",
        }
    }

    /// The header this error calls for (RFC 9110: `Allow` on 405, `WWW-Authenticate` on
    /// 401; `Retry-After` on 503).
    fn extra_header(&self) -> Option<(HeaderName, HeaderValue)> {
        match self {
            GatewayError::SpoolFull | GatewayError::NotReady => Some((RETRY_AFTER, HeaderValue::from_static("1"))),
            GatewayError::MethodNotAllowed(allow) => Some((ALLOW, HeaderValue::from_static(allow))),
            GatewayError::MissingKey | GatewayError::InvalidKey => {
                Some((WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_has_its_shape() {
        let e = GatewayError::UnknownGroup("g".into());
        let openai: serde_json::Value = serde_json::from_slice(&e.body_for(WireFormat::OpenAi)).expect("json");
        assert_eq!(openai["error"]["code"], "unknown_group");
        assert_eq!(openai["error"]["type"], "not_found_error");
        let anthropic: serde_json::Value = serde_json::from_slice(&e.body_for(WireFormat::Anthropic)).expect("json");
        assert_eq!(
            (anthropic["type"].as_str(), anthropic["error"]["type"].as_str()),
            (Some("error"), Some("not_found_error"))
        );
        let oip: serde_json::Value = serde_json::from_slice(&e.body_for(WireFormat::Oip)).expect("json");
        assert_eq!(oip["error"], "model group `g` does not exist");
        let sse = GatewayError::NotReady.sse_event_for(WireFormat::Anthropic);
        assert!(sse.starts_with(b"event: error\ndata: {"), "{sse:?}");
    }

    #[test]
    fn a_rejected_request_passes_the_upstream_body_and_status() {
        let body = Bytes::from_static(br#"{"error":{"message":"too long"}}"#);
        let e = GatewayError::UpstreamRejected { member: "m".into(), status: 400, body: body.clone() };
        let resp = e.to_response(WireFormat::OpenAi);
        assert_eq!(resp.status(), 400);
        assert_eq!(e.body_for(WireFormat::OpenAi), body);
        let resp = GatewayError::MissingKey.to_response(WireFormat::OpenAi);
        assert_eq!(resp.headers()[WWW_AUTHENTICATE], "Bearer");
    }
}
