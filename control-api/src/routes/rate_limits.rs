//! `/api/v1/rate-limits`: the rate-limit rules in force and the busiest keys (SPEC §11),
//! and replacing the rules.
//!
//! The rules come from the running config; the busiest keys from the data plane's
//! limiter through the [`switchyard_core::DataPlane`] seam (with `backend: redis`, the
//! levels this replica last saw). `PUT` replaces `rate_limits.rules` through the one edit
//! path (If-Match, the file's validator with paths like `rate_limits.rules[2].per`, an
//! atomic write, the audit trail). Usage is kept by rule name, so a changed limit applies
//! to the usage already counted. Backend and Redis settings are changed in the file only:
//! they name a server and a password reference, which the API neither shows nor takes.

use axum::extract::{Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use switchyard_config::schema::{BackendKind, OnError, RateLimitsConfig, RuleConfig};
use switchyard_config::{Config, ConfigError};

use super::tagged;
use crate::auth::{Operator, Writer};
use crate::edit::{apply, Edit};
use crate::error::ApiError;
use crate::extract::{Body, IfMatch};
use crate::ControlState;

/// Busiest keys listed by default, and at most.
const DEFAULT_TOP: usize = 20;
const MAX_TOP: usize = 1_000;

/// `GET /rate-limits` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RateLimitsView {
    /// The config version the rules come from (also the `ETag`).
    pub version: u64,
    /// `local` (this process) or `redis` (shared by replicas).
    pub backend: String,
    /// The Redis server, with `backend: redis` (never its password).
    pub redis: Option<RedisView>,
    /// The rules, in config order, as in the YAML file.
    #[schema(value_type = Vec<RuleDoc>)]
    pub rules: Vec<RuleConfig>,
    /// The busiest keys, largest share of their limit first.
    pub busiest: Vec<BusyKey>,
}

/// The Redis settings as the API shows them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RedisView {
    /// `redis://host:port[/db]`.
    pub url: String,
    /// `allow` or `deny` when Redis does not answer in time.
    pub on_error: String,
    /// Longest wait for Redis per check, ms.
    pub timeout_ms: u64,
    /// Prefix of every key.
    pub key_prefix: String,
    /// Whether a password reference is configured.
    pub password_set: bool,
}

/// One rule (the shape of `rate_limits.rules[i]`; documentation of [`RuleConfig`]).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct RuleDoc {
    /// Unique name; usage is stored under it.
    name: String,
    /// `client`, `tenant`, `group`, `provider` or `member` (key `group/member`).
    scope: String,
    /// Only this key is subject to the rule (absent: every key).
    #[schema(rename = "match")]
    match_key: Option<String>,
    /// One bucket per key (`true`) or one shared bucket (`false`, the default).
    each: Option<bool>,
    /// Requests per `per` (GCRA). Exactly one of `requests` and `tokens`.
    requests: Option<u64>,
    /// Tokens (input + output) per `per`, reserved before a call and settled after it.
    tokens: Option<u64>,
    /// `second`, `minute`, `hour` or `day`.
    per: String,
    /// Most units admitted at once (default: `requests` or `tokens`).
    burst: Option<u64>,
}

/// One key's live usage of a rule.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BusyKey {
    /// The rule.
    pub rule: String,
    /// The key (a client, tenant, group, provider or `group/member`; empty for a shared bucket).
    pub key: String,
    /// Units in use now (requests or tokens).
    pub used: u64,
    /// The rule's limit per period.
    pub limit: u64,
}

/// `?top=` of `GET /rate-limits`.
#[derive(Debug, Deserialize)]
pub struct Top {
    top: Option<usize>,
}

/// `PUT /rate-limits` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesBody {
    /// The new rules, replacing all of them (`[]` removes every rule).
    #[schema(value_type = Vec<RuleDoc>)]
    pub rules: Vec<RuleConfig>,
}

fn rules_json(cfg: &Config) -> serde_json::Value {
    serde_json::to_value(&cfg.rate_limits.rules).unwrap_or_default()
}

fn view(cfg: &RateLimitsConfig, version: u64, busiest: Vec<BusyKey>) -> RateLimitsView {
    let redis = cfg.redis.as_ref().filter(|_| cfg.backend == BackendKind::Redis).map(|r| RedisView {
        url: r.url.clone(),
        on_error: match r.on_error {
            OnError::Allow => "allow",
            OnError::Deny => "deny",
        }
        .to_owned(),
        timeout_ms: r.timeout_ms,
        key_prefix: r.key_prefix.clone(),
        password_set: r.password.is_some(),
    });
    let backend = match cfg.backend {
        BackendKind::Local => "local",
        BackendKind::Redis => "redis",
    };
    RateLimitsView { version, backend: backend.to_owned(), redis, rules: cfg.rules.clone(), busiest }
}

/// `GET /api/v1/rate-limits?top=`: the rules and the `top` busiest keys (default 20).
#[utoipa::path(get, path = "/api/v1/rate-limits", tag = "rate-limits",
    params(("top" = Option<usize>, Query, description = "busiest keys to list (default 20, at most 1000)")),
    responses((status = 200, body = RateLimitsView)))]
pub async fn get(State(state): State<ControlState>, _: Operator, Query(q): Query<Top>) -> Response {
    let (cfg, version) = state.editor.snapshot();
    let top = q.top.unwrap_or(DEFAULT_TOP).min(MAX_TOP);
    tagged(version, view(&cfg.rate_limits, version, busiest(&state, top)))
}

fn busiest(state: &ControlState, top: usize) -> Vec<BusyKey> {
    let keys = state.dataplane.busiest_keys(top);
    keys.into_iter().map(|k| BusyKey { rule: k.rule, key: k.key, used: k.used, limit: k.limit }).collect()
}

/// `PUT /api/v1/rate-limits` `{"rules": [...]}`: replaces the rules; usage is kept per
/// rule name.
#[utoipa::path(put, path = "/api/v1/rate-limits", tag = "rate-limits", request_body = RulesBody,
    responses((status = 200, body = RateLimitsView), (status = 412), (status = 422), (status = 428)))]
pub async fn put(
    State(state): State<ControlState>,
    Writer(op): Writer,
    IfMatch(expected): IfMatch,
    Body(body): Body<serde_json::Value>,
) -> Result<Response, ApiError> {
    // Shape errors get the validator's paths too (`rate_limits.rules[0].per`).
    let body: RulesBody = serde_path_to_error::deserialize(body).map_err(|e| {
        let path = match e.path().to_string() {
            root if root == "." => "rate_limits".to_owned(),
            path => format!("rate_limits.{path}"),
        };
        ApiError::Invalid(ConfigError::one(path, e.into_inner().to_string()))
    })?;
    let edited = apply(
        &state,
        &Edit { actor: &op.name, reason: "", expected, action: "rate_limits.replace" },
        "rate_limits.rules",
        rules_json,
        move |cfg, _| {
            cfg.rate_limits.rules = body.rules;
            Ok(())
        },
    )
    .await?;
    Ok(tagged(edited.version, view(&edited.after.rate_limits, edited.version, busiest(&state, DEFAULT_TOP))))
}
