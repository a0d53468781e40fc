//! The `rate_limits:` configuration section (SPEC §11): its serde schema and `validate()`.
//!
//! Self-contained so the config crate can embed [`RateLimitsConfig`] in its schema and turn
//! each [`Problem`] into one of its own. Every struct denies unknown keys; every field says
//! its unit and default. Parsing checks shapes (a bad `per` names the four allowed values);
//! [`RateLimitsConfig::validate`] checks ranges and cross-field rules and reports *all*
//! problems with dotted paths like `rate_limits.rules[2].requests`. Building a limiter from
//! a config is [`crate::Limiter`]'s job and assumes a validated config.

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use redis::IntoConnectionInfo;
use serde::{Deserialize, Serialize};

/// Longest rule name (it is a Redis key part and a metric label).
const MAX_NAME_LEN: usize = 64;
/// Largest `requests`, `tokens` or `burst`: far above any real limit, and small enough that
/// levels stay exact in an `f64` (2^53) after years of arithmetic.
pub const MAX_AMOUNT: u64 = 1 << 40;
/// Largest `redis.timeout_ms`.
const MAX_TIMEOUT_MS: u64 = 5_000;

/// `rate_limits:` — the whole section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsConfig {
    /// Where usage is counted: `local` (this process, exact) or `redis` (shared by
    /// replicas, exact). Default `local`.
    #[serde(default)]
    pub backend: BackendKind,
    /// The Redis server; required with `backend: redis`, ignored otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisConfig>,
    /// The rules; a request is admitted only when every rule that applies to it admits it.
    /// Default none.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
}

/// `rate_limits.backend`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// In this process: exact for one replica, lost on restart.
    #[default]
    Local,
    /// In Redis: shared by every replica that names the same server.
    Redis,
}

/// `rate_limits.redis:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://host:port[/db]`, without a password. Required.
    pub url: String,
    /// The password, as an `env:NAME` or `file:/path` reference (resolved by the config
    /// crate, handed to [`crate::Limiter::new`]). Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// What a request gets when Redis does not answer within `timeout_ms` (or is down):
    /// `allow` admits it uncounted, `deny` refuses it. Default `allow`.
    #[serde(default)]
    pub on_error: OnError,
    /// The most one rate-limit call to Redis may take, ms; past it `on_error` decides.
    /// Default 50.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Prefix of every key this gateway writes, so several deployments can share a server.
    /// Default `switchyard:rl`.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
}

/// `rate_limits.redis.on_error`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Admit the request without counting it (availability first).
    #[default]
    Allow,
    /// Refuse the request (the limit first).
    Deny,
}

/// One rule, `rate_limits.rules[i]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Unique name; usage is stored under it, so editing a rule's limit keeps its usage.
    /// Letters, digits, `-`, `_`, `.`; at most 64 characters. Required.
    pub name: String,
    /// What the rule counts per: `client`, `tenant`, `group`, `provider` or `member`
    /// (a member's key is `group/member`). Required.
    pub scope: Scope,
    /// Only requests whose scope key is exactly this are subject to the rule. Default: every key.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_key: Option<String>,
    /// `true`: one bucket per key; `false`: one bucket shared by every key it applies to.
    /// Default `false`.
    #[serde(default)]
    pub each: bool,
    /// Requests admitted per `per` (GCRA). Exactly one of `requests` and `tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// Tokens (input + output) per `per`, reserved before a call and settled after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// The period of `requests` or `tokens`. Required.
    pub per: Per,
    /// Most units admitted at once (a full bucket). Default: `requests` or `tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u64>,
}

/// What a rule counts per (`rate_limits.rules[i].scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The authenticated client (its configured name). Charged once per request.
    Client,
    /// The client's tenant. Charged once per request.
    Tenant,
    /// The model group. Charged once per request.
    Group,
    /// The provider an attempt goes to. Charged per attempt.
    Provider,
    /// The member an attempt goes to, keyed `group/member`. Charged per attempt.
    Member,
}

/// A rule's period (`rate_limits.rules[i].per`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Per {
    /// One second.
    Second,
    /// 60 seconds.
    Minute,
    /// 3600 seconds.
    Hour,
    /// 86400 seconds.
    Day,
}

/// What a rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Requests (or attempts, for provider and member rules).
    Requests,
    /// Tokens, input plus output.
    Tokens,
}

/// One thing wrong with the section, at `path` (e.g. `rate_limits.rules[2].per`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted path of the key.
    pub path: String,
    /// What is wrong, in words an operator can act on.
    pub message: String,
}

fn default_timeout_ms() -> u64 {
    50
}

fn default_key_prefix() -> String {
    "switchyard:rl".to_owned()
}

// === impl RateLimitsConfig ===

impl RateLimitsConfig {
    /// Checks every range and cross-field rule; returns all problems (empty when valid).
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        match (&self.backend, &self.redis) {
            (BackendKind::Redis, None) => {
                problems.push(Problem::new("rate_limits.redis", "required with backend: redis"))
            }
            (_, Some(redis)) => redis.check(&mut problems),
            (BackendKind::Local, None) => {}
        }
        let mut names = HashSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            rule.check(&format!("rate_limits.rules[{i}]"), &mut names, &mut problems);
        }
        problems
    }
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        Self { backend: BackendKind::Local, redis: None, rules: Vec::new() }
    }
}

// === impl RedisConfig ===

impl RedisConfig {
    /// A config for `url` with every default.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            password: None,
            on_error: OnError::Allow,
            timeout_ms: default_timeout_ms(),
            key_prefix: default_key_prefix(),
        }
    }

    /// `timeout_ms` as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    fn check(&self, problems: &mut Vec<Problem>) {
        let at = |key: &str| format!("rate_limits.redis.{key}");
        if !self.url.starts_with("redis://") {
            problems.push(Problem::new(at("url"), "must be a redis:// URL"));
        } else {
            match self.url.as_str().into_connection_info() {
                Err(_) => problems.push(Problem::new(at("url"), "not a valid redis:// URL")),
                Ok(info) if info.redis_settings().password().is_some() => problems.push(Problem::new(
                    at("url"),
                    "must not hold a password: put it in rate_limits.redis.password as env:NAME or file:/path",
                )),
                Ok(_) => {}
            }
        }
        if let Some(password) = &self.password {
            let reference = password.strip_prefix("env:").or_else(|| password.strip_prefix("file:"));
            if reference.is_none_or(str::is_empty) {
                problems.push(Problem::new(at("password"), "must be an env:NAME or file:/path reference"));
            }
        }
        if self.timeout_ms == 0 || self.timeout_ms > MAX_TIMEOUT_MS {
            problems.push(Problem::new(at("timeout_ms"), format!("must be between 1 and {MAX_TIMEOUT_MS}")));
        }
        if self.key_prefix.is_empty() || self.key_prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
            problems.push(Problem::new(at("key_prefix"), "must be non-empty, without spaces"));
        }
    }
}

// === impl RuleConfig ===

impl RuleConfig {
    /// What the rule counts; `requests` wins when (invalidly) both are set.
    pub fn unit(&self) -> Unit {
        if self.requests.is_some() || self.tokens.is_none() {
            Unit::Requests
        } else {
            Unit::Tokens
        }
    }

    /// Units per period (0 only in an invalid rule).
    pub fn amount(&self) -> u64 {
        self.requests.or(self.tokens).unwrap_or(0)
    }

    /// Most units admitted at once: `burst`, else the amount.
    pub fn burst_or_amount(&self) -> u64 {
        self.burst.unwrap_or_else(|| self.amount())
    }

    fn check(&self, at: &str, names: &mut HashSet<String>, problems: &mut Vec<Problem>) {
        let path = |key: &str| format!("{at}.{key}");
        let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if self.name.is_empty() || self.name.len() > MAX_NAME_LEN || !self.name.chars().all(valid_char) {
            problems.push(Problem::new(
                path("name"),
                format!("must be 1 to {MAX_NAME_LEN} letters, digits, `-`, `_` or `.`"),
            ));
        } else if !names.insert(self.name.clone()) {
            problems.push(Problem::new(path("name"), format!("duplicate rule name `{}`", self.name)));
        }
        if self.match_key.as_deref().is_some_and(str::is_empty) {
            problems.push(Problem::new(path("match"), "must not be empty (omit it to match every key)"));
        }
        match (self.requests, self.tokens) {
            (Some(_), Some(_)) => problems.push(Problem::new(at, "set one of requests and tokens, not both")),
            (None, None) => problems.push(Problem::new(at, "needs requests or tokens")),
            (Some(n), None) => check_amount(&path("requests"), n, problems),
            (None, Some(n)) => check_amount(&path("tokens"), n, problems),
        }
        if let Some(burst) = self.burst {
            check_amount(&path("burst"), burst, problems);
        }
    }
}

fn check_amount(path: &str, n: u64, problems: &mut Vec<Problem>) {
    if n == 0 || n > MAX_AMOUNT {
        problems.push(Problem::new(path, format!("must be between 1 and {MAX_AMOUNT}")));
    }
}

// === impl Scope ===

impl Scope {
    /// The scope's name as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Client => "client",
            Scope::Tenant => "tenant",
            Scope::Group => "group",
            Scope::Provider => "provider",
            Scope::Member => "member",
        }
    }

    /// Whether the scope is charged per attempt (provider, member) rather than per request.
    pub fn per_attempt(self) -> bool {
        matches!(self, Scope::Provider | Scope::Member)
    }
}

// === impl Per ===

impl Per {
    /// The period's length.
    pub fn duration(self) -> Duration {
        Duration::from_secs(match self {
            Per::Second => 1,
            Per::Minute => 60,
            Per::Hour => 3_600,
            Per::Day => 86_400,
        })
    }
}

impl<'de> Deserialize<'de> for Per {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let text = String::deserialize(de)?;
        match text.as_str() {
            "second" => Ok(Per::Second),
            "minute" => Ok(Per::Minute),
            "hour" => Ok(Per::Hour),
            "day" => Ok(Per::Day),
            _ => Err(serde::de::Error::custom("must be second | minute | hour | day")),
        }
    }
}

// === impl Unit ===

impl Unit {
    /// `requests` or `tokens`, as in the `x-ratelimit-*-{unit}` headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Requests => "requests",
            Unit::Tokens => "tokens",
        }
    }
}

// === impl Problem ===

impl Problem {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}
