//! `clients:` and `admin:` — who may call the data plane and the control API.

use serde::{Deserialize, Serialize};

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

/// `admin:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Bearer tokens for the control API.
    pub tokens: Vec<AdminTokenConfig>,
    /// `env:NAME` / `file:/path` references that providers made through the control API
    /// may use as `api_key` (exact match). Per process: taken from this process's own
    /// file, never settable through the API or shared with replicas. Default: empty (API-
    /// made providers take only sealed literal keys).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secret_allow_list: Vec<String>,
    /// A console session ends after this long unused, ms (1000 ..= `session_absolute_ms`).
    /// Default 1800000 (30 min).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_idle_ms: Option<u64>,
    /// A console session ends this long after sign-in however it is used, ms (at most 30
    /// days). Default 43200000 (12 h).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_absolute_ms: Option<u64>,
}

/// Default `admin.session_idle_ms`.
pub const SESSION_IDLE_MS: u64 = 30 * 60 * 1000;
/// Default `admin.session_absolute_ms`.
pub const SESSION_ABSOLUTE_MS: u64 = 12 * 3600 * 1000;
/// Largest `admin.session_absolute_ms` (30 days).
pub const SESSION_ABSOLUTE_MAX_MS: u64 = 30 * 24 * 3600 * 1000;

impl AdminConfig {
    /// `(idle, absolute)` of console sessions, ms, defaults applied.
    pub fn session_limits_ms(&self) -> (u64, u64) {
        (self.session_idle_ms.unwrap_or(SESSION_IDLE_MS), self.session_absolute_ms.unwrap_or(SESSION_ABSOLUTE_MS))
    }
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
    /// A tenant: the token sees only that tenant's groups and inferences (and no other
    /// route; see the README). Absent: every tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
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
