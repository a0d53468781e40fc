//! `groups.<g>.members[i].explain`: the member's explainer (SPEC §9).
//!
//! The explainer is called after the client has its answer, never on the request's
//! path, for a sample of requests, with the same input; at most `max_in_flight` calls
//! run at once per member and a call that would exceed it is skipped, never queued.

use serde::{Deserialize, Serialize};

/// How the explainer is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ExplainProtocol {
    /// KServe v1 `:explain`: `{"instances": rows}` (rows taken from the request's OIP
    /// `inputs`, or its own `instances`) posted to an `http` provider's URL or to
    /// `<base_url>/v1/models/<model>:explain` of an `oip` one.
    #[default]
    KserveV1,
    /// Open Inference Protocol v2: the request's body as is, to
    /// `<base_url>/v2/models/<model>/infer` of an `oip` provider (an explainer model
    /// answering with an `explanation` output).
    Oip,
    /// The request's body as is, to an `http` provider's URL (`{model}` replaced).
    Http,
}

/// `explain:` of a member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainConfig {
    /// Name of a provider in `providers` (kind `http` or `oip`, fitting `protocol`).
    pub provider: String,
    /// `kserve_v1`, `oip` or `http`. Default `kserve_v1`.
    #[serde(default)]
    pub protocol: ExplainProtocol,
    /// Model name the explainer serves. Default: the member's upstream model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Percent of the member's successful answers explained, 0..=100. Default 10.
    #[serde(default = "default_sample_percent")]
    pub sample_percent: f64,
    /// Whole explainer call (connect, answer, body), ms. Default 10000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Explainer calls in flight for this member at most; beyond it a call is skipped
    /// (counted `busy`), never queued. Default 4.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: u32,
}

// === impl ExplainProtocol ===

impl ExplainProtocol {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KserveV1 => "kserve_v1",
            Self::Oip => "oip",
            Self::Http => "http",
        }
    }
}

fn default_sample_percent() -> f64 {
    10.0
}

fn default_timeout_ms() -> u64 {
    10_000
}

fn default_max_in_flight() -> u32 {
    4
}
