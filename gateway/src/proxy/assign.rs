//! Phase 4, **assign**: which member serves this request, and why.
//!
//! Order of precedence: `x-switchyard-member` pins a member; otherwise a sticky key —
//! `x-switchyard-sticky-key`, else the group's configured source (a header or the body's
//! `user`) — is hashed with the group name to a bucket; otherwise the bucket is a random
//! draw. The group's precomputed sampler maps the bucket to a member (see
//! `switchyard_config::assign` for the layout and its stability guarantees).
//!
//! Then resilience has its say: a challenger whose circuit breaker is open gives its
//! share to the champion (recorded as `fallback`); pinned requests and champions are
//! never redirected. Every assigned request credits the group's retry budget.

use http::{HeaderMap, HeaderName};
use switchyard_config::assign::{bucket_of, random_bucket, sticky_hash};
use switchyard_config::{Group, StickySource};
use switchyard_records::{AssignmentReason, Role};

use super::resolve::Resolved;
use super::Shared;
use crate::error::GatewayError;
use crate::headers;

/// Header that pins a member.
pub const MEMBER_HEADER: HeaderName = headers::X_SWITCHYARD_MEMBER;
/// Header that carries a sticky key.
pub const STICKY_HEADER: HeaderName = headers::X_SWITCHYARD_STICKY_KEY;
/// Longest member name echoed back in an error.
const MAX_ECHO: usize = 64;

/// The assignment decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Index into `group.members`.
    pub index: usize,
    /// Why.
    pub reason: AssignmentReason,
    /// Hash of the sticky key (0 without one).
    pub sticky_hash: u64,
}

/// Assigns the resolved request to a member of its group.
pub fn assign(shared: &Shared, request: &Resolved, headers: &HeaderMap) -> Result<Decision, GatewayError> {
    let group = &*request.group;
    let mut decision = decide(group, headers, request.user.as_deref())?;
    let member = &group.members[decision.index];
    let may_redirect =
        group.breaker.enabled && decision.reason != AssignmentReason::Pinned && member.role == Role::Challenger;
    if may_redirect && !shared.resilience.breaker(&group.name, &member.name).admit(&group.breaker) {
        tracing::debug!(group = %group.name, member = %member.name, "breaker open; serving on the champion");
        decision.index = 0;
        decision.reason = AssignmentReason::Fallback;
    }
    shared.resilience.budget(&group.name, &group.retries).deposit(&group.retries);
    Ok(decision)
}

/// Decides the member for one request from its headers and body `user`.
pub fn decide<P>(group: &Group<P>, headers: &HeaderMap, body_user: Option<&str>) -> Result<Decision, GatewayError> {
    if let Some(pin) = headers.get(MEMBER_HEADER) {
        let name = pin.to_str().unwrap_or("");
        return match group.member_index(name) {
            Some(index) => Ok(Decision { index, reason: AssignmentReason::Pinned, sticky_hash: 0 }),
            None => Err(GatewayError::UnknownMember {
                group: group.name.clone(),
                member: name.chars().filter(|c| c.is_ascii_graphic()).take(MAX_ECHO).collect(),
            }),
        };
    }
    let key: Option<&[u8]> = match headers.get(STICKY_HEADER) {
        Some(v) => Some(v.as_bytes()),
        None => match &group.sticky {
            StickySource::None => None,
            StickySource::Header(name) => headers.get(name.as_str()).map(|v| v.as_bytes()),
            StickySource::BodyUser => body_user.map(str::as_bytes),
        },
    };
    Ok(match key {
        Some(key) if !key.is_empty() => {
            let hash = sticky_hash(&group.name, key);
            Decision { index: group.pick(bucket_of(hash)), reason: AssignmentReason::Sticky, sticky_hash: hash }
        }
        _ => Decision { index: group.pick(random_bucket()), reason: AssignmentReason::Random, sticky_hash: 0 },
    })
}
