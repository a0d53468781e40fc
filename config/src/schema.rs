//! The configuration file's serde schema (SPEC §2).
//!
//! These types mirror the YAML one to one. Every struct denies unknown keys so a typo is
//! an error with its path, never silently ignored. Units are in the field names
//! (`_ms`, `_bytes`, `_percent`); defaults are written next to each field. Nothing here
//! checks cross-references or ranges: that is [`crate::validate`]'s job, and turning a
//! valid file into a [`crate::RoutingTable`] is [`crate::table`]'s.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::secret::SecretRef;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Data-plane listen address. Default `0.0.0.0:8080`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Admin listener (`/metrics`, `/healthz`, `/readyz`, control API). Default `127.0.0.1:9090`.
    #[serde(default = "default_admin_listen")]
    pub admin_listen: String,
    /// Optional TLS for the data plane.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// Request limits and server timeouts.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Provider backends by name.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Model groups by name; the name is what clients send as `model`.
    #[serde(default)]
    pub groups: BTreeMap<String, GroupConfig>,
    /// Client keys. Absent: the data plane needs no key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clients: Option<Vec<ClientConfig>>,
    /// Where inference records go.
    #[serde(default)]
    pub records: RecordsConfig,
    /// Admin (control API) settings.
    #[serde(default)]
    pub admin: AdminConfig,
}

/// `tls:` — PEM files for the data plane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: String,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: String,
}

/// `limits:` — what one client may cost the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request body, bytes; larger gets 413. Default 4 MiB.
    pub max_body_bytes: u64,
    /// Time allowed to receive a request's headers (slow-loris guard), ms. Default 10000.
    pub header_timeout_ms: u64,
    /// Time allowed to receive a request's body, ms. Default 30000.
    pub body_timeout_ms: u64,
    /// An idle keep-alive connection (no request in flight) is closed after this, ms.
    /// Default 60000.
    pub keepalive_timeout_ms: u64,
    /// Time SIGTERM waits for requests in flight before closing them, ms. Default 30000.
    pub shutdown_grace_ms: u64,
    /// Largest upstream response body buffered for a non-streamed response, bytes. Default 64 MiB.
    pub max_response_bytes: u64,
}

/// One provider backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Which adapter speaks to it.
    pub kind: ProviderKind,
    /// Base URL, e.g. `https://api.openai.com/v1`. Required for every kind but `mock`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// API key as `env:NAME` or `file:/path`; never a literal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<SecretRef>,
    /// Extra headers sent upstream on every request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// `mock`: simulated upstream latency before the response starts, ms. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// `mock`: prompt tokens reported. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u32>,
    /// `mock`: completion tokens reported. Default 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u32>,
    /// `mock`: chunks in a streamed response. Default 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_chunks: Option<u32>,
    /// `mock`: pause between streamed chunks, ms. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_delay_ms: Option<u64>,
    /// `mock`: fraction of requests answered with a 500, in [0,1]. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    /// `openai`: Azure OpenAI `api-version` (setting it selects the Azure URL and
    /// `api-key` header); `anthropic`: the `anthropic-version` header. Default: none for
    /// `openai`, `2023-06-01` for `anthropic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `openai` with `api_version` (Azure): the deployment name. Default: the member's model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// PEM file of extra CA certificates trusted for this provider, besides the webpki
    /// roots. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// Idle keep-alive connections kept per upstream host. Default 256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_max_idle_per_host: Option<usize>,
    /// Requests in flight to this provider at most; more wait (within the group's
    /// `first_byte_ms`) for a slot. Default: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<usize>,
}

/// Provider kinds (SPEC §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Any OpenAI-compatible server (OpenAI, vLLM, TGI, Ollama).
    Openai,
    /// Anthropic Messages API.
    Anthropic,
    /// Google Gemini.
    Gemini,
    /// Hugging Face TGI / Inference Endpoints.
    Huggingface,
    /// Open Inference Protocol v2 (KServe, Seldon MLServer, Triton).
    Oip,
    /// Any HTTP model; the body is forwarded as is.
    Http,
    /// In-process simulated model.
    Mock,
}

/// One model group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// How members are chosen. Default: weighted random.
    #[serde(default)]
    pub assignment: AssignmentConfig,
    /// Champion, challengers and shadows.
    pub members: Vec<MemberConfig>,
    /// What to do when a challenger fails before the first byte. Default `none`.
    #[serde(default)]
    pub fallback: Fallback,
    /// Upstream timeouts per phase.
    #[serde(default)]
    pub timeouts: TimeoutsConfig,
    /// Record settings for this group.
    #[serde(default)]
    pub records: GroupRecordsConfig,
    /// Automatic promotion / rollback from the experiment statistics. Absent: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion: Option<PromotionConfig>,
    /// Retries of failed upstream attempts (before the first byte only).
    #[serde(default)]
    pub retries: RetriesConfig,
    /// Circuit breaker per member.
    #[serde(default)]
    pub breaker: BreakerConfig,
    /// Mirrored (shadow) requests in flight for this group at most; beyond it copies
    /// are skipped, never queued. Default 32.
    #[serde(default = "default_mirror_concurrency")]
    pub mirror_concurrency: u32,
}

/// `retries:` of a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetriesConfig {
    /// Retries per member after the first attempt (0 disables). Default 1.
    pub max_retries: u32,
    /// Base of the capped exponential backoff, ms (full jitter). Default 25.
    pub backoff_ms: u64,
    /// Cap on one backoff, ms; a `Retry-After` longer than this is not waited for. Default 1000.
    pub max_backoff_ms: u64,
    /// Retry budget: retries may add at most this percent of the group's requests.
    /// Default 20.
    pub budget_percent: f64,
    /// Retries always allowed on top of the budget (a reserve that refills with
    /// traffic). Default 10.
    pub budget_reserve: u32,
}

/// `breaker:` of a group: one breaker per member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Whether breakers act. Default true.
    pub enabled: bool,
    /// Rolling window over which the failure ratio is computed, ms. Default 10000.
    pub window_ms: u64,
    /// Attempts needed in the window before the breaker may open. Default 5.
    pub min_requests: u32,
    /// Failure percentage in the window that opens the breaker, (0,100]. Default 50.
    pub failure_percent: f64,
    /// Time open before one half-open probe is let through, ms. Default 5000.
    pub open_ms: u64,
}

/// `assignment:` of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AssignmentConfig {
    /// `header:<name>` or `body:user`. Absent: weighted random per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky_key: Option<String>,
}

/// One member of a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberConfig {
    /// Unique within the group; sent back in `x-switchyard-member`.
    pub name: String,
    /// `champion` (exactly one), `challenger` or `shadow`.
    pub role: Role,
    /// Name of a provider in `providers`.
    pub provider: String,
    /// Upstream model name. Default: the member's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Relative share of traffic, >= 0 (champion and challengers). Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// Shadows only: percent of requests mirrored, 0..=100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_percent: Option<f64>,
}

/// A member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The incumbent; exactly one per group.
    Champion,
    /// A contender receiving a share of live traffic.
    Challenger,
    /// Receives mirrored copies; its answers never reach clients.
    Shadow,
}

/// `fallback:` of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Fallback {
    /// Failures go to the client.
    #[default]
    None,
    /// A challenger failing before the first byte is retried on the champion.
    Champion,
}

/// `timeouts:` of a group, all in ms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutsConfig {
    /// TCP/TLS connect. Default 2000.
    pub connect_ms: u64,
    /// Request sent to response headers. Default 30000.
    pub first_byte_ms: u64,
    /// Longest pause between body chunks. Default 30000.
    pub idle_ms: u64,
    /// Whole upstream exchange. Default 300000.
    pub total_ms: u64,
}

/// `records:` of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupRecordsConfig {
    /// Days of records kept; older daily partitions are dropped. Default 30.
    pub retention_days: u32,
    /// Store request and response bodies. Default false.
    pub log_bodies: bool,
    /// Cap on each stored body, bytes. Default 65536.
    pub max_body_bytes: u64,
}

/// One client key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// Client name, recorded with every inference.
    pub name: String,
    /// Hex sha256 of the key (`switchyard hash-key`).
    pub key_sha256: String,
    /// Groups this client may use; `["*"]` for all.
    pub groups: Vec<String>,
    /// Tenant recorded with every inference. Default: the client's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// `records:` — the records pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordsConfig {
    /// ClickHouse; absent: records stay in the spool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clickhouse: Option<ClickHouseConfig>,
    /// The durable on-disk spool.
    pub spool: SpoolConfig,
    /// Shipping batches.
    pub batch: BatchConfig,
    /// Records held in memory between the data plane and the spool. Default 65536.
    pub queue_capacity: usize,
}

/// `records.clickhouse:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickHouseConfig {
    /// HTTP URL, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// Database. Default `switchyard`.
    #[serde(default = "default_database")]
    pub database: String,
    /// User. Default `default`.
    #[serde(default = "default_user")]
    pub user: String,
    /// Password as `env:`/`file:` reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
    /// Create/upgrade the schema at start-up. Default true.
    #[serde(default = "default_true")]
    pub auto_migrate: bool,
}

/// `records.spool:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// Directory. Default `./switchyard-data/spool`.
    pub dir: String,
    /// Bound on spool size, bytes. Default 1 GiB.
    pub max_bytes: u64,
    /// Policy when full. Default `drop_new`.
    pub when_full: WhenFull,
    /// Group-commit interval, ms. Default 100.
    pub fsync_interval_ms: u64,
}

/// `records.spool.when_full`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Keep serving; drop the new record (counted, logged at ERROR).
    #[default]
    DropNew,
    /// Answer 503 with `Retry-After` until there is room.
    Reject,
}

/// `records.batch:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Rows per insert. Default 10000.
    pub max_rows: usize,
    /// Bytes per insert. Default 16 MiB.
    pub max_bytes: usize,
    /// Longest a record waits for its batch, ms. Default 1000.
    pub max_delay_ms: u64,
}

/// `admin:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Bearer tokens for the control API.
    pub tokens: Vec<AdminTokenConfig>,
}

/// One admin token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminTokenConfig {
    /// Who, for the audit log.
    pub name: String,
    /// Hex sha256 of the token.
    pub token_sha256: String,
    /// `admin` or `viewer`.
    pub role: AdminRole,
}

/// What an admin token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminRole {
    /// Read and write.
    Admin,
    /// Read only.
    Viewer,
}

fn default_listen() -> String {
    "0.0.0.0:8080".into()
}
fn default_admin_listen() -> String {
    "127.0.0.1:9090".into()
}
fn default_database() -> String {
    "switchyard".into()
}
fn default_user() -> String {
    "default".into()
}
fn default_true() -> bool {
    true
}
fn default_mirror_concurrency() -> u32 {
    32
}

// === impl defaults ===

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 4 << 20,
            header_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
            keepalive_timeout_ms: 60_000,
            shutdown_grace_ms: 30_000,
            max_response_bytes: 64 << 20,
        }
    }
}

impl Default for TimeoutsConfig {
    fn default() -> Self {
        Self { connect_ms: 2_000, first_byte_ms: 30_000, idle_ms: 30_000, total_ms: 300_000 }
    }
}

impl Default for RetriesConfig {
    fn default() -> Self {
        Self { max_retries: 1, backoff_ms: 25, max_backoff_ms: 1_000, budget_percent: 20.0, budget_reserve: 10 }
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self { enabled: true, window_ms: 10_000, min_requests: 5, failure_percent: 50.0, open_ms: 5_000 }
    }
}

impl Default for GroupRecordsConfig {
    fn default() -> Self {
        Self { retention_days: 30, log_bodies: false, max_body_bytes: 65_536 }
    }
}

impl Default for RecordsConfig {
    fn default() -> Self {
        Self { clickhouse: None, spool: SpoolConfig::default(), batch: BatchConfig::default(), queue_capacity: 65_536 }
    }
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            dir: "./switchyard-data/spool".into(),
            max_bytes: 1 << 30,
            when_full: WhenFull::DropNew,
            fsync_interval_ms: 100,
        }
    }
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self { max_rows: 10_000, max_bytes: 16 << 20, max_delay_ms: 1_000 }
    }
}

impl ProviderKind {
    /// The name used in the config and in records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::Huggingface => "huggingface",
            Self::Oip => "oip",
            Self::Http => "http",
            Self::Mock => "mock",
        }
    }
}

impl Role {
    /// The name used in headers, records and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Champion => "champion",
            Self::Challenger => "challenger",
            Self::Shadow => "shadow",
        }
    }
}

/// `groups.<g>.promotion`: act on the experiment without an operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PromotionConfig {
    /// Fewest requests each arm needs before any action. Default 1000.
    pub min_samples_per_arm: u64,
    /// Seconds the current weights must have been serving before any action. Default 3600.
    pub min_duration_secs: u64,
    /// Non-inferiority margin on the error rate, absolute (0.005 = half a point). Default 0.
    pub error_margin: f64,
    /// Non-inferiority margin on the slow rate, absolute. Default 0.
    pub slow_margin: f64,
    /// Metric to win on: `error_rate`, `slow_rate` or a feedback metric. Default `error_rate`.
    pub metric: String,
    /// Promote a challenger that wins with confidence. Default true.
    pub auto_promote: bool,
    /// Set a challenger that is worse with confidence to weight 0. Default true.
    pub auto_rollback: bool,
    /// How often the experiment is evaluated, seconds. Default 60.
    pub check_interval_secs: u64,
    /// Significance level of the anytime-valid intervals. Default 0.05.
    pub alpha: f64,
}

impl Default for PromotionConfig {
    fn default() -> Self {
        Self {
            min_samples_per_arm: 1000,
            min_duration_secs: 3600,
            error_margin: 0.0,
            slow_margin: 0.0,
            metric: "error_rate".into(),
            auto_promote: true,
            auto_rollback: true,
            check_interval_secs: 60,
            alpha: 0.05,
        }
    }
}
