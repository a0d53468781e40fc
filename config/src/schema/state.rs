//! `state:` — where the control-plane state lives (SPEC §7): config versions, audit,
//! leases, the catalog, jobs, console sessions. A per-process setting.

use serde::{Deserialize, Serialize};

use crate::secret::SecretRef;

/// The embedded default store.
pub const DEFAULT_STATE_URL: &str = "sqlite://./switchyard-data/state.db";

/// `state:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// `sqlite://<path>` (embedded; a relative path resolves against the config file's
    /// directory) or `postgres://user@host:port/db` (several replicas). Default
    /// `sqlite://./switchyard-data/state.db`.
    pub url: String,
    /// The PostgreSQL password as an `env:`/`file:` reference (never in the URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
    /// Routing config (groups, providers, clients, admin tokens, rate limits) lives in the
    /// store as numbered versions shared by every replica, instead of in this file.
    /// PostgreSQL only. Default false.
    pub shared_config: bool,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self { url: DEFAULT_STATE_URL.to_owned(), password: None, shared_config: false }
    }
}
