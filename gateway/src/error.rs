//! Data-plane errors and the one place they become HTTP responses.
//!
//! Every [`GatewayError`] knows its [`Blame`] (client, upstream, internal) and whether a
//! retry could help. [`GatewayError::to_response`] is the only mapping to HTTP: an
//! OpenAI-shaped `{"error":{"message","type","code"}}` body with the right status — or,
//! for Anthropic and OIP clients, that format's error shape ([`GatewayError::body_for`]). Messages
//! are written here from fixed text plus values the gateway chose (group and member names
//! from the config, limits) — never an upstream body, a header value or a secret.

use bytes::Bytes;
use http::{HeaderValue, StatusCode};

use crate::providers::anthropic::convert::anthropic_error_type;
use crate::providers::WireFormat;

/// Who caused a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The request was wrong; retrying it unchanged will fail again.
    Client,
    /// The upstream model server failed or misbehaved.
    Upstream,
    /// The gateway itself (not ready, overloaded, a bug).
    Internal,
}

/// Everything that can go wrong with one data-plane request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The body is not valid JSON (or not an object).
    #[error("request body is not valid JSON: {0}")]
    BadJson(String),
    /// A field has the wrong type or is missing.
    #[error("{0}")]
    BadField(String),
    /// Body over `limits.max_body_bytes`.
    #[error("request body exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The configured limit.
        limit: u64,
    },
    /// The body did not arrive within `limits.body_timeout_ms`.
    #[error("request body was not received in time")]
    BodyTimeout,
    /// No `authorization: Bearer` header when keys are required.
    #[error("missing API key: send `authorization: Bearer <key>`")]
    MissingKey,
    /// A key no client has.
    #[error("invalid API key")]
    InvalidKey,
    /// The client may not use this group.
    #[error("this key may not use model group `{0}`")]
    GroupForbidden(String),
    /// `model` names no group.
    #[error("model group `{0}` does not exist")]
    UnknownGroup(String),
    /// `x-switchyard-member` names no member of the group.
    #[error("group `{group}` has no member `{member}`")]
    UnknownMember {
        /// The group.
        group: String,
        /// The member the client asked for (validated to be printable and short).
        member: String,
    },
    /// No such route.
    #[error("no route for {0}")]
    NotFound(String),
    /// Route exists, method does not; carries the allowed method.
    #[error("method not allowed")]
    MethodNotAllowed(&'static str),
    /// Could not connect to the upstream.
    #[error("upstream `{member}` is unreachable")]
    UpstreamConnect {
        /// The member.
        member: String,
    },
    /// The upstream did not answer (or stalled) in time.
    #[error("upstream `{member}` timed out ({phase})")]
    UpstreamTimeout {
        /// The member.
        member: String,
        /// `first_byte`, `idle` or `total`.
        phase: &'static str,
    },
    /// The upstream answered with an error status.
    #[error("upstream `{member}` failed with status {status}")]
    UpstreamStatus {
        /// The member.
        member: String,
        /// The upstream's status.
        status: u16,
    },
    /// The upstream sent something that is not a valid response.
    #[error("upstream `{member}` returned an invalid response")]
    UpstreamInvalid {
        /// The member.
        member: String,
    },
    /// The upstream connection broke.
    #[error("upstream `{member}` closed the connection")]
    UpstreamReset {
        /// The member.
        member: String,
    },
    /// The member's provider kind cannot serve this endpoint.
    #[error("member `{member}` cannot serve {endpoint} requests")]
    Unsupported {
        /// The member.
        member: String,
        /// The endpoint, e.g. `oip.infer`.
        endpoint: &'static str,
    },
    /// Shutting down or not ready.
    #[error("the gateway is not ready")]
    NotReady,
    /// The record spool is full and `when_full: reject` is set.
    #[error("the inference record spool is full; retry later")]
    SpoolFull,
}

// === impl GatewayError ===

impl GatewayError {
    /// Who caused it.
    pub fn blame(&self) -> Blame {
        use GatewayError::*;
        match self {
            BadJson(_)
            | BadField(_)
            | BodyTooLarge { .. }
            | BodyTimeout
            | MissingKey
            | InvalidKey
            | GroupForbidden(_)
            | UnknownGroup(_)
            | UnknownMember { .. }
            | NotFound(_)
            | MethodNotAllowed(_)
            | Unsupported { .. } => Blame::Client,
            UpstreamConnect { .. }
            | UpstreamTimeout { .. }
            | UpstreamStatus { .. }
            | UpstreamInvalid { .. }
            | UpstreamReset { .. } => Blame::Upstream,
            NotReady | SpoolFull => Blame::Internal,
        }
    }

    /// Whether trying again (elsewhere or later) could succeed.
    pub fn retryable(&self) -> bool {
        use GatewayError::*;
        match self {
            UpstreamConnect { .. } | UpstreamReset { .. } | NotReady | SpoolFull => true,
            UpstreamStatus { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            UpstreamTimeout { phase, .. } => *phase == "first_byte",
            _ => false,
        }
    }

    /// Stable class for records and `upstream_errors_total{kind}`.
    pub fn class(&self) -> &'static str {
        use GatewayError::*;
        match self {
            BadJson(_) => "bad_json",
            BadField(_) => "bad_request",
            BodyTooLarge { .. } => "body_too_large",
            BodyTimeout => "body_timeout",
            MissingKey | InvalidKey => "unauthenticated",
            GroupForbidden(_) => "forbidden",
            UnknownGroup(_) => "unknown_group",
            UnknownMember { .. } => "unknown_member",
            NotFound(_) => "not_found",
            MethodNotAllowed(_) => "method_not_allowed",
            UpstreamConnect { .. } => "upstream_connect",
            UpstreamTimeout { .. } => "upstream_timeout",
            UpstreamStatus { .. } => "upstream_status",
            UpstreamInvalid { .. } => "upstream_invalid",
            UpstreamReset { .. } => "upstream_reset",
            Unsupported { .. } => "unsupported_endpoint",
            NotReady => "not_ready",
            SpoolFull => "spool_full",
        }
    }

    /// The HTTP status the client gets.
    pub fn status(&self) -> StatusCode {
        use GatewayError::*;
        match self {
            BadJson(_) | BadField(_) | UnknownMember { .. } | Unsupported { .. } => StatusCode::BAD_REQUEST,
            BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            MissingKey | InvalidKey => StatusCode::UNAUTHORIZED,
            GroupForbidden(_) => StatusCode::FORBIDDEN,
            UnknownGroup(_) | NotFound(_) => StatusCode::NOT_FOUND,
            MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            UpstreamConnect { .. } | UpstreamInvalid { .. } | UpstreamReset { .. } => StatusCode::BAD_GATEWAY,
            UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            UpstreamStatus { status, .. } => match status {
                429 => StatusCode::TOO_MANY_REQUESTS,
                // The client's own request was wrong; say so with the upstream's status.
                400 | 404 | 413 | 422 => StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY),
                // 401/403 mean the gateway's provider credentials are wrong: not the client's fault.
                _ => StatusCode::BAD_GATEWAY,
            },
            NotReady | SpoolFull => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// OpenAI error `type`.
    fn error_type(&self) -> &'static str {
        match (self.blame(), self) {
            (_, GatewayError::MissingKey | GatewayError::InvalidKey) => "authentication_error",
            (_, GatewayError::GroupForbidden(_)) => "permission_error",
            (_, GatewayError::UnknownGroup(_) | GatewayError::NotFound(_)) => "not_found_error",
            (_, GatewayError::UpstreamStatus { status: 429, .. }) => "rate_limit_error",
            (Blame::Client, _) => "invalid_request_error",
            (Blame::Upstream, _) => "upstream_error",
            (Blame::Internal, _) => "server_error",
        }
    }

    /// The OpenAI-shaped JSON body.
    pub fn body(&self) -> Bytes {
        let body = serde_json::json!({
            "error": { "message": self.to_string(), "type": self.error_type(), "code": self.class() }
        });
        Bytes::from(body.to_string())
    }

    /// The error body in a client's wire format: OpenAI's shape, Anthropic's
    /// `{"type":"error","error":{"type","message"}}`, or OIP's `{"error": "<message>"}`.
    pub fn body_for(&self, format: WireFormat) -> Bytes {
        match format {
            WireFormat::OpenAi => self.body(),
            WireFormat::Anthropic => {
                let kind = anthropic_error_type(self.status().as_u16());
                let body = serde_json::json!({"type": "error", "error": {"type": kind, "message": self.to_string()}});
                Bytes::from(body.to_string())
            }
            WireFormat::Oip => Bytes::from(serde_json::json!({"error": self.to_string()}).to_string()),
        }
    }

    /// A Server-Sent Event carrying this error, to end a stream that already started.
    pub fn sse_event(&self) -> Bytes {
        self.sse_event_for(WireFormat::OpenAi)
    }

    /// [`Self::sse_event`] in a client's format (Anthropic: an `event: error`, with an
    /// overloaded/timeout type its SDKs raise as an API error).
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

    /// Extra headers this error calls for (RFC 9110: `Allow` on 405, `WWW-Authenticate`
    /// on 401; `Retry-After` on 503).
    pub fn extra_headers(&self) -> Option<(http::header::HeaderName, HeaderValue)> {
        use http::header::{ALLOW, RETRY_AFTER, WWW_AUTHENTICATE};
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
