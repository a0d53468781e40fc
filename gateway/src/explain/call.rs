//! The explainer call: after the answer, sampled, bounded, with a deadline, never retried.
//!
//! [`pending`] is taken when a request gets its member: one uniform draw in [0,100) and,
//! only when the draw falls in the sample of a member that may serve the request (the
//! assigned one, and the champion when the group falls back to it), a clone of the
//! request body (`Bytes`: a reference count, no copy). [`after_answer`] runs when the
//! recorder finishes, after the record was offered: the member that served is explained
//! when the draw is inside its `sample_percent` and the answer succeeded; a permit of its
//! `max_in_flight` slots is taken with `try_acquire` (none free: `busy`, skipped) and the
//! call is spawned. The task posts the protocol's input, reads the whole answer within
//! `timeout_ms`, normalises it and offers an [`ExplanationRecord`] to the record queue.
//! The call is in the request's trace: a sampled request's explainer call is a client
//! span under its server span (named in the `traceparent` sent), an unsampled one
//! forwards the client's `traceparent` as upstream calls do.
//!
//! Invariants: no await on the request's path; one call per sampled answer, never
//! retried; every answer of a member with an explainer is counted in exactly one outcome.
//! A running call holds a record-queue clone, so shutdown (which closes the queue once
//! every clone is gone) waits for it — at most its `timeout_ms`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderValue;
use http_body_util::{BodyExt, Limited};
use parking_lot::Mutex;
use switchyard_config::schema::Fallback;
use switchyard_config::Timeouts;
use switchyard_records::{ErrorClass, ExplanationRecord, InferenceRecord};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::metrics::{ExplainMetrics, Outcome};
use super::{input, normalise};
use crate::providers::{Endpoint, UpstreamCall, UpstreamFailure};
use crate::proxy::{Group, Member};
use crate::trace::request::FollowUp;
use crate::trace::AttemptSpan;

/// Largest explainer answer read, bytes.
pub const MAX_ANSWER_BYTES: usize = 16 << 20;

/// Explainer slots per member (they outlive table swaps) and the metrics.
pub struct Explainers {
    slots: Mutex<HashMap<(String, String), Slot>>,
    /// The explainer metrics.
    pub metrics: ExplainMetrics,
}

struct Slot {
    max: usize,
    semaphore: Arc<Semaphore>,
}

/// What a request keeps for its explainer until it finishes.
pub struct Pending {
    group: Arc<Group>,
    draw: f64,
    body: Option<Bytes>,
}

/// One explainer call, ready to run.
struct Job {
    record: ExplanationRecord,
    input: Bytes,
    timeout: Duration,
    call: UpstreamCall,
    protocol: switchyard_config::schema::ExplainProtocol,
    provider: crate::providers::SharedAdapter,
}

/// How an explainer call failed (the explainer's fault; never retried).
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("no complete answer in time")]
    Timeout,
    #[error("status {0}")]
    Status(u16),
    #[error("{0}")]
    Failed(String),
}

// === impl Explainers ===

impl Explainers {
    /// No slots yet; `metrics` registered by the caller.
    pub fn new(metrics: ExplainMetrics) -> Self {
        Self { slots: Mutex::new(HashMap::new()), metrics }
    }

    /// A permit of `(group, member)`'s `max` slots, if one is free. A changed `max`
    /// starts a new set of slots (calls in flight keep their old permits).
    fn try_acquire(&self, group: &str, member: &str, max: usize) -> Option<OwnedSemaphorePermit> {
        let semaphore = {
            let mut slots = self.slots.lock();
            let slot = slots
                .entry((group.to_owned(), member.to_owned()))
                .or_insert_with(|| Slot { max, semaphore: Arc::new(Semaphore::new(max)) });
            if slot.max != max {
                *slot = Slot { max, semaphore: Arc::new(Semaphore::new(max)) };
            }
            slot.semaphore.clone()
        };
        semaphore.try_acquire_owned().ok()
    }
}

/// What the recorder keeps for a request of `group` assigned to `member`; `None` when no
/// member of the group has an explainer.
pub fn pending(group: &Arc<Group>, member: &Member, body: &Bytes) -> Option<Pending> {
    if !group.members.iter().any(|m| m.explain.is_some()) {
        return None;
    }
    let draw = rand::random::<f64>() * 100.0;
    let percent = |m: &Member| m.explain.as_ref().map_or(0.0, |x| x.sample_percent);
    let mut sample = percent(member);
    if group.fallback == Fallback::Champion {
        sample = sample.max(percent(group.champion()));
    }
    Some(Pending { group: group.clone(), draw, body: (draw < sample).then(|| body.clone()) })
}

/// Called once the answer is complete and `record` offered: explains it if it is in
/// the sample (see the module docs). Never waits.
pub fn after_answer(
    explainers: &Explainers,
    queue: &switchyard_records::RecordQueue,
    p: Pending,
    record: &InferenceRecord,
    trace: FollowUp,
) {
    let Some(member) = p.group.members.iter().find(|m| m.name == record.member) else { return };
    let Some(x) = &member.explain else { return };
    let count = |o| explainers.metrics.count(&record.group, &record.member, o);
    if p.draw >= x.sample_percent {
        return count(Outcome::NotSampled);
    }
    if !(200..300).contains(&record.status) || record.error_class != ErrorClass::None {
        return count(Outcome::AnswerFailed);
    }
    let Some(input) = p.body.as_ref().and_then(|b| input::for_protocol(x.protocol, b)) else {
        return count(Outcome::BadInput);
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return count(Outcome::Dropped) };
    let Some(permit) = explainers.try_acquire(&record.group, &record.member, x.max_in_flight) else {
        return count(Outcome::Busy);
    };
    let job = Job {
        record: ExplanationRecord {
            request_id: record.request_id.clone(),
            timestamp_ms: record.timestamp_ms,
            group: record.group.clone(),
            member: record.member.clone(),
            config_version: record.config_version,
            ..ExplanationRecord::default()
        },
        input,
        timeout: x.timeout,
        call: upstream_call(&x.model, record, x.timeout, trace),
        protocol: x.protocol,
        provider: x.provider.runtime.clone(),
    };
    let (metrics, queue) = (explainers.metrics.clone(), queue.clone());
    runtime.spawn(async move {
        let _permit = permit;
        let outcome = job.run(&queue).await;
        metrics.count_cut(&outcome.1.group, &outcome.1.member, outcome.2);
        metrics.count(&outcome.1.group, &outcome.1.member, outcome.0);
    });
}

/// The call to the explainer (the body is set by the job), in the request's trace.
fn upstream_call(model: &str, record: &InferenceRecord, timeout: Duration, trace: FollowUp) -> UpstreamCall {
    let mut call = UpstreamCall {
        endpoint: Endpoint::OipInfer,
        body: Bytes::new(),
        model_span: 0..0,
        model: model.to_owned(),
        stream: false,
        request_id: HeaderValue::from_str(&record.request_id).unwrap_or(HeaderValue::from_static("-")),
        traceparent: None,
        tracestate: None,
        span_parent: None,
        timeouts: Timeouts { connect: timeout, first_byte: timeout, idle: timeout, total: timeout },
    };
    trace.fill(&mut call);
    call
}

// === impl Job ===

impl Job {
    /// Calls, normalises and spools; returns the outcome, the record's identity and what
    /// the limits cut.
    async fn run(mut self, queue: &switchyard_records::RecordQueue) -> (Outcome, ExplanationRecord, normalise::Cut) {
        let started = Instant::now();
        let mut call = self.call.clone();
        call.body = self.input.clone();
        let span = AttemptSpan::start_explain(&mut call, &self.record.group, &self.record.member);
        let answer = tokio::time::timeout(self.timeout, self.exchange(call)).await.unwrap_or(Err(CallError::Timeout));
        match &answer {
            Ok(_) => span.end_explain(Some(200), None),
            Err(CallError::Status(status)) => span.end_explain(Some(*status), Some("upstream_status")),
            Err(CallError::Timeout) => span.end_explain(None, Some("timeout")),
            Err(CallError::Failed(_)) => span.end_explain(None, Some("failed")),
        }
        let latency = started.elapsed();
        let r = &self.record;
        let body = match answer {
            Ok(body) => body,
            Err(e) => {
                let outcome = if matches!(e, CallError::Timeout) { Outcome::Timeout } else { Outcome::Failed };
                tracing::warn!(group = %r.group, member = %r.member, request_id = %r.request_id, error = %e, "explainer call failed");
                return (outcome, self.record, normalise::Cut::default());
            }
        };
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) else {
            tracing::warn!(group = %r.group, member = %r.member, "explainer answer is not JSON");
            return (Outcome::Failed, self.record, normalise::Cut::default());
        };
        let normalised = normalise::normalise(&value);
        if normalised.is_empty() {
            tracing::warn!(group = %r.group, member = %r.member, "explainer answer has no attributions we recognise");
            return (Outcome::Failed, self.record, normalised.cut);
        }
        let identity = ExplanationRecord { attributions: Vec::new(), ..self.record.clone() };
        self.record.latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.record.attributions = normalised.sets;
        let outcome = if queue.offer_explanation(self.record) { Outcome::Explained } else { Outcome::Dropped };
        (outcome, identity, normalised.cut)
    }

    /// Posts the input and reads the whole answer (2xx only).
    async fn exchange(&self, call: UpstreamCall) -> Result<Bytes, CallError> {
        let future = self
            .provider
            .explain(call, self.protocol)
            .ok_or_else(|| CallError::Failed("provider cannot explain with this protocol".into()))?;
        let resp = future.await.map_err(|e| match e {
            UpstreamFailure::FirstByteTimeout => CallError::Timeout,
            other => CallError::Failed(other.to_string()),
        })?;
        if !resp.status.is_success() {
            return Err(CallError::Status(resp.status.as_u16()));
        }
        let body = Limited::new(resp.body, MAX_ANSWER_BYTES).collect().await;
        body.map(|b| b.to_bytes()).map_err(|e| CallError::Failed(e.to_string()))
    }
}
