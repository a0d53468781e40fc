//! Data-plane errors, and what each one decides.
//!
//! A [`GatewayError`] is asked — never second-guessed by string matching — everything the
//! request path needs to know about a failure:
//! - [`GatewayError::blame`]: client, upstream or internal (one [`Blame`] for every crate);
//! - [`GatewayError::retryable`]: whether the *same member* is tried again before the first
//!   byte (connect errors, resets, 429/502/503/504; not timeouts: a member that already
//!   took `first_byte_ms` would take it again, and the champion fallback covers it);
//! - [`GatewayError::member_failed`]: whether it counts against the member's breaker;
//! - [`GatewayError::may_fall_back`]: whether a challenger's failure is served by the
//!   champion instead;
//! - [`GatewayError::upstream_kind`] and [`GatewayError::class`]: the metric label and the
//!   record's [`ErrorClass`].
//!
//! [`render`] is the one place errors become HTTP responses.

pub mod render;

use bytes::Bytes;
use http::StatusCode;
pub use switchyard_core::Blame;
use switchyard_ratelimit::Limited;
use switchyard_records::ErrorClass;

/// Which upstream wait ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// No response headers within `first_byte_ms` (per attempt).
    FirstByte,
    /// A pause between body chunks longer than `idle_ms`.
    Idle,
    /// The whole exchange past `total_ms`.
    Total,
}

/// The `kind` label of `switchyard_upstream_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamKind {
    /// Could not connect.
    Connect,
    /// A timeout of any phase.
    Timeout,
    /// An error status.
    Status,
    /// An answer that is not valid.
    Invalid,
    /// The connection broke.
    Reset,
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
    /// The body has more JSON elements than `limits.max_translated_elements` and would
    /// have to be translated into the member's format.
    #[error("the request body has more than {limit} JSON elements, too many to translate for this member")]
    BodyTooComplex {
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
    /// Feedback names no inference of the caller's tenant (the same answer whether or not
    /// the id exists elsewhere).
    #[error("no inference with this request_id for this client")]
    UnknownInference,
    /// Feedback for a (request, metric) that already has the most values one replica takes.
    #[error("this request already has {limit} values for this metric")]
    FeedbackRepeated {
        /// The bound.
        limit: u8,
    },
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
    #[error("upstream `{member}` timed out ({})", phase.as_str())]
    UpstreamTimeout {
        /// The member.
        member: String,
        /// Which wait ran out.
        phase: TimeoutPhase,
    },
    /// The upstream answered with an error status the client is not told about in detail
    /// (5xx, and 401/403, which mean the gateway's own provider credentials are wrong).
    #[error("upstream `{member}` failed with status {status}")]
    UpstreamStatus {
        /// The member.
        member: String,
        /// The upstream's status.
        status: u16,
    },
    /// The upstream refused the request with a status whose JSON body the client gets
    /// (400, 404, 413, 422: the client's own request was at fault; 429: rate limited).
    #[error("upstream `{member}` refused the request with status {status}")]
    UpstreamRejected {
        /// The member.
        member: String,
        /// The upstream's status (one of [`render::PASS_THROUGH`]).
        status: u16,
        /// The upstream's body, already in the client's wire format.
        body: Bytes,
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
    /// Refused by a rate-limit rule (429), or rate limits could not be checked under
    /// `on_error: deny` (503). Carries `retry-after` and the `x-ratelimit-*` quotas.
    #[error("{0}")]
    RateLimited(Box<Limited>),
    /// A fault of the gateway itself (e.g. an upstream request it could not build). The
    /// message is fixed text; details go to the log.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

// === impl TimeoutPhase ===

impl TimeoutPhase {
    /// The name in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FirstByte => "first_byte",
            Self::Idle => "idle",
            Self::Total => "total",
        }
    }
}

// === impl UpstreamKind ===

impl UpstreamKind {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Status => "status",
            Self::Invalid => "invalid",
            Self::Reset => "reset",
        }
    }
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
            | BodyTooComplex { .. }
            | BodyTimeout
            | MissingKey
            | InvalidKey
            | GroupForbidden(_)
            | UnknownGroup(_)
            | UnknownMember { .. }
            | NotFound(_)
            | UnknownInference
            | FeedbackRepeated { .. }
            | MethodNotAllowed(_)
            | Unsupported { .. } => Blame::Client,
            UpstreamRejected { status, .. } if *status != 429 => Blame::Client,
            UpstreamConnect { .. }
            | UpstreamTimeout { .. }
            | UpstreamStatus { .. }
            | UpstreamRejected { .. }
            | UpstreamInvalid { .. }
            | UpstreamReset { .. } => Blame::Upstream,
            NotReady | SpoolFull | Internal(_) => Blame::Internal,
            // The client sent more than its limits allow; or the limit store is down.
            RateLimited(limited) => limited.blame(),
        }
    }

    /// Whether the same member is tried again before the first byte reaches the client:
    /// connect errors, resets, 429, 502, 503 and 504.
    pub fn retryable(&self) -> bool {
        use GatewayError::*;
        match self {
            UpstreamConnect { .. } | UpstreamReset { .. } => true,
            UpstreamStatus { status, .. } | UpstreamRejected { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            _ => false,
        }
    }

    /// Whether the failure says the member is unhealthy (its breaker counts it): upstream
    /// failures and 5xx — not the client's errors, rate limits or a credentials problem.
    pub fn member_failed(&self) -> bool {
        match self {
            GatewayError::UpstreamStatus { status, .. } => *status >= 500,
            GatewayError::UpstreamRejected { .. } | GatewayError::RateLimited(_) => false,
            e => e.blame() == Blame::Upstream,
        }
    }

    /// Whether a challenger's failure may be served by the champion instead: any upstream
    /// failure or rate limit, a member that cannot serve the endpoint, and the gateway's
    /// own provider or member limit — not errors in the client's own request, nor its
    /// client, tenant or group limits (the champion would be refused the same).
    pub fn may_fall_back(&self) -> bool {
        match self {
            GatewayError::Unsupported { .. } => true,
            GatewayError::RateLimited(limited) => limited.scope.is_some_and(switchyard_ratelimit::Scope::per_attempt),
            e => e.blame() == Blame::Upstream,
        }
    }

    /// The `switchyard_upstream_errors_total{kind}` label, for upstream failures.
    pub fn upstream_kind(&self) -> Option<UpstreamKind> {
        use GatewayError::*;
        Some(match self {
            UpstreamConnect { .. } => UpstreamKind::Connect,
            UpstreamTimeout { .. } => UpstreamKind::Timeout,
            UpstreamStatus { .. } | UpstreamRejected { .. } => UpstreamKind::Status,
            UpstreamInvalid { .. } => UpstreamKind::Invalid,
            UpstreamReset { .. } => UpstreamKind::Reset,
            _ => return None,
        })
    }

    /// The record's error class.
    pub fn class(&self) -> ErrorClass {
        use GatewayError::*;
        match self {
            BadJson(_) => ErrorClass::BadJson,
            BadField(_) => ErrorClass::BadRequest,
            BodyTooLarge { .. } | BodyTooComplex { .. } => ErrorClass::BodyTooLarge,
            BodyTimeout => ErrorClass::BodyTimeout,
            MissingKey | InvalidKey => ErrorClass::Unauthenticated,
            GroupForbidden(_) => ErrorClass::Forbidden,
            UnknownGroup(_) => ErrorClass::UnknownGroup,
            UnknownMember { .. } => ErrorClass::UnknownMember,
            NotFound(_) | UnknownInference => ErrorClass::NotFound,
            FeedbackRepeated { .. } => ErrorClass::RateLimited,
            MethodNotAllowed(_) => ErrorClass::MethodNotAllowed,
            UpstreamConnect { .. } => ErrorClass::UpstreamConnect,
            UpstreamTimeout { .. } => ErrorClass::UpstreamTimeout,
            UpstreamStatus { .. } | UpstreamRejected { .. } => ErrorClass::UpstreamStatus,
            UpstreamInvalid { .. } => ErrorClass::UpstreamInvalid,
            UpstreamReset { .. } => ErrorClass::UpstreamReset,
            Unsupported { .. } => ErrorClass::UnsupportedEndpoint,
            NotReady => ErrorClass::NotReady,
            SpoolFull => ErrorClass::SpoolFull,
            RateLimited(_) => ErrorClass::RateLimited,
            Internal(_) => ErrorClass::Internal,
        }
    }

    /// The HTTP status the client gets.
    pub fn status(&self) -> StatusCode {
        use GatewayError::*;
        match self {
            BadJson(_) | BadField(_) | UnknownMember { .. } | Unsupported { .. } => StatusCode::BAD_REQUEST,
            BodyTooLarge { .. } | BodyTooComplex { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            MissingKey | InvalidKey => StatusCode::UNAUTHORIZED,
            GroupForbidden(_) => StatusCode::FORBIDDEN,
            UnknownGroup(_) | NotFound(_) | UnknownInference => StatusCode::NOT_FOUND,
            FeedbackRepeated { .. } => StatusCode::TOO_MANY_REQUESTS,
            MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            UpstreamConnect { .. } | UpstreamInvalid { .. } | UpstreamReset { .. } => StatusCode::BAD_GATEWAY,
            UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            UpstreamRejected { status, .. } => StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY),
            // Hidden upstream failures, including 401/403: the gateway's provider
            // credentials are wrong, which is not the client's fault.
            UpstreamStatus { .. } => StatusCode::BAD_GATEWAY,
            NotReady | SpoolFull => StatusCode::SERVICE_UNAVAILABLE,
            // A rule said no: 429. No rule could be asked (`on_error: deny`): 503.
            RateLimited(limited) if limited.rule.is_some() => StatusCode::TOO_MANY_REQUESTS,
            RateLimited(_) => StatusCode::SERVICE_UNAVAILABLE,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

#[cfg(test)]
mod tests {
    use switchyard_ratelimit::Scope;

    use super::*;

    fn status(status: u16) -> GatewayError {
        GatewayError::UpstreamStatus { member: "m".into(), status }
    }

    fn rejected(status: u16) -> GatewayError {
        GatewayError::UpstreamRejected { member: "m".into(), status, body: Bytes::new() }
    }

    fn limited(scope: Option<Scope>) -> GatewayError {
        let rule = scope.map(|_| std::sync::Arc::<str>::from("r"));
        let mut l = Limited::backend_unavailable();
        (l.rule, l.scope) = (rule, scope);
        GatewayError::RateLimited(Box::new(l))
    }

    #[test]
    fn retry_breaker_and_fallback_agree_with_the_contract() {
        let connect = GatewayError::UpstreamConnect { member: "m".into() };
        let timeout = GatewayError::UpstreamTimeout { member: "m".into(), phase: TimeoutPhase::FirstByte };
        // (error, retried on the same member, counts against the breaker, falls back)
        let cases = [
            (connect, true, true, true),
            (GatewayError::UpstreamReset { member: "m".into() }, true, true, true),
            (timeout, false, true, true),
            (status(503), true, true, true),
            (status(500), false, true, true),
            (status(401), false, false, true),
            (rejected(429), true, false, true),
            (rejected(400), false, false, false),
            (rejected(422), false, false, false),
            (GatewayError::Unsupported { member: "m".into(), endpoint: "x" }, false, false, true),
            (GatewayError::BadJson("x".into()), false, false, false),
            (limited(Some(Scope::Provider)), false, false, true),
            (limited(Some(Scope::Member)), false, false, true),
            (limited(Some(Scope::Client)), false, false, false),
            (limited(None), false, false, false),
            (GatewayError::Internal("x"), false, false, false),
        ];
        for (e, retry, breaker, fallback) in cases {
            assert_eq!((e.retryable(), e.member_failed(), e.may_fall_back()), (retry, breaker, fallback), "{e:?}");
        }
    }

    #[test]
    fn statuses_and_classes() {
        assert_eq!(rejected(429).status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(rejected(404).status(), StatusCode::NOT_FOUND);
        assert_eq!(status(403).status(), StatusCode::BAD_GATEWAY);
        assert_eq!(rejected(400).class(), ErrorClass::UpstreamStatus);
        assert_eq!(rejected(400).upstream_kind(), Some(UpstreamKind::Status));
        assert_eq!(GatewayError::Internal("x").status(), StatusCode::INTERNAL_SERVER_ERROR);
        let over = limited(Some(Scope::Client));
        assert_eq!(
            (over.status(), over.class(), over.blame()),
            (StatusCode::TOO_MANY_REQUESTS, ErrorClass::RateLimited, Blame::Client)
        );
        let down = limited(None);
        assert_eq!((down.status(), down.blame()), (StatusCode::SERVICE_UNAVAILABLE, Blame::Upstream));
        let t = GatewayError::UpstreamTimeout { member: "m".into(), phase: TimeoutPhase::Idle };
        assert_eq!(t.to_string(), "upstream `m` timed out (idle)");
    }
}
