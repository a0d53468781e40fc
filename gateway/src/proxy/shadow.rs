//! Shadow members: a copy of the request goes to each shadow, off the hot path.
//!
//! For every shadow of the group a draw below its `mirror_percent` mirrors the request:
//! a mirror slot is taken with `try_acquire` (never waited for — when the group's
//! `mirror_concurrency` slots are all busy the copy is skipped and counted), and a task is
//! spawned that sends the call, drains the answer (observing usage), and records it with
//! role and assignment `shadow` and request id `<id>:<member>`. The answer never reaches
//! the client, and nothing on the client's path awaits the task: a slow or dead shadow
//! costs the real request one spawn. The task is bounded by the group's `total_ms`.

use std::sync::Arc;
use std::time::Instant;

use http::HeaderValue;
use http_body_util::BodyExt;
use switchyard_records::{AssignmentReason, InferenceRecord};
use tokio::sync::OwnedSemaphorePermit;

use super::forward::attempt::{self, Attempt};
use super::forward::egress::{self, Route};
use super::forward::{Answer, Budget};
use super::record::{attribute, Ending, Recorder};
use super::usage::{SseUsage, Usage};
use super::{Group, Member, Shared};
use crate::error::{GatewayError, TimeoutPhase};
use crate::providers::{UpstreamBody, UpstreamCall};
use crate::trace::AttemptSpan;
use tracing::Instrument;

/// One shadow copy on its way.
struct Copy {
    slot: OwnedSemaphorePermit,
    route: Route,
    call: UpstreamCall,
    record: InferenceRecord,
    budget: Budget,
}

/// Mirrors `call` to the group's shadows; `primary` is the real request's record.
pub fn mirror(
    shared: &Arc<Shared>,
    group: &Arc<Group>,
    call: &UpstreamCall,
    primary: &InferenceRecord,
    budget: Budget,
) {
    for (i, shadow) in group.shadows.iter().enumerate() {
        if shadow.mirror <= 0.0 || rand::random::<f64>() >= shadow.mirror {
            continue;
        }
        let copy = prepare(shared, group, shadow, call, primary, budget);
        let outcome = if copy.is_some() { "sent" } else { "skipped" };
        shared.metrics.mirrored.with_label_values(&[&group.name, &shadow.name, outcome]).inc();
        if let Some(copy) = copy {
            let (shared, group) = (shared.clone(), group.clone());
            let span = tracing::Span::current();
            tokio::spawn(async move { send(shared, &group, &group.shadows[i], copy).await }.instrument(span));
        }
    }
}

/// The copy for `shadow`, or `None` when it is skipped (no route, no free slot, no
/// translation).
fn prepare(
    shared: &Shared,
    group: &Group,
    shadow: &Member,
    call: &UpstreamCall,
    primary: &InferenceRecord,
    budget: Budget,
) -> Option<Copy> {
    let route = egress::route(&*shadow.provider.runtime, call.endpoint)?;
    let slot = shared.resilience.mirror_slots(&group.name, group.mirror_concurrency).try_acquire_owned().ok()?;
    let mut call = egress::call_for(route, call, &shadow.model)?;
    let id = format!("{}:{}", primary.request_id, shadow.name);
    call.request_id = HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("-"));
    let mut record = InferenceRecord { request_id: id, ..primary.clone() };
    attribute(&mut record, shadow, AssignmentReason::Shadow);
    record.weight = 0.0;
    Some(Copy { slot, route, call, record, budget })
}

/// Sends one copy and records what came back; its attempt span is a child of the
/// request's server span.
async fn send(shared: Arc<Shared>, group: &Group, shadow: &Member, mut copy: Copy) {
    let _slot = copy.slot;
    let mut recorder = Recorder::start(shared, copy.record, Instant::now());
    recorder.price_as(shadow);
    recorder.upstream_started();
    let span = AttemptSpan::start(&mut copy.call, &group.name, shadow, AssignmentReason::Shadow, 0);
    let Attempt { result, .. } = attempt::once(shadow, copy.route, copy.call, copy.budget).await;
    let span = span.settle(&result);
    let ending = match result {
        Ok(Answer::Full(_, usage)) => usage_ending(usage, None),
        Ok(Answer::Stream(resp)) => {
            let (usage, err) = drain(resp.body, copy.budget, &shadow.name).await;
            recorder.first_byte_sent();
            span.end_stream(usage.unwrap_or_default(), err.as_ref());
            usage_ending(usage.unwrap_or_default(), err.as_ref())
        }
        Err(e) => Ending::failed(&e, e.status().as_u16()),
    };
    recorder.finish(ending);
}

fn usage_ending(u: Usage, err: Option<&GatewayError>) -> Ending {
    Ending {
        status: 200,
        error_class: err.map(GatewayError::class).unwrap_or_default(),
        upstream_error: err.and_then(GatewayError::upstream_kind),
        input_tokens: u.prompt_tokens,
        output_tokens: u.completion_tokens,
        ..Ending::default()
    }
}

/// Reads a shadow's stream to the end, within the idle and total limits.
async fn drain(mut body: UpstreamBody, budget: Budget, member: &str) -> (Option<Usage>, Option<GatewayError>) {
    let mut usage = SseUsage::default();
    let timeout = |phase| GatewayError::UpstreamTimeout { member: member.to_owned(), phase };
    loop {
        let next = tokio::time::timeout(budget.idle, body.frame());
        let err = match tokio::time::timeout_at(budget.deadline, next).await {
            Err(_) => timeout(TimeoutPhase::Total),
            Ok(Err(_)) => timeout(TimeoutPhase::Idle),
            Ok(Ok(None)) => return (usage.usage, None),
            Ok(Ok(Some(Err(_)))) => GatewayError::UpstreamReset { member: member.to_owned() },
            Ok(Ok(Some(Ok(frame)))) => {
                if let Some(data) = frame.data_ref() {
                    usage.feed(data);
                }
                continue;
            }
        };
        return (usage.usage, Some(err));
    }
}
