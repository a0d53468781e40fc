//! Phase 5, **translate & forward**: the request goes to its member — and, when a
//! challenger fails before the first byte and the group says `fallback: champion`, to the
//! champion instead.
//!
//! [`attempt`] serves one member (cross-format translation by [`egress`], retries and the
//! breaker); [`forward`] decides whether a failure is re-routed, which it asks the error
//! ([`GatewayError::may_fall_back`]): not for pinned requests, not for errors in the
//! client's own request. The one record then names the champion with assignment
//! `fallback`. Everything here happens before the first byte reaches the client.

pub mod attempt;
pub mod egress;

use std::time::Duration;

use bytes::Bytes;
use switchyard_config::schema::{Fallback, LimitsConfig};
use switchyard_records::{AssignmentReason, Role};
use tokio::time::Instant;

use super::assign::Decision;
use super::limit::Ticket;
use super::record::Recorder;
use super::{Group, Member, Shared};
use crate::error::GatewayError;
use crate::providers::{UpstreamCall, UpstreamResponse};
use crate::proxy::usage::Usage;

/// What a member answered, ready for the client.
pub enum Answer {
    /// A successful stream: headers arrived, the body follows.
    Stream(UpstreamResponse),
    /// A complete, successful body in the client's format, and the token usage it states
    /// (read once, when the body was checked to be JSON).
    Full(Bytes, Usage),
}

/// Limits of one request's upstream work.
#[derive(Clone, Copy)]
pub struct Budget {
    /// End of the whole exchange (group `total_ms` from the start).
    pub deadline: Instant,
    /// Largest collected body.
    pub max_bytes: u64,
    /// Longest pause between body chunks.
    pub idle: Duration,
    /// Most JSON elements of a body that is translated for the member.
    pub max_translated_elements: u64,
}

/// Who served the request, why, and what came back.
pub struct Served<'g> {
    /// The member that answered (or failed last).
    pub member: &'g Member,
    /// Why that member.
    pub reason: AssignmentReason,
    /// The answer.
    pub answer: Result<Answer, GatewayError>,
}

// === impl Budget ===

impl Budget {
    /// The budget of a request to `group` starting now, within `limits`.
    pub fn for_group(group: &Group, limits: &LimitsConfig) -> Self {
        Self {
            deadline: Instant::now() + group.timeouts.total,
            max_bytes: limits.max_response_bytes,
            idle: group.timeouts.idle,
            max_translated_elements: limits.max_translated_elements,
        }
    }
}

/// Forwards `call` to the decided member of `group`, falling back to the champion when
/// allowed; every attempt is charged to its rate limits through `ticket`.
pub async fn forward<'g>(
    shared: &Shared,
    group: &'g Group,
    decision: &Decision,
    call: &UpstreamCall,
    budget: Budget,
    recorder: &mut Recorder,
    ticket: &mut Ticket,
) -> Served<'g> {
    let member = &group.members[decision.index];
    recorder.upstream_started();
    let answer = attempt::serve(shared, group, member, decision.reason, call, budget, ticket).await;
    let failed = match &answer {
        Err(e) if may_fall_back(group, member, decision.reason, e) => e,
        _ => return Served { member, reason: decision.reason, answer },
    };
    tracing::debug!(group = %group.name, member = %member.name, "challenger failed; retrying on the champion");
    if let Some(kind) = failed.upstream_kind() {
        shared.metrics.upstream_errors.with_label_values(&[&group.name, &member.name, kind.as_str()]).inc();
    }
    let champion = group.champion();
    recorder.attribute(champion, AssignmentReason::Fallback);
    let answer = attempt::serve(shared, group, champion, AssignmentReason::Fallback, call, budget, ticket).await;
    Served { member: champion, reason: AssignmentReason::Fallback, answer }
}

fn may_fall_back(group: &Group, member: &Member, reason: AssignmentReason, err: &GatewayError) -> bool {
    group.fallback == Fallback::Champion
        && member.role == Role::Challenger
        && reason != AssignmentReason::Pinned
        && err.may_fall_back()
}
