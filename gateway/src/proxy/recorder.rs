//! Phase 7, **record**: one `InferenceRecord` and one set of metric updates per request.
//!
//! A [`Recorder`] is created when a request has resolved to a group and member. It owns
//! the partly filled record, the request's clocks and the group's in-flight gauge. It is
//! finished exactly once: explicitly with an [`Outcome`], or — if the request future or
//! the response body is dropped first (the client went away) — from `Drop`, as
//! `client_aborted`. Finishing updates the metrics and offers the record to the queue
//! with `try_send`; it never waits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_records::{Attributions, InferenceRecord};

use crate::metrics::code_class;
use crate::proxy::Shared;

/// Status recorded for a non-streamed request whose client disconnected (nginx's 499).
pub const CLIENT_CLOSED: u16 = 499;

/// How a request ended.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Status the client saw.
    pub status: u16,
    /// Empty on success; a stable error class otherwise.
    pub error_class: &'static str,
    /// Upstream failure kind for `upstream_errors_total`, when the upstream failed.
    pub upstream_error: Option<&'static str>,
    /// Prompt tokens.
    pub input_tokens: Option<u32>,
    /// Completion tokens.
    pub output_tokens: Option<u32>,
    /// Response body to store (already capped), when the group logs bodies.
    pub response_body: Option<String>,
    /// Feature attributions the backend returned.
    pub attributions: Option<Attributions>,
}

/// The record and clocks of one resolved request.
pub struct Recorder {
    shared: Arc<Shared>,
    record: InferenceRecord,
    accepted: Instant,
    upstream_started: Option<Instant>,
    upstream_done: Option<Duration>,
    first_byte: Option<Duration>,
    streaming: bool,
    finished: bool,
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
        }
    }

    /// Marks the moment the upstream request is sent.
    pub fn upstream_started(&mut self) {
        self.upstream_started = Some(Instant::now());
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
        }
    }

    /// The record being built (for headers and body logging).
    pub fn record(&self) -> &InferenceRecord {
        &self.record
    }

    /// The record being built, to re-attribute it (fallback to the champion).
    pub fn record_mut(&mut self) -> &mut InferenceRecord {
        &mut self.record
    }

    /// Finishes the request with `outcome`.
    pub fn finish(mut self, outcome: Outcome) {
        self.complete(outcome);
    }

    fn complete(&mut self, outcome: Outcome) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.upstream_finished();
        let total = self.accepted.elapsed();
        let upstream = self.upstream_done.unwrap_or_default();
        let overhead = total.saturating_sub(upstream);
        let m = &self.shared.metrics;
        let r = &mut self.record;
        let (group, member) = (r.group.as_str(), r.member.as_str());
        m.in_flight.with_label_values(&[group]).dec();
        m.requests.with_label_values(&[group, member, &r.role, code_class(outcome.status)]).inc();
        m.request_duration.with_label_values(&[group, member]).observe(total.as_secs_f64());
        if self.upstream_started.is_some() {
            m.upstream_duration.with_label_values(&[group, member]).observe(upstream.as_secs_f64());
            m.overhead.with_label_values(&[group]).observe(overhead.as_secs_f64());
        }
        if let Some(t) = self.first_byte {
            m.ttft.with_label_values(&[group, member]).observe(t.as_secs_f64());
        }
        if let Some(kind) = outcome.upstream_error {
            m.upstream_errors.with_label_values(&[group, member, kind]).inc();
        }
        if let Some(n) = outcome.input_tokens {
            m.tokens.with_label_values(&[group, member, "input"]).inc_by(u64::from(n));
        }
        if let Some(n) = outcome.output_tokens {
            m.tokens.with_label_values(&[group, member, "output"]).inc_by(u64::from(n));
        }
        r.status = outcome.status;
        r.error_class = outcome.error_class.to_owned();
        r.total_us = micros(total);
        r.upstream_us = micros(upstream).min(r.total_us);
        r.overhead_us = r.total_us - r.upstream_us;
        r.ttft_us = self.first_byte.map(micros);
        r.input_tokens = outcome.input_tokens;
        r.output_tokens = outcome.output_tokens;
        r.response_body = outcome.response_body;
        r.attributions = outcome.attributions;
        self.shared.records.offer(std::mem::take(&mut self.record));
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if !self.finished {
            let status = if self.streaming { 200 } else { CLIENT_CLOSED };
            self.complete(Outcome { status, error_class: "client_aborted", ..Outcome::default() });
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
