//! Phase 5, **translate & forward**, for one member: attempts, retries and the breaker.
//!
//! [`serve`] sends the call to a member through its adapter (translated by
//! [`super::egress`] when the member speaks another format) and returns an [`Answer`]
//! once something can go to the client: response headers of a stream, or a complete,
//! checked, client-format body. Everything here happens before the first byte reaches
//! the client, so a failed attempt can be retried: connect errors, resets and statuses
//! 429/502/503/504 are retried up to `retries.max_retries` times with capped, jittered
//! backoff (at least the upstream's `Retry-After`, not at all if that is longer than
//! `max_backoff_ms`), while the group's retry budget allows and the total deadline leaves
//! room. Every attempt's outcome is reported to the member's breaker.

use std::time::Duration;

use bytes::Bytes;
use switchyard_config::Member;
use tokio::time::Instant;

use super::body::{collect_upstream, CollectError};
use super::egress::{self, Route};
use super::resilience::backoff;
use super::usage::usage_of_json;
use super::Shared;
use crate::error::GatewayError;
use crate::providers::{SharedAdapter, UpstreamCall, UpstreamFailure, UpstreamResponse};

/// Upstream statuses whose body is passed to the client: the client's own request was
/// at fault (or it is being rate limited), and the upstream says how.
pub const PASS_THROUGH: [u16; 5] = [400, 404, 413, 422, 429];

/// What a member answered.
pub enum Answer {
    /// A successful stream: headers arrived, the body follows.
    Stream(UpstreamResponse),
    /// A complete body in the client's format: a success, or a pass-through error.
    Full {
        /// Status to send.
        status: u16,
        /// The body.
        bytes: Bytes,
    },
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
}

/// Serves `call` on `member` of `group`, retrying before the first byte.
pub async fn serve(
    shared: &Shared,
    group: &switchyard_config::Group<SharedAdapter>,
    member: &Member<SharedAdapter>,
    call: &UpstreamCall,
    budget: Budget,
) -> Result<Answer, GatewayError> {
    let adapter = &member.provider.runtime;
    let endpoint = call.endpoint;
    let unsupported = || GatewayError::Unsupported { member: member.name.clone(), endpoint: endpoint.as_str() };
    let route = egress::route(&**adapter, endpoint).ok_or_else(unsupported)?;
    let call = egress::call_for(route, call, &member.model)
        .ok_or_else(|| GatewayError::BadField("the body is not a valid Messages request".into()))?;
    let res = &shared.metrics.resilience;
    let breaker = group.breaker.enabled.then(|| res.breaker(&group.name, &member.name));
    let policy = &group.retries;
    let mut retries = 0;
    loop {
        let (result, retry_after) = once(adapter, route, call.clone(), budget, &member.name).await;
        if let Some(b) = &breaker {
            b.record(!counts_against_breaker(&result), &group.breaker);
        }
        let retryable = match &result {
            Ok(Answer::Full { status, .. }) => *status == 429,
            Ok(Answer::Stream(_)) => false,
            Err(e) => retryable(e),
        };
        if !retryable || retries >= policy.max_retries {
            return result;
        }
        let Some(wait) = backoff(policy, retries + 1, retry_after) else { return result };
        if Instant::now() + wait >= budget.deadline || !res.budget(&group.name, policy).withdraw() {
            return result;
        }
        retries += 1;
        shared.metrics.retries.with_label_values(&[&group.name, &member.name]).inc();
        tracing::debug!(group = %group.name, member = %member.name, retry = retries, wait_ms = wait.as_millis() as u64, "retrying upstream");
        tokio::time::sleep(wait).await;
    }
}

/// One attempt, and the upstream's `Retry-After`.
pub async fn once(
    adapter: &SharedAdapter,
    route: Route,
    call: UpstreamCall,
    budget: Budget,
    member: &str,
) -> (Result<Answer, GatewayError>, Option<Duration>) {
    let stream = call.stream;
    let resp = match tokio::time::timeout_at(budget.deadline, adapter.call(call)).await {
        Err(_) => return (Err(GatewayError::UpstreamTimeout { member: member.to_owned(), phase: "total" }), None),
        Ok(Err(f)) => return (Err(upstream_error(f, member)), None),
        Ok(Ok(resp)) => egress::answer(route, resp, stream),
    };
    let retry_after = resp.retry_after;
    if stream && resp.status.is_success() {
        return (Ok(Answer::Stream(resp)), None);
    }
    let status = resp.status;
    let collected = collect_upstream(resp.body, budget.max_bytes, budget.idle, budget.deadline).await;
    let member = member.to_owned();
    let bytes = match collected {
        Ok(b) => b,
        Err(CollectError::Idle) => return (Err(GatewayError::UpstreamTimeout { member, phase: "idle" }), None),
        Err(CollectError::Total) => return (Err(GatewayError::UpstreamTimeout { member, phase: "total" }), None),
        Err(CollectError::Reset) => return (Err(GatewayError::UpstreamReset { member }), None),
        Err(CollectError::TooLarge) => return (Err(GatewayError::UpstreamInvalid { member }), None),
    };
    let Some(bytes) = UpstreamResponse::convert_full(resp.convert, status, bytes) else {
        return (Err(GatewayError::UpstreamInvalid { member }), retry_after);
    };
    let is_json = usage_of_json(&bytes).is_some();
    let code = status.as_u16();
    let result = if status.is_success() {
        if is_json {
            Ok(Answer::Full { status: 200, bytes })
        } else {
            Err(GatewayError::UpstreamInvalid { member })
        }
    } else if PASS_THROUGH.contains(&code) && is_json {
        Ok(Answer::Full { status: code, bytes })
    } else {
        Err(GatewayError::UpstreamStatus { member, status: code })
    };
    (result, retry_after)
}

/// Failures SPEC counts as retryable: connect errors, resets, 429/502/503/504.
fn retryable(e: &GatewayError) -> bool {
    match e {
        GatewayError::UpstreamConnect { .. } | GatewayError::UpstreamReset { .. } => true,
        GatewayError::UpstreamStatus { status, .. } => matches!(status, 429 | 502 | 503 | 504),
        _ => false,
    }
}

/// Whether an outcome says the member is unhealthy (client errors and rate limits do not).
fn counts_against_breaker(result: &Result<Answer, GatewayError>) -> bool {
    match result {
        Ok(_) => false,
        Err(GatewayError::UpstreamStatus { status, .. }) => *status >= 500,
        Err(e) => e.blame() == crate::error::Blame::Upstream,
    }
}

/// Whether a challenger's failure may be served by the champion instead: any upstream
/// failure or rate limit, and members that cannot serve the endpoint — not errors in the
/// client's own request.
pub fn may_fall_back(result: &Result<Answer, GatewayError>) -> bool {
    match result {
        Ok(Answer::Full { status, .. }) => *status == 429,
        Ok(Answer::Stream(_)) => false,
        Err(GatewayError::Unsupported { .. }) => true,
        Err(GatewayError::UpstreamStatus { status, .. }) => !PASS_THROUGH.contains(status),
        Err(e) => e.blame() == crate::error::Blame::Upstream,
    }
}

/// The data-plane error for an adapter failure.
pub fn upstream_error(f: UpstreamFailure, member: &str) -> GatewayError {
    let member = member.to_owned();
    match f {
        UpstreamFailure::Connect => GatewayError::UpstreamConnect { member },
        UpstreamFailure::FirstByteTimeout => GatewayError::UpstreamTimeout { member, phase: "first_byte" },
        UpstreamFailure::Reset => GatewayError::UpstreamReset { member },
    }
}
