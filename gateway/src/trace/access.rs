//! The access log: one structured `tracing` event per request (target
//! `switchyard::access`, level INFO), written when the response is complete, through the
//! process's normal log output (JSON with `SWITCHYARD_LOG_FORMAT=json`).
//!
//! Fields: `request_id`, `trace_id` (empty without a trace), `group`, `member` (empty
//! before a member was chosen), `status`, `error_class` (empty on success), `total_ms`,
//! `upstream_ms`, `overhead_ms`. Sampled by its own ratio (`tracing.access_log.sample_ratio`),
//! independent of span sampling; at 1 every request is logged.

use switchyard_config::schema::AccessLogConfig;
use switchyard_records::{ErrorClass, InferenceRecord};

use super::request::TraceIdField;

/// The target of access log events (filter with `RUST_LOG`, e.g. `switchyard::access=info`).
pub const TARGET: &str = "switchyard::access";

/// Access log settings.
#[derive(Debug, Clone, Copy)]
pub struct AccessLog {
    enabled: bool,
    ratio: f64,
}

/// One line's fields for a request answered without a record.
pub struct Early<'a> {
    /// The gateway's request id.
    pub request_id: &'a str,
    /// The trace.
    pub trace_id: TraceIdField,
    /// The group, once resolved ("" before).
    pub group: &'a str,
    /// Status sent.
    pub status: u16,
    /// Why it failed.
    pub error_class: ErrorClass,
    /// Accept to response, ms.
    pub total_ms: f64,
}

// === impl AccessLog ===

impl AccessLog {
    /// From the config block.
    pub fn new(cfg: &AccessLogConfig) -> Self {
        Self { enabled: cfg.enabled && cfg.sample_ratio > 0.0, ratio: cfg.sample_ratio }
    }

    /// Whether this request's line is written.
    fn pick(&self) -> bool {
        self.enabled && (self.ratio >= 1.0 || rand::random::<f64>() < self.ratio)
    }

    /// The line of a recorded request.
    pub fn recorded(&self, r: &InferenceRecord) {
        if !self.pick() {
            return;
        }
        let ms = |us: u64| us as f64 / 1e3;
        tracing::info!(
            target: TARGET,
            request_id = %r.request_id,
            trace_id = %r.trace_id,
            group = %r.group,
            member = %r.member,
            status = r.status,
            error_class = r.error_class.as_str(),
            total_ms = ms(r.total_us),
            upstream_ms = ms(r.upstream_us),
            overhead_ms = ms(r.overhead_us),
            "request"
        );
    }

    /// The line of a request answered before a recorder existed.
    pub fn early(&self, e: &Early<'_>) {
        if !self.pick() {
            return;
        }
        tracing::info!(
            target: TARGET,
            request_id = e.request_id,
            trace_id = %e.trace_id,
            group = e.group,
            member = "",
            status = e.status,
            error_class = e.error_class.as_str(),
            total_ms = e.total_ms,
            upstream_ms = 0.0,
            overhead_ms = e.total_ms,
            "request"
        );
    }
}
