//! Tracing and correlation (SPEC §13): W3C trace context in and out, a server span per
//! request and a client span per upstream attempt, OTLP/HTTP export off the request path,
//! and the access log.
//!
//! - [`w3c`] reads a client's `traceparent` and writes the one each attempt sends.
//! - [`request::RequestTrace`] is a request's trace (in the `RequestCtx`, then the
//!   recorder): the server span, created at accept, with the phases as events, ended when
//!   the response is complete.
//! - [`attempt::AttemptSpan`] is one upstream attempt's client span (retries, the champion
//!   fallback and shadow copies each their own), whose context goes upstream.
//! - [`export`] is the bounded queue and the export thread in front of
//!   `opentelemetry-otlp`'s HTTP/protobuf exporter; full means dropped and counted.
//! - [`access`] writes one `switchyard::access` line per request.
//!
//! Sampling is the SDK's parent-based sampler with a trace-id ratio for requests without
//! a parent: a client's `traceparent` decision is followed. The settings are per process
//! ([`Tracing::new`] at start-up); a reload that changes them is logged and applies at the
//! next start ([`Tracing::warn_on_change`]).
//!
//! Invariant: with tracing off, or for a request that is not sampled, the request path
//! allocates nothing for tracing beyond forwarding the client's headers.

pub mod access;
pub mod attempt;
pub mod attrs;
pub mod export;
pub mod request;
pub mod w3c;

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider, SpanExporter as _};
use opentelemetry_sdk::Resource;
use prometheus::Registry;
use switchyard_config::schema::TracingConfig;

pub use access::AccessLog;
pub use attempt::{AttemptSpan, SpanParent};
pub use export::TraceMetrics;
pub use request::RequestTrace;

/// Why tracing could not start.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The OTLP exporter could not be built from `tracing.otlp_endpoint`.
    #[error("tracing.otlp_endpoint: {0}")]
    Exporter(String),
    /// The export thread could not start.
    #[error("trace export thread: {0}")]
    Thread(#[from] std::io::Error),
    /// Metric registration failed (a bug).
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// The process's tracing: exporter, sampler and access log.
pub struct Tracing {
    export: Option<Export>,
    /// The access log.
    pub access: AccessLog,
    /// Export metrics.
    pub metrics: TraceMetrics,
    config: TracingConfig,
}

struct Export {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

// === impl Tracing ===

impl Tracing {
    /// Tracing as `cfg` says (a block that passed validation), its metrics registered in
    /// `registry`. Without `otlp_endpoint` nothing is exported and no thread starts.
    pub fn new(cfg: &TracingConfig, registry: &Registry) -> Result<Self, TraceError> {
        let metrics = TraceMetrics::new(registry)?;
        let export = match cfg.traces_url() {
            None => None,
            Some(url) => Some(Export::start(cfg, &url, metrics.clone())?),
        };
        Ok(Self { export, access: AccessLog::new(&cfg.access_log), metrics, config: cfg.clone() })
    }

    /// The tracer, when spans are exported.
    pub fn tracer(&self) -> Option<&SdkTracer> {
        self.export.as_ref().map(|e| &e.tracer)
    }

    /// Exports what is queued (within `grace`) and stops the export thread.
    pub fn shutdown(&self, grace: Duration) {
        if let Some(e) = &self.export {
            if let Err(error) = e.provider.shutdown_with_timeout(grace) {
                tracing::warn!(%error, "trace export did not finish at shutdown");
            }
        }
    }

    /// Logs once per published table whose `tracing:` block differs from the one running
    /// (it is read at start-up only).
    pub fn warn_on_change(&self, store: &crate::proxy::Store) {
        let mut tables = store.subscribe();
        let running = self.config.clone();
        tokio::spawn(async move {
            while tables.changed().await.is_ok() {
                let changed = tables.borrow_and_update().config.tracing != running;
                if changed {
                    tracing::warn!("tracing: settings changed; they apply at the next start");
                }
            }
        });
    }
}

// === impl Export ===

impl Export {
    fn start(cfg: &TracingConfig, url: &str, metrics: TraceMetrics) -> Result<Self, TraceError> {
        let timeout = Duration::from_millis(cfg.export_timeout_ms);
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(url)
            .with_timeout(timeout)
            // One attempt per batch: the worker backs off itself (see `export`).
            .with_retry_policy(opentelemetry_otlp::RetryPolicy::disabled())
            .build()
            .map_err(|e| TraceError::Exporter(e.to_string()))?;
        let resource = Resource::builder().with_service_name(cfg.service_name.clone()).build();
        exporter.set_resource(&resource);
        let processor = export::QueueProcessor::start(exporter, cfg.queue_size, timeout, metrics)?;
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(cfg.sample_ratio))))
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("switchyard");
        Ok(Self { provider, tracer })
    }
}
