//! The header names the data plane sets and reads on every request, checked once at
//! compile time.
//!
//! A `&'static str` name passed to `HeaderMap::insert` or `get` is parsed and validated
//! byte by byte on every call (about 500 instructions an insert, counted with
//! `benches/instructions.sh`); a `HeaderName` constant is not. Standard names come from
//! [`http::header`].

use http::HeaderName;

/// The client's (or the gateway's) request id, echoed and sent upstream.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The gateway's own request id (the record's key).
pub const X_SWITCHYARD_REQUEST_ID: HeaderName = HeaderName::from_static("x-switchyard-request-id");
/// SPEC §3 attribution: the group that served.
pub const X_SWITCHYARD_GROUP: HeaderName = HeaderName::from_static("x-switchyard-group");
/// SPEC §3 attribution: the member that served (also the pinning request header).
pub const X_SWITCHYARD_MEMBER: HeaderName = HeaderName::from_static("x-switchyard-member");
/// SPEC §3 attribution: the member's role.
pub const X_SWITCHYARD_ROLE: HeaderName = HeaderName::from_static("x-switchyard-role");
/// SPEC §3 attribution: why the member was chosen.
pub const X_SWITCHYARD_ASSIGNMENT: HeaderName = HeaderName::from_static("x-switchyard-assignment");
/// SPEC §3 attribution: the routing-table version the request ran on.
pub const X_SWITCHYARD_CONFIG_VERSION: HeaderName = HeaderName::from_static("x-switchyard-config-version");
/// The sticky key a client sends.
pub const X_SWITCHYARD_STICKY_KEY: HeaderName = HeaderName::from_static("x-switchyard-sticky-key");
/// `server-timing: overhead;dur=…, upstream;dur=…`.
pub const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");
/// W3C trace context.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// W3C trace context, vendor part.
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
