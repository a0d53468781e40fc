//! One member, attempt by attempt: [`serve`] sends the call through the member's adapter
//! (translated by [`super::egress`] when the member speaks another format) and returns an
//! [`Answer`] once something can go to the client — response headers of a stream, or a
//! complete, checked, client-format body.
//!
//! Everything here happens before the first byte reaches the client, so a failed attempt
//! is retried when the error says so ([`GatewayError::retryable`]): up to
//! `retries.max_retries` times with capped, jittered backoff (at least the upstream's
//! `Retry-After`, not at all if that is longer than `max_backoff_ms`), while the group's
//! retry budget allows and the total deadline leaves room. Every attempt's outcome is
//! reported to the member's breaker ([`GatewayError::member_failed`]). Every attempt is
//! charged to its provider and member rate limits first ([`Ticket::attempt`]; the first
//! was paid by the limit phase): a first attempt over its limit fails as
//! [`GatewayError::RateLimited`], a retry over it is not made. A failed attempt's tokens
//! are refunded at once. Every attempt has its own client span ([`AttemptSpan`], SPEC §13)
//! named in the `traceparent` it sends; a stream's span stays open until the stream ends.

use std::time::Duration;

use tokio::time::Instant;

use super::egress::{self, Route};
use super::{Answer, Budget};
use crate::error::render::PASS_THROUGH;
use crate::error::{GatewayError, TimeoutPhase};
use crate::providers::complexity::json_elements;
use crate::providers::{UpstreamCall, UpstreamFailure, UpstreamResponse};
use crate::proxy::body::{collect_upstream, CollectError};
use crate::proxy::limit::Ticket;
use crate::proxy::scrub::scrub;
use crate::proxy::usage::usage_of_json;
use crate::proxy::{Group, Member, Shared};
use crate::resilience::retry_wait;
use crate::trace::AttemptSpan;
use switchyard_records::AssignmentReason;

/// One attempt's result and the upstream's `Retry-After`.
pub struct Attempt {
    /// What came back.
    pub result: Result<Answer, GatewayError>,
    /// How long the upstream asked to wait before trying again.
    pub retry_after: Option<Duration>,
}

/// Serves `call` on `member` of `group` (chosen for `reason`), retrying before the first
/// byte.
pub async fn serve(
    shared: &Shared,
    group: &Group,
    member: &Member,
    reason: AssignmentReason,
    call: &UpstreamCall,
    budget: Budget,
    ticket: &mut Ticket,
) -> Result<Answer, GatewayError> {
    let endpoint = call.endpoint;
    let route = egress::route(&*member.provider.runtime, endpoint)
        .ok_or_else(|| GatewayError::Unsupported { member: member.name.clone(), endpoint: endpoint.as_str() })?;
    if route == Route::AnthropicViaOpenAi || member.provider.runtime.translates(endpoint) {
        let limit = budget.max_translated_elements;
        if json_elements(&call.body, usize::try_from(limit).unwrap_or(usize::MAX)).is_none() {
            return Err(GatewayError::BodyTooComplex { limit });
        }
    }
    let call = egress::call_for(route, call, &member.model)
        .ok_or_else(|| GatewayError::BadField("the body is not a valid Messages request".into()))?;
    let breaker = group.breaker.enabled.then(|| shared.resilience.breaker(&group.name, &member.name));
    let policy = &group.retries;
    let mut retries = 0;
    let mut charge = ticket.attempt(group, member).await.map_err(GatewayError::RateLimited)?;
    loop {
        let mut attempt = call.clone();
        let span = AttemptSpan::start(&mut attempt, &group.name, member, reason, retries);
        let Attempt { result, retry_after } = once(member, route, attempt, budget).await;
        span.settle(&result).park();
        ticket.attempted(charge, result.is_ok());
        if let Some(b) = &breaker {
            b.record(!result.as_ref().is_err_and(GatewayError::member_failed), &group.breaker);
        }
        let Err(err) = &result else { return result };
        if !err.retryable() || retries >= policy.max_retries {
            return result;
        }
        let Some(wait) = retry_wait(policy, retries + 1, retry_after) else { return result };
        if Instant::now() + wait >= budget.deadline || !shared.resilience.budget(&group.name, policy).withdraw() {
            return result;
        }
        tokio::time::sleep(wait).await;
        charge = match ticket.attempt(group, member).await {
            Ok(charge) => charge,
            // The retry would go over the member's or provider's limit: not made.
            Err(_) => return result,
        };
        retries += 1;
        shared.metrics.retries.with_label_values(&[&group.name, &member.name]).inc();
        tracing::debug!(group = %group.name, member = %member.name, retry = retries, wait_ms = wait.as_millis() as u64, "retrying upstream");
    }
}

/// One attempt: the exchange, then — unless it is a successful stream — the collected
/// body, checked and in the client's format (an error body without the member's provider
/// secret: [`scrub`]).
pub async fn once(member: &Member, route: Route, call: UpstreamCall, budget: Budget) -> Attempt {
    let stream = call.stream;
    let name = member.name.as_str();
    let fail = |e| Attempt { result: Err(e), retry_after: None };
    let resp = match tokio::time::timeout_at(budget.deadline, member.provider.runtime.call(call)).await {
        Err(_) => return fail(timeout(name, TimeoutPhase::Total)),
        Ok(Err(f)) => return fail(upstream_error(f, name)),
        Ok(Ok(resp)) => egress::answer(route, resp, stream),
    };
    let retry_after = resp.retry_after;
    if stream && resp.status.is_success() {
        return Attempt { result: Ok(Answer::Stream(resp)), retry_after: None };
    }
    Attempt { result: collected(resp, budget, member).await, retry_after }
}

/// A non-streamed (or failed) answer, collected and judged.
async fn collected(resp: UpstreamResponse, budget: Budget, member: &Member) -> Result<Answer, GatewayError> {
    let status = resp.status;
    let name = member.name.as_str();
    let bytes =
        collect_upstream(resp.body, budget.max_bytes, budget.idle, budget.deadline).await.map_err(|e| match e {
            CollectError::Idle => timeout(name, TimeoutPhase::Idle),
            CollectError::Total => timeout(name, TimeoutPhase::Total),
            CollectError::Reset => GatewayError::UpstreamReset { member: name.to_owned() },
            CollectError::TooLarge => GatewayError::UpstreamInvalid { member: name.to_owned() },
        })?;
    // An error body may quote the request back, key and all; it is scrubbed before it is
    // translated, passed on or stored. Successful bodies are not searched here.
    let bytes = if status.is_success() { bytes } else { scrub(bytes, member.provider.spec.api_key.as_ref()) };
    let invalid = || GatewayError::UpstreamInvalid { member: name.to_owned() };
    let bytes = UpstreamResponse::convert_full(resp.convert, status, bytes).ok_or_else(invalid)?;
    let usage = usage_of_json(&bytes);
    let code = status.as_u16();
    if status.is_success() {
        return usage.map(|usage| Answer::Full(bytes, usage)).ok_or_else(invalid);
    }
    if PASS_THROUGH.contains(&code) && usage.is_some() {
        return Err(GatewayError::UpstreamRejected { member: name.to_owned(), status: code, body: bytes });
    }
    Err(GatewayError::UpstreamStatus { member: name.to_owned(), status: code })
}

fn timeout(member: &str, phase: TimeoutPhase) -> GatewayError {
    GatewayError::UpstreamTimeout { member: member.to_owned(), phase }
}

/// The data-plane error for an adapter failure.
pub fn upstream_error(f: UpstreamFailure, member: &str) -> GatewayError {
    let member = member.to_owned();
    match f {
        UpstreamFailure::Connect => GatewayError::UpstreamConnect { member },
        UpstreamFailure::FirstByteTimeout => GatewayError::UpstreamTimeout { member, phase: TimeoutPhase::FirstByte },
        UpstreamFailure::Reset => GatewayError::UpstreamReset { member },
        UpstreamFailure::Request => GatewayError::Internal("the upstream request could not be built"),
    }
}
