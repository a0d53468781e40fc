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
use switchyard_config::Group;
use switchyard_records::{AssignmentReason, InferenceRecord};

use super::attempt::{self, Answer, Budget};
use super::egress;
use super::forward::upstream_kind;
use super::recorder::{Outcome, Recorder};
use super::usage::{usage_of_json, SseUsage};
use super::Shared;
use crate::error::GatewayError;
use crate::providers::{SharedAdapter, UpstreamBody, UpstreamCall};

/// Mirrors `call` to the group's shadows; `primary` is the real request's record.
pub fn mirror(shared: &Arc<Shared>, group: &Arc<Group<SharedAdapter>>, call: &UpstreamCall, primary: &InferenceRecord) {
    for (i, shadow) in group.shadows.iter().enumerate() {
        if shadow.mirror <= 0.0 || rand::random::<f64>() >= shadow.mirror {
            continue;
        }
        let count = |outcome: &str| {
            shared.metrics.mirrored.with_label_values(&[&group.name, &shadow.name, outcome]).inc();
        };
        let Some(route) = egress::route(&*shadow.provider.runtime, call.endpoint) else {
            count("skipped");
            continue;
        };
        let slots = shared.metrics.resilience.mirror_slots(&group.name, group.mirror_concurrency);
        let Ok(slot) = slots.try_acquire_owned() else {
            count("skipped");
            continue;
        };
        let Some(mut call) = egress::call_for(route, call, &shadow.model) else {
            count("skipped");
            continue;
        };
        count("sent");
        let id = format!("{}:{}", primary.request_id, shadow.name);
        call.request_id = HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("-"));
        let record = InferenceRecord {
            request_id: id,
            member: shadow.name.clone(),
            role: shadow.role.as_str().to_owned(),
            provider: shadow.provider.spec.name.clone(),
            provider_kind: shadow.provider.spec.kind.as_str().to_owned(),
            upstream_model: shadow.model.clone(),
            assignment: AssignmentReason::Shadow.as_str().to_owned(),
            weight: 0.0,
            ..primary.clone()
        };
        let (shared, group) = (shared.clone(), group.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let shadow = &group.shadows[i];
            let mut recorder = Recorder::start(shared.clone(), record, Instant::now());
            let budget = Budget {
                deadline: tokio::time::Instant::now() + group.timeouts.total,
                max_bytes: shared.store.current().limits.max_response_bytes,
                idle: group.timeouts.idle,
            };
            recorder.upstream_started();
            let (answer, _) = attempt::once(&shadow.provider.runtime, route, call, budget, &shadow.name).await;
            let outcome = match answer {
                Ok(Answer::Full { status, bytes }) => {
                    let u = usage_of_json(&bytes).unwrap_or_default();
                    Outcome {
                        status,
                        input_tokens: u.prompt_tokens,
                        output_tokens: u.completion_tokens,
                        ..Outcome::default()
                    }
                }
                Ok(Answer::Stream(resp)) => {
                    let (usage, err) = drain(resp.body, budget, &shadow.name).await;
                    recorder.first_byte_sent();
                    let u = usage.unwrap_or_default();
                    Outcome {
                        status: 200,
                        error_class: err.as_ref().map_or("", GatewayError::class),
                        upstream_error: err.as_ref().and_then(upstream_kind),
                        input_tokens: u.prompt_tokens,
                        output_tokens: u.completion_tokens,
                        ..Outcome::default()
                    }
                }
                Err(e) => Outcome {
                    status: e.status().as_u16(),
                    error_class: e.class(),
                    upstream_error: upstream_kind(&e),
                    ..Outcome::default()
                },
            };
            recorder.finish(outcome);
        });
    }
}

/// Reads a shadow's stream to the end, within the idle and total limits.
async fn drain(
    mut body: UpstreamBody,
    budget: Budget,
    member: &str,
) -> (Option<super::usage::Usage>, Option<GatewayError>) {
    let mut usage = SseUsage::default();
    loop {
        let next = tokio::time::timeout(budget.idle, body.frame());
        let err = match tokio::time::timeout_at(budget.deadline, next).await {
            Err(_) => GatewayError::UpstreamTimeout { member: member.to_owned(), phase: "total" },
            Ok(Err(_)) => GatewayError::UpstreamTimeout { member: member.to_owned(), phase: "idle" },
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
