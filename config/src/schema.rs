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

mod access;
mod explain;
mod jobs;
mod listen;
mod policies;
mod records;
mod retention;
mod state;
mod tracing;

pub use access::{
    AdminConfig, AdminRole, AdminTokenConfig, ClientConfig, SESSION_ABSOLUTE_MAX_MS, SESSION_ABSOLUTE_MS,
    SESSION_IDLE_MS,
};
pub use explain::{ExplainConfig, ExplainProtocol};
pub use jobs::JobsConfig;
pub use listen::{LimitsConfig, TlsConfig};
pub use policies::{BreakerConfig, PromotionConfig, RetriesConfig};
pub use records::{BatchConfig, ClickHouseConfig, RecordsConfig, RetryConfig, SpoolConfig, WhenFull};
pub use retention::RetentionConfig;
pub use state::{StateConfig, DEFAULT_STATE_URL};
/// The `rate_limits:` section (SPEC §11); its schema and range checks live with the
/// limiter in `switchyard-ratelimit`, cross-references in [`crate::rate_limits`].
pub use switchyard_ratelimit::config::{
    BackendKind, OnError, Per, RateLimitsConfig, RedisConfig, RuleConfig, Scope as RateLimitScope,
};
pub use tracing::{AccessLogConfig, TracingConfig};

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
    /// Optional TLS for the admin listener (so the console's cookie can be `Secure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_tls: Option<TlsConfig>,
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
    /// The control-plane store (per process).
    #[serde(default, skip_serializing_if = "is_default_state")]
    pub state: StateConfig,
    /// Rate limits and quotas (SPEC §11). Default: none.
    #[serde(default, skip_serializing_if = "no_rate_limits")]
    pub rate_limits: RateLimitsConfig,
    /// Trace export and the access log (per process; read at start-up).
    #[serde(default, skip_serializing_if = "TracingConfig::is_default")]
    pub tracing: TracingConfig,
    /// The fine-tuning job worker (per process; SPEC §10).
    #[serde(default, skip_serializing_if = "JobsConfig::is_default")]
    pub jobs: JobsConfig,
    /// Retention of feedback, explanations, the audit, config versions and the dead-letter
    /// file (per process; read at start-up; run by the `retention` lease holder).
    #[serde(default, skip_serializing_if = "RetentionConfig::is_default")]
    pub retention: RetentionConfig,
}

fn is_default_state(s: &StateConfig) -> bool {
    *s == StateConfig::default()
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
    /// The tenant the group belongs to: tenant-scoped admin and viewer tokens see only
    /// their tenant's groups. Absent: seen only by unscoped tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
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
    /// The member's explainer, called after the answer (SPEC §9). Absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explain: Option<ExplainConfig>,
    /// The model catalog entry this member is (`<provider>/<name>`, SPEC §8). Default: the
    /// entry `<provider>/<model>` when the catalog has one. Its `pricing` gives each
    /// record's `cost`; its `kind` is checked against the group's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<String>,
}

/// A member's role (the one type config, records and headers share).
pub use switchyard_core::Role;

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

fn default_listen() -> String {
    "0.0.0.0:8080".into()
}
fn default_admin_listen() -> String {
    "127.0.0.1:9090".into()
}
fn default_mirror_concurrency() -> u32 {
    32
}
fn no_rate_limits(r: &RateLimitsConfig) -> bool {
    *r == RateLimitsConfig::default()
}

// === impl defaults ===

impl Default for TimeoutsConfig {
    fn default() -> Self {
        Self { connect_ms: 2_000, first_byte_ms: 30_000, idle_ms: 30_000, total_ms: 300_000 }
    }
}

impl Default for GroupRecordsConfig {
    fn default() -> Self {
        Self { retention_days: 30, log_bodies: false, max_body_bytes: 65_536 }
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
