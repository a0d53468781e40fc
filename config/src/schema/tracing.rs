//! `tracing:` — trace export and the access log (SPEC §13). A per-process setting: it is
//! read when the gateway starts (a reload that changes it is logged and applies at the
//! next start), and it stays in the file when routing config is shared (SPEC §7).
//!
//! Invariant: [`TracingConfig::check`] is the only judge of these values; the gateway
//! builds its exporter and samplers from a block that passed it.

use serde::{Deserialize, Serialize};

use crate::error::Problem;

/// Longest accepted `service_name`.
const MAX_SERVICE_NAME_LEN: usize = 255;
/// Largest accepted `queue_size` (spans).
const MAX_QUEUE_SIZE: usize = 1 << 20;

/// `tracing:` — OTLP/HTTP span export and the access log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracingConfig {
    /// OTLP/HTTP collector, `http://host:4318` (`/v1/traces` is appended unless the URL
    /// already ends with it). Absent: no spans are exported (a client's `traceparent` is
    /// still forwarded and its trace id recorded). Default: absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    /// Share of requests without a sampled parent that are traced, in [0,1]; a request
    /// whose `traceparent` carries a sampling decision follows it (parent-based).
    /// Default 1.
    pub sample_ratio: f64,
    /// `service.name` of the exported spans. Default `switchyard`.
    pub service_name: String,
    /// Finished spans held for the exporter, spans; when full, new spans are dropped and
    /// counted (`switchyard_trace_spans_dropped_total`), never waited for. Default 2048.
    pub queue_size: usize,
    /// Time allowed for one export request (retries included), ms. Default 10000.
    pub export_timeout_ms: u64,
    /// One structured log line per request.
    pub access_log: AccessLogConfig,
}

/// `tracing.access_log:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessLogConfig {
    /// Write one `switchyard::access` event per request. Default false.
    pub enabled: bool,
    /// Share of requests logged, in [0,1] (1: every request). Default 1.
    pub sample_ratio: f64,
}

// === impl TracingConfig ===

impl TracingConfig {
    /// Whether this is the default block (then it is left out of the canonical form, so
    /// configs written before `tracing:` existed keep their digest).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// The collector URL spans are posted to (`…/v1/traces`), when export is on.
    pub fn traces_url(&self) -> Option<String> {
        let base = self.otlp_endpoint.as_deref()?;
        if base.trim_end_matches('/').ends_with("/v1/traces") {
            return Some(base.trim_end_matches('/').to_owned());
        }
        Some(format!("{}/v1/traces", base.trim_end_matches('/')))
    }

    /// Every problem of this block, with paths under `tracing.`.
    pub fn check(&self, problems: &mut Vec<Problem>) {
        if let Some(url) = &self.otlp_endpoint {
            let rest = url.strip_prefix("http://");
            let host_ok =
                rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace));
            if url.starts_with("https://") {
                problems.push(Problem::new(
                    "tracing.otlp_endpoint",
                    format!("`{url}`: https is not supported; point it at a collector reachable over http"),
                ));
            } else if !host_ok {
                problems.push(Problem::new(
                    "tracing.otlp_endpoint",
                    format!("`{url}` is not an http:// URL like http://127.0.0.1:4318"),
                ));
            }
        }
        for (path, ratio) in [
            ("tracing.sample_ratio", self.sample_ratio),
            ("tracing.access_log.sample_ratio", self.access_log.sample_ratio),
        ] {
            if !(0.0..=1.0).contains(&ratio) {
                problems.push(Problem::new(path, "must be between 0 and 1"));
            }
        }
        let name = &self.service_name;
        if name.trim().is_empty() || name.len() > MAX_SERVICE_NAME_LEN || name.chars().any(char::is_control) {
            problems.push(Problem::new(
                "tracing.service_name",
                format!("must be 1-{MAX_SERVICE_NAME_LEN} printable characters"),
            ));
        }
        if !(1..=MAX_QUEUE_SIZE).contains(&self.queue_size) {
            problems.push(Problem::new("tracing.queue_size", format!("must be between 1 and {MAX_QUEUE_SIZE}")));
        }
        if self.export_timeout_ms == 0 {
            problems.push(Problem::new("tracing.export_timeout_ms", "must be > 0"));
        }
    }
}

impl Default for TracingConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            sample_ratio: 1.0,
            service_name: "switchyard".into(),
            queue_size: 2048,
            export_timeout_ms: 10_000,
            access_log: AccessLogConfig::default(),
        }
    }
}

impl Default for AccessLogConfig {
    fn default() -> Self {
        Self { enabled: false, sample_ratio: 1.0 }
    }
}
