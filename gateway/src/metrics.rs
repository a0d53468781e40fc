//! Data-plane metrics (SPEC §5), registered in a caller-supplied `Registry`.
//!
//! No global statics: a [`Metrics`] is built once per gateway and shared by `Arc`.
//! Label values are bounded: group and member names come from the config (unresolved
//! requests use `_none`), roles and code classes are fixed sets. Never a request id, a
//! user id or a raw `model` string from a client.

use prometheus::{CounterVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

/// Label used for requests that never resolved to a group or member.
pub const NONE: &str = "_none";

/// Latency buckets (seconds) from 100 µs to 2 min: overhead lives at the bottom, model
/// latency at the top.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0,
];

/// Every data-plane metric.
pub struct Metrics {
    /// `switchyard_requests_total{group,member,role,code}`.
    pub requests: IntCounterVec,
    /// `switchyard_request_duration_seconds{group,member}`.
    pub request_duration: HistogramVec,
    /// `switchyard_upstream_duration_seconds{group,member}`.
    pub upstream_duration: HistogramVec,
    /// `switchyard_overhead_seconds{group}`.
    pub overhead: HistogramVec,
    /// `switchyard_ttft_seconds{group,member}`.
    pub ttft: HistogramVec,
    /// `switchyard_tokens_total{group,member,direction}`.
    pub tokens: IntCounterVec,
    /// `switchyard_cost_total{group,member}`: the recorded costs (SPEC §8), in each member's
    /// catalog currency (named in the help, not a label).
    pub cost: CounterVec,
    /// `switchyard_in_flight_requests{group}`.
    pub in_flight: IntGaugeVec,
    /// `switchyard_upstream_errors_total{group,member,kind}`.
    pub upstream_errors: IntCounterVec,
    /// Time to read a request body; not in SPEC, useful for slow clients.
    pub body_read: Histogram,
    /// `switchyard_retries_total{group,member}`: upstream attempts retried.
    pub retries: IntCounterVec,
    /// `switchyard_mirrored_total{group,member,outcome}`: shadow copies `sent` or
    /// `skipped` (mirror slots full).
    pub mirrored: IntCounterVec,
}

// === impl Metrics ===

impl Metrics {
    /// Creates and registers every metric.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let hist = |name: &str, help: &str, labels: &[&str]| -> prometheus::Result<HistogramVec> {
            let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()), labels)?;
            registry.register(Box::new(h.clone()))?;
            Ok(h)
        };
        let counter = |name: &str, help: &str, labels: &[&str]| -> prometheus::Result<IntCounterVec> {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let in_flight = IntGaugeVec::new(
            Opts::new("switchyard_in_flight_requests", "Requests being served, by group."),
            &["group"],
        )?;
        registry.register(Box::new(in_flight.clone()))?;
        let body_read = Histogram::with_opts(
            HistogramOpts::new("switchyard_request_body_read_seconds", "Time to receive a request body.")
                .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(body_read.clone()))?;
        Ok(Self {
            retries: counter(
                "switchyard_retries_total",
                "Upstream attempts retried (before the first byte), by group and member.",
                &["group", "member"],
            )?,
            mirrored: counter(
                "switchyard_mirrored_total",
                "Shadow copies by outcome (sent, skipped).",
                &["group", "member", "outcome"],
            )?,
            requests: counter(
                "switchyard_requests_total",
                "Requests answered, by group, member, role and status class.",
                &["group", "member", "role", "code"],
            )?,
            request_duration: hist(
                "switchyard_request_duration_seconds",
                "Accept to last byte, by group and member.",
                &["group", "member"],
            )?,
            upstream_duration: hist(
                "switchyard_upstream_duration_seconds",
                "Upstream request sent to upstream body finished.",
                &["group", "member"],
            )?,
            overhead: hist("switchyard_overhead_seconds", "Time the gateway added: total minus upstream.", &["group"])?,
            ttft: hist(
                "switchyard_ttft_seconds",
                "Accept to first streamed byte sent to the client.",
                &["group", "member"],
            )?,
            tokens: counter(
                "switchyard_tokens_total",
                "Tokens reported by upstreams, by direction (input, output).",
                &["group", "member", "direction"],
            )?,
            cost: {
                let c = CounterVec::new(
                    Opts::new(
                        "switchyard_cost_total",
                        "Cost of the recorded inferences: tokens times the member's catalog price at decision \
                         time, in the currency of that price (the catalog entry's pricing.currency, e.g. USD).",
                    ),
                    &["group", "member"],
                )?;
                registry.register(Box::new(c.clone()))?;
                c
            },
            in_flight,
            upstream_errors: counter(
                "switchyard_upstream_errors_total",
                "Upstream failures by kind (connect, timeout, status, invalid, reset).",
                &["group", "member", "kind"],
            )?,
            body_read,
        })
    }
}

impl Metrics {
    /// Counts a response no recorder counted (an early error, or a route that is not an
    /// inference): member and role `_none`, group `_none` unless the request resolved one.
    pub fn count_unrecorded(&self, group: &str, status: u16) {
        self.requests.with_label_values(&[group, NONE, NONE, code_class(status)]).inc();
    }
}

/// Prometheus status class label for a status code.
pub fn code_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}
