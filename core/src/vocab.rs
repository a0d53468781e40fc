//! The words that config, records, metrics and response headers share: a member's
//! [`Role`], why it was chosen ([`AssignmentReason`]) and how a request failed
//! ([`ErrorClass`]). Each serialises to the same lowercase name everywhere (YAML, spool
//! JSON, ClickHouse columns, headers, metric labels), so a record and a header can never
//! disagree and a typo is a compile error rather than a new label value.

use serde::{Deserialize, Serialize};

/// A member's role in its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The incumbent; exactly one per group.
    #[default]
    Champion,
    /// A contender receiving a share of live traffic.
    Challenger,
    /// Receives mirrored copies; its answers never reach clients.
    Shadow,
}

/// Why a member was chosen for a request (SPEC §3 `x-switchyard-assignment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentReason {
    /// Weighted random draw.
    #[default]
    Random,
    /// Stable hash of the sticky key.
    Sticky,
    /// `x-switchyard-member` named the member.
    Pinned,
    /// The assigned member failed or was unavailable; the champion served instead.
    Fallback,
    /// A mirrored copy sent to a shadow member.
    Shadow,
}

/// How a request failed, as records and metrics name it; [`ErrorClass::None`] (the empty
/// string) is success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// No error.
    #[default]
    #[serde(rename = "")]
    None,
    /// The body is not valid JSON (or not an object).
    BadJson,
    /// A field is missing or has the wrong type.
    BadRequest,
    /// The body is over the limit.
    BodyTooLarge,
    /// The body did not arrive in time.
    BodyTimeout,
    /// No key or a wrong key.
    Unauthenticated,
    /// The key may not use this group.
    Forbidden,
    /// No such group.
    UnknownGroup,
    /// No such member.
    UnknownMember,
    /// No such route.
    NotFound,
    /// Wrong method for the route.
    MethodNotAllowed,
    /// Over a rate limit or quota.
    RateLimited,
    /// Could not connect to the upstream.
    UpstreamConnect,
    /// The upstream did not answer (or stalled) in time.
    UpstreamTimeout,
    /// The upstream answered with an error status.
    UpstreamStatus,
    /// The upstream's answer was not valid.
    UpstreamInvalid,
    /// The upstream connection broke.
    UpstreamReset,
    /// The member cannot serve this endpoint.
    UnsupportedEndpoint,
    /// The gateway is starting or draining.
    NotReady,
    /// The record spool is full and refuses new records.
    SpoolFull,
    /// The gateway itself failed (a bug; details in the log).
    Internal,
    /// The client went away before the answer was complete.
    ClientAborted,
}

// === impl Role ===

impl Role {
    /// The name used in config, headers, records and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Champion => "champion",
            Self::Challenger => "challenger",
            Self::Shadow => "shadow",
        }
    }
}

// === impl AssignmentReason ===

impl AssignmentReason {
    /// The name used in headers, records and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Random => "random",
            Self::Sticky => "sticky",
            Self::Pinned => "pinned",
            Self::Fallback => "fallback",
            Self::Shadow => "shadow",
        }
    }
}

// === impl ErrorClass ===

impl ErrorClass {
    /// Every class, for tests and documentation.
    pub const ALL: [ErrorClass; 22] = [
        Self::None,
        Self::BadJson,
        Self::BadRequest,
        Self::BodyTooLarge,
        Self::BodyTimeout,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::UnknownGroup,
        Self::UnknownMember,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::RateLimited,
        Self::UpstreamConnect,
        Self::UpstreamTimeout,
        Self::UpstreamStatus,
        Self::UpstreamInvalid,
        Self::UpstreamReset,
        Self::UnsupportedEndpoint,
        Self::NotReady,
        Self::SpoolFull,
        Self::Internal,
        Self::ClientAborted,
    ];

    /// The name used in records (`""` for success).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "",
            Self::BadJson => "bad_json",
            Self::BadRequest => "bad_request",
            Self::BodyTooLarge => "body_too_large",
            Self::BodyTimeout => "body_timeout",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::UnknownGroup => "unknown_group",
            Self::UnknownMember => "unknown_member",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RateLimited => "rate_limited",
            Self::UpstreamConnect => "upstream_connect",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::UpstreamStatus => "upstream_status",
            Self::UpstreamInvalid => "upstream_invalid",
            Self::UpstreamReset => "upstream_reset",
            Self::UnsupportedEndpoint => "unsupported_endpoint",
            Self::NotReady => "not_ready",
            Self::SpoolFull => "spool_full",
            Self::Internal => "internal",
            Self::ClientAborted => "client_aborted",
        }
    }

    /// Whether this is success.
    pub fn is_none(self) -> bool {
        self == Self::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_names_are_the_as_str_names() {
        for class in ErrorClass::ALL {
            let json = serde_json::to_string(&class).expect("serialises");
            assert_eq!(json, format!("\"{}\"", class.as_str()));
            assert_eq!(serde_json::from_str::<ErrorClass>(&json).expect("parses"), class);
        }
        for role in [Role::Champion, Role::Challenger, Role::Shadow] {
            assert_eq!(serde_json::to_string(&role).expect("serialises"), format!("\"{}\"", role.as_str()));
        }
        for r in [
            AssignmentReason::Random,
            AssignmentReason::Sticky,
            AssignmentReason::Pinned,
            AssignmentReason::Fallback,
            AssignmentReason::Shadow,
        ] {
            assert_eq!(serde_json::to_string(&r).expect("serialises"), format!("\"{}\"", r.as_str()));
        }
    }
}
