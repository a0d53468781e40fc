//! Phase 7, **record**: one `InferenceRecord` and one set of metric updates per request.
//!
//! [`record`] starts it the moment a request has a member: it fills the record's
//! attribution (who, why, at which weight and config version) into a [`Recorder`], which
//! owns the request's clocks and its group's in-flight gauge. The recorder is finished
//! exactly once: explicitly with an [`Ending`] when the answer is complete (phase 6), or
//! — if the request future or the response body is dropped first (the client went away)
//! — from `Drop`, as `client_aborted`. Finishing updates the metrics and offers the record
//! to the queue with `try_send`; it never waits.
//!
//! What comes after the answer hangs off [`Recorder::finish`]: it is the one point where
//! the client has everything. The explainer call of SPEC §9 starts there
//! ([`crate::explain::after_answer`]), after the record was offered, off the request's
//! path; the recorder keeps its [`crate::explain::Pending`] (the request body only for
//! sampled requests) until then. The request's trace ends there too: the server span gets
//! the record's outcome and the access log its line (shadow copies have neither).
//!
//! The record's `cost` (SPEC §8) is computed when the answer is complete, from its token
//! counts and the price of the member's catalog entry in the routing table the request
//! was decided on (never a store lookup); `switchyard_cost_total` counts the same amount.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rust_decimal::prelude::ToPrimitive;
use switchyard_catalog::{CatalogEntry, Decimal};
use switchyard_records::{Amount, AssignmentReason, Attributions, ErrorClass, InferenceRecord, LogprobSummary};

use super::assign::Decision;
use super::limit::Held;
use super::resolve::Resolved;
use super::{Member, RequestCtx, Shared};
use crate::error::{GatewayError, UpstreamKind};
use crate::explain::{self, Cut, Pending};
use crate::metrics::code_class;
use crate::trace::RequestTrace;

/// Status recorded for a non-streamed request whose client disconnected (nginx's 499).
pub const CLIENT_CLOSED: u16 = 499;

/// How a request ended.
#[derive(Debug, Clone, Default)]
pub struct Ending {
    /// Status the client saw.
    pub status: u16,
    /// [`ErrorClass::None`] on success.
    pub error_class: ErrorClass,
    /// Upstream failure kind for `upstream_errors_total`, when the upstream failed.
    pub upstream_error: Option<UpstreamKind>,
    /// Prompt tokens.
    pub input_tokens: Option<u32>,
    /// Completion tokens.
    pub output_tokens: Option<u32>,
    /// Response body to store (already capped), when the group logs bodies.
    pub response_body: Option<String>,
    /// Feature attributions the backend returned, one set per (instance, output).
    pub attributions: Vec<Attributions>,
    /// Attribution values the normaliser's limits cut (counted in metrics).
    pub attributions_cut: Cut,
    /// Token log-probability summary of an LLM answer.
    pub logprobs: Option<LogprobSummary>,
}

/// The record and clocks of one request that has a member.
pub struct Recorder {
    shared: Arc<Shared>,
    record: InferenceRecord,
    accepted: Instant,
    upstream_started: Option<Instant>,
    upstream_done: Option<Duration>,
    first_byte: Option<Duration>,
    streaming: bool,
    finished: bool,
    explain: Option<Pending>,
    /// Token reservations settled when the request ends.
    held: Held,
    /// The client request's trace (`None` for a shadow copy).
    trace: Option<RequestTrace>,
    /// The serving member's catalog entry as of the decision (its price; SPEC §8).
    entry: Option<Arc<CatalogEntry>>,
}

/// Starts recording `request`, assigned by `decision`; from here on every outcome is
/// recorded (`ctx.recorded`).
pub fn record(shared: &Arc<Shared>, ctx: &mut RequestCtx, request: &Resolved, decision: &Decision) -> Recorder {
    let group = &request.group;
    let log_cap = group.log_cap();
    let (tenant, client) = ctx.tenant_and_client();
    let mut record = InferenceRecord {
        request_id: ctx.id.clone(),
        trace_id: ctx.trace.trace_id_hex(),
        client_request_id: ctx.client_request_id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned(),
        timestamp_ms: switchyard_core::unix_ms(),
        tenant,
        client,
        group: group.name.clone(),
        config_version: ctx.table.version,
        endpoint: request.endpoint.as_str().to_owned(),
        stream: request.stream,
        sticky_key_hash: decision.sticky_hash,
        request_body: (log_cap > 0).then(|| capped(&request.body, log_cap)),
        ..InferenceRecord::default()
    };
    let member = &group.members[decision.index];
    attribute(&mut record, member, decision.reason);
    ctx.recorded = true;
    let mut recorder = Recorder::start(shared.clone(), record, ctx.accepted);
    recorder.entry = member.entry.clone();
    recorder.explain = explain::pending(group, member, &request.body);
    recorder.trace = Some(std::mem::take(&mut ctx.trace));
    recorder
}

/// Fills the member-dependent fields of `record`.
pub fn attribute(record: &mut InferenceRecord, member: &Member, reason: AssignmentReason) {
    record.member = member.name.clone();
    record.role = member.role;
    record.provider = member.provider.spec.name.clone();
    record.provider_kind = member.provider.spec.kind.as_str().to_owned();
    record.upstream_model = member.model.clone();
    record.assignment = reason;
    record.weight = member.share;
}

/// The cost of an inference with these token counts at `entry`'s price, exact, and its
/// currency: `None` without a price, when no token count is known, or when a side with
/// tokens has no price (never a guessed cost). A side the answer states no count for
/// counts as none (an embedding has no output tokens).
pub fn cost(entry: &CatalogEntry, input: Option<u32>, output: Option<u32>) -> Option<(Decimal, String)> {
    let pricing = entry.pricing.as_ref()?;
    if input.is_none() && output.is_none() {
        return None;
    }
    let amount =
        switchyard_catalog::cost(pricing, u64::from(input.unwrap_or(0)), u64::from(output.unwrap_or(0))).ok()?;
    Some((amount, pricing.currency.clone()))
}

/// At most `cap` bytes of `bytes` as text.
pub fn capped(bytes: &[u8], cap: usize) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(cap)]).into_owned()
}

// === impl Ending ===

impl Ending {
    /// A failure the client saw with `status`.
    pub fn failed(err: &GatewayError, status: u16) -> Self {
        Self { status, error_class: err.class(), upstream_error: err.upstream_kind(), ..Self::default() }
    }
}

// === impl Recorder ===

impl Recorder {
    /// Starts recording `record` (attribution filled in) for a request accepted at
    /// `accepted`; counts it in flight.
    pub fn start(shared: Arc<Shared>, record: InferenceRecord, accepted: Instant) -> Self {
        shared.metrics.in_flight.with_label_values(&[&record.group]).inc();
        Self {
            shared,
            record,
            accepted,
            upstream_started: None,
            upstream_done: None,
            first_byte: None,
            streaming: false,
            finished: false,
            explain: None,
            held: Held::default(),
            trace: None,
            entry: None,
        }
    }

    /// Marks the moment the upstream request is sent.
    pub fn upstream_started(&mut self) {
        self.upstream_started = Some(Instant::now());
        self.event("forward");
    }

    /// Marks the end of the upstream exchange (body complete or failed).
    pub fn upstream_finished(&mut self) {
        if self.upstream_done.is_none() {
            self.upstream_done = self.upstream_started.map(|t| t.elapsed());
        }
    }

    /// Upstream time so far (to response headers, or to the end once finished).
    pub fn upstream_elapsed(&self) -> Duration {
        self.upstream_done.or_else(|| self.upstream_started.map(|t| t.elapsed())).unwrap_or_default()
    }

    /// Time since accept.
    pub fn elapsed(&self) -> Duration {
        self.accepted.elapsed()
    }

    /// The response is being streamed: an abort now keeps status 200.
    pub fn set_streaming(&mut self) {
        self.streaming = true;
    }

    /// Marks the first body byte handed to the client (streams).
    pub fn first_byte_sent(&mut self) {
        if self.first_byte.is_none() {
            self.first_byte = Some(self.accepted.elapsed());
            self.event("first_byte");
        }
    }

    /// The record being built.
    pub fn record(&self) -> &InferenceRecord {
        &self.record
    }

    /// Re-attributes the record (the champion served a challenger's request).
    pub fn attribute(&mut self, member: &Member, reason: AssignmentReason) {
        attribute(&mut self.record, member, reason);
        self.entry = member.entry.clone();
        self.event(reason.as_str());
    }

    /// Prices the request at `member`'s catalog entry (a shadow copy, recorded as its
    /// shadow member).
    pub fn price_as(&mut self, member: &Member) {
        self.entry = member.entry.clone();
    }

    /// An event on the request's server span (when sampled).
    fn event(&mut self, name: &'static str) {
        if let Some(t) = self.trace.as_mut() {
            t.event(name);
        }
    }

    /// Keeps the request's token reservations until it ends (then settled with its usage).
    pub fn hold(&mut self, held: Held) {
        self.held = held;
    }

    /// Finishes the request with `ending`.
    pub fn finish(mut self, ending: Ending) {
        self.complete(ending);
    }

    fn complete(&mut self, ending: Ending) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.held.settle(&ending);
        self.upstream_finished();
        let total = self.accepted.elapsed();
        let upstream = self.upstream_done.unwrap_or_default();
        self.count(&ending, total, upstream);
        let r = &mut self.record;
        r.status = ending.status;
        r.error_class = ending.error_class;
        r.total_us = micros(total);
        r.upstream_us = micros(upstream).min(r.total_us);
        r.overhead_us = r.total_us - r.upstream_us;
        r.ttft_us = self.first_byte.map(micros);
        r.input_tokens = ending.input_tokens;
        r.output_tokens = ending.output_tokens;
        r.response_body = ending.response_body;
        r.attributions = ending.attributions;
        r.logprobs = ending.logprobs;
        if let Some((amount, currency)) = self.entry.as_deref().and_then(|e| cost(e, r.input_tokens, r.output_tokens)) {
            self.shared
                .metrics
                .cost
                .with_label_values(&[r.group.as_str(), r.member.as_str()])
                .inc_by(amount.to_f64().unwrap_or(0.0));
            r.cost = Some(Amount(amount));
            r.currency = currency;
        }
        self.shared.explainers.metrics.count_cut(&r.group, &r.member, ending.attributions_cut);
        let pending = self.explain.take();
        // The explainer needs the record's identity and outcome, not its attributions.
        let answered = pending.as_ref().map(|_| InferenceRecord { attributions: Vec::new(), ..r.clone() });
        let follow_up = match (&pending, &self.trace) {
            (Some(_), Some(trace)) => trace.follow_up(),
            _ => Default::default(),
        };
        if let Some(trace) = self.trace.take() {
            self.shared.tracing.access.recorded(&self.record);
            trace.finish(&self.record);
        }
        self.shared.records.offer(std::mem::take(&mut self.record));
        if let (Some(pending), Some(answered)) = (pending, answered) {
            explain::after_answer(&self.shared.explainers, &self.shared.records, pending, &answered, follow_up);
        }
    }

    /// The metric updates of one finished request.
    fn count(&self, ending: &Ending, total: Duration, upstream: Duration) {
        let m = &self.shared.metrics;
        let r = &self.record;
        let (group, member) = (r.group.as_str(), r.member.as_str());
        m.in_flight.with_label_values(&[group]).dec();
        m.requests.with_label_values(&[group, member, r.role.as_str(), code_class(ending.status)]).inc();
        m.request_duration.with_label_values(&[group, member]).observe(total.as_secs_f64());
        if self.upstream_started.is_some() {
            m.upstream_duration.with_label_values(&[group, member]).observe(upstream.as_secs_f64());
            m.overhead.with_label_values(&[group]).observe(total.saturating_sub(upstream).as_secs_f64());
        }
        if let Some(t) = self.first_byte {
            m.ttft.with_label_values(&[group, member]).observe(t.as_secs_f64());
        }
        if let Some(kind) = ending.upstream_error {
            m.upstream_errors.with_label_values(&[group, member, kind.as_str()]).inc();
        }
        for (n, direction) in [(ending.input_tokens, "input"), (ending.output_tokens, "output")] {
            if let Some(n) = n {
                m.tokens.with_label_values(&[group, member, direction]).inc_by(u64::from(n));
            }
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if !self.finished {
            let status = if self.streaming { 200 } else { CLIENT_CLOSED };
            self.complete(Ending { status, error_class: ErrorClass::ClientAborted, ..Ending::default() });
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
