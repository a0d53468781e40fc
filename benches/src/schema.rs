//! The JSON a load run produces: one [`RunReport`] per (target, scenario), written by
//! `loadgen` and read by `report`. Field names are part of the harness's output format
//! (`benches/results/<date>/runs/*.json`); add fields, do not rename them.
//!
//! Units are in the field names: `_us` microseconds, `_s` seconds, `_kib` KiB.

use serde::{Deserialize, Serialize};

/// One measured run of one scenario against one target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    /// `direct`, `switchyard`, `nginx`, `litellm`, …
    pub target: String,
    /// `rate-2000`, `stream-20`, `body-64k`, `conn-1000`, `saturation`, …
    pub scenario: String,
    /// Free text copied from the command line.
    pub label: String,
    /// `fixed` (one open-loop rate) or `saturation` (the best passing probe of a search).
    pub mode: String,
    /// Offered (scheduled) requests per second.
    pub offered_rate: f64,
    /// Completed requests per second over the measured window.
    pub achieved_rate: f64,
    /// Measured seconds (warm-up excluded).
    pub duration_s: f64,
    /// Requests scheduled in the measured window.
    pub requests: u64,
    /// Requests that failed: transport error, non-2xx status, broken body or timeout.
    pub errors: u64,
    /// Of `errors`, those that hit the per-request timeout.
    pub timeouts: u64,
    /// One error message, to say why (first seen).
    #[serde(default)]
    pub error_sample: Option<String>,
    /// Streamed answers asked for.
    pub stream: bool,
    /// Request body size in bytes.
    pub body_bytes: usize,
    /// Most requests in flight; with `pinned_connections`, connections held open.
    pub connections: usize,
    /// Every connection opened up front and used in turn (the many-connections scenario).
    pub pinned_connections: bool,
    /// Due time → last body byte, successful requests only (coordinated-omission free).
    pub latency_us: Percentiles,
    /// Due time → first body byte (for SSE: the first token chunk).
    pub ttfb_us: Percentiles,
    /// Due time → the request left the load generator's scheduler (its own lateness,
    /// included in the latencies; large values mean the client core is the bottleneck).
    #[serde(default)]
    pub send_lag_us: Percentiles,
    /// The target's own `server-timing: overhead;dur=` when it sends one.
    #[serde(default)]
    pub overhead_us: Option<Percentiles>,
    /// Per request, time to first byte minus the target's own accept-to-headers time
    /// (`server-timing` overhead + upstream), when it sends one: time the request spent
    /// where the target's clock does not see it — the load generator, kernel queues, a
    /// descheduled target before it read the request.
    #[serde(default)]
    pub outside_us: Option<Percentiles>,
    /// The target's processes over the measured window.
    #[serde(default)]
    pub cpu: Option<ProcessStats>,
    /// Other processes watched (`upstream`, `clickhouse`, …), CPU seconds in the window.
    #[serde(default)]
    pub aux_cpu_s: Vec<(String, f64)>,
    /// The load generator's own CPU seconds in the window.
    #[serde(default)]
    pub loadgen_cpu_s: f64,
    /// Saturation search: every probe, in order.
    #[serde(default)]
    pub probes: Vec<Probe>,
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// CPU and memory of a process tree (the target's main process and its descendants).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProcessStats {
    /// user + system CPU seconds (`/proc/<pid>/stat` utime + stime) in the window.
    pub cpu_s: f64,
    /// `cpu_s` per 1,000 measured requests.
    pub cpu_s_per_1k: f64,
    /// Sum over the tree of `VmHWM` (`/proc/<pid>/status`), reset (`clear_refs` 5) at
    /// the start of the run so it is this run's peak, warm-up included.
    pub peak_rss_kib: u64,
    /// Whether the peak was reset; if not, it is the peak since the process started.
    pub peak_reset: bool,
    /// Processes in the tree at the end of the window.
    pub processes: usize,
}

/// One probe of a saturation search.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Probe {
    pub offered_rate: f64,
    pub achieved_rate: f64,
    pub requests: u64,
    pub errors: u64,
    pub p99_us: u64,
    pub pass: bool,
}
