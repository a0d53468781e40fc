//! The load generator's command line (`loadgen --help`); the behaviour is documented on
//! the binary (`src/bin/loadgen.rs`).

use std::path::PathBuf;

use clap::Parser;

/// `loadgen`'s arguments.
#[derive(Debug, Parser)]
#[command(name = "loadgen", about = "Open-loop HTTP load generator (see the binary's docs)")]
pub struct Args {
    /// Target URL (POST).
    #[arg(long)]
    pub url: String,
    /// Requests per second (the first probe's rate with --saturate).
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Seconds of measured load (per probe with --saturate).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of unmeasured warm-up at the same rate first.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Most requests in flight (and connections).
    #[arg(long, default_value_t = 256)]
    pub connections: usize,
    /// Open all --connections up front and use each in turn.
    #[arg(long)]
    pub pin_connections: bool,
    /// Seconds from a request's due time until it counts as a timeout error.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Request body: a model group / model name; the body is a small chat request.
    #[arg(long, default_value = "bench")]
    pub model: String,
    /// Ask for a streamed answer.
    #[arg(long)]
    pub stream: bool,
    /// Pad the request body to about this many bytes.
    #[arg(long, default_value_t = 0)]
    pub body_bytes: usize,
    /// Tokio worker threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Target name copied into the report.
    #[arg(long, default_value = "")]
    pub target: String,
    /// Scenario name copied into the report.
    #[arg(long, default_value = "")]
    pub scenario: String,
    /// A label copied into the report.
    #[arg(long, default_value = "")]
    pub label: String,
    /// The target's main process: CPU and peak RSS of its tree are reported.
    #[arg(long)]
    pub watch_pid: Option<u32>,
    /// Another process whose CPU is reported, as name=pid (repeatable).
    #[arg(long)]
    pub aux_pid: Vec<String>,
    /// Search for the saturation rate instead of one fixed rate.
    #[arg(long)]
    pub saturate: bool,
    /// Saturation: p99 latency bound for a passing probe, ms.
    #[arg(long, default_value_t = 50.0)]
    pub slo_p99_ms: f64,
    /// Saturation: most probes.
    #[arg(long, default_value_t = 14)]
    pub max_probes: u32,
    /// Saturation: highest rate tried.
    #[arg(long, default_value_t = 400_000.0)]
    pub max_rate: f64,
    /// Saturation: seconds of rest between probes.
    #[arg(long, default_value_t = 1.0)]
    pub pause: f64,
    /// Saturation: after a failed probe, wait at most this many seconds for the target
    /// to answer one request within a second again.
    #[arg(long, default_value_t = 120.0)]
    pub settle_max: f64,
    /// Exit with status 2 (after the report) if more than this share of requests failed.
    #[arg(long)]
    pub max_error_rate: Option<f64>,
    /// Also write the JSON report here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}
