//! [`Limiter`]: the data plane's one handle on rate limits.
//!
//! It owns the compiled rules and the backend behind an `ArcSwap`, so a check loads one
//! snapshot and keeps it (as an `Arc`) until it answers, and a config edit swaps both at
//! once. An edit keeps the backend (and its connection) when the backend settings are
//! unchanged, and keeps each rule's usage when a rule of the same name and unit remains —
//! whatever its new limit. Switching backend starts usage afresh.
//!
//! Per request the gateway calls [`Limiter::acquire`] with [`Charge::Request`] after
//! authenticate and with [`Charge::Attempt`] per attempt after assign (or once with
//! [`Charge::RequestAndAttempt`]), then settles the returned [`Reservation`]s when the
//! token usage is known. A call with no applicable rule returns at once without touching
//! the backend.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use prometheus::Registry;
use switchyard_core::KeyUsage;

use crate::backend::Backend;
use crate::config::{BackendKind, OnError, RateLimitsConfig, Unit};
use crate::decision::{Limited, Quotas};
use crate::error::RateLimitError;
use crate::local::LocalBackend;
use crate::metrics::Metrics;
use crate::redis_backend::RedisBackend;
use crate::reservation::Reservation;
use crate::rules::{Charge, Rule, RuleSet, Subject};
use crate::slot::Slot;

/// The rate limiter (cheap to clone; clones share everything).
#[derive(Clone)]
pub struct Limiter {
    inner: Arc<Inner>,
}

struct Inner {
    state: ArcSwap<State>,
    metrics: Metrics,
    /// Serialises `update`s so each builds on the latest state.
    updating: Mutex<()>,
}

/// One configuration's rules and the backend they count on.
pub(crate) struct State {
    pub rules: RuleSet,
    pub backend: Arc<dyn Backend>,
    pub on_error: OnError,
    setup: Setup,
}

/// What decides whether an edit may keep the backend.
#[derive(PartialEq, Eq)]
enum Setup {
    Local,
    /// URL, key prefix, timeout and a hash of the password (the secret itself is not kept).
    Redis {
        url: String,
        key_prefix: String,
        timeout_ms: u64,
        password: Option<u64>,
    },
}

/// An admitted check.
#[derive(Debug)]
pub struct Grant {
    /// For the `x-ratelimit-*` headers (empty when no rule applied or nothing was checked).
    pub quotas: Quotas,
    /// Tokens reserved; settle or refund once the usage is known.
    pub reservation: Reservation,
    /// Admitted without a check because the backend did not answer (`on_error: allow`).
    pub unchecked: bool,
}

// === impl Limiter ===

impl Limiter {
    /// Builds a limiter from a section (validated here too) and registers its metrics on
    /// `registry`. `redis_password` is the resolved `rate_limits.redis.password`. Must run
    /// inside a tokio runtime when the backend is `redis`; a down Redis is not an error.
    pub fn new(
        cfg: &RateLimitsConfig,
        redis_password: Option<&str>,
        registry: &Registry,
    ) -> Result<Self, RateLimitError> {
        let metrics = Metrics::new(registry)?;
        let state = build(cfg, redis_password, &metrics, None)?;
        Ok(Self { inner: Arc::new(Inner { state: ArcSwap::from_pointee(state), metrics, updating: Mutex::new(()) }) })
    }

    /// Applies an edited section. Checks in flight finish on the rules they started with.
    /// On an error the previous rules keep working.
    pub fn update(&self, cfg: &RateLimitsConfig, redis_password: Option<&str>) -> Result<(), RateLimitError> {
        let _serial = self.inner.updating.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let previous = self.inner.state.load_full();
        let state = build(cfg, redis_password, &self.inner.metrics, Some(&previous))?;
        self.inner.state.store(Arc::new(state));
        Ok(())
    }

    /// Checks and charges the rules of `charge` for `subject`, all atomically: admitted by
    /// every rule, or charged to none. Requests rules are charged 1; tokens rules
    /// `token_estimate` (input estimate + `max_tokens`), to be settled through the returned
    /// reservation. Never waits longer than the backend's timeout. A refusal is boxed: it
    /// is the rarer, larger answer.
    pub async fn acquire(
        &self,
        subject: &Subject<'_>,
        charge: Charge,
        token_estimate: u64,
    ) -> Result<Grant, Box<Limited>> {
        if !self.inner.state.load().rules.any_for(charge) {
            return Ok(Grant::none());
        }
        let state = self.inner.state.load_full();
        crate::check::run(&state, &self.inner.metrics, subject, charge, token_estimate).await
    }

    /// Whether any tokens rule applies to `subject` under `charge`: only then is a token
    /// estimate worth computing (and a stream's usage worth asking for).
    pub fn counts_tokens(&self, subject: &Subject<'_>, charge: Charge) -> bool {
        self.inner.state.load().rules.any_tokens(subject, charge)
    }

    /// The `top` busiest keys, busiest (largest share of its limit in use) first. For
    /// `redis` these are the levels this replica last saw.
    pub fn busiest_keys(&self, top: usize) -> Vec<KeyUsage> {
        let state = self.inner.state.load();
        let now = state.backend.now_us();
        let mut rows: Vec<KeyUsage> = Vec::new();
        for rule in &state.rules.rules {
            for (key, level) in rule.slot.usage(now, &rule.gcra) {
                rows.push(KeyUsage { rule: rule.name.to_string(), key, used: level.ceil() as u64, limit: rule.amount });
            }
        }
        let share = |u: &KeyUsage| u.used as f64 / u.limit.max(1) as f64;
        rows.sort_by(|a, b| share(b).total_cmp(&share(a)).then(b.used.cmp(&a.used)).then(a.rule.cmp(&b.rule)));
        rows.truncate(top);
        rows
    }

    /// Drops every drained bucket held in this process (inserts also sweep as maps grow;
    /// call this now and then to return memory after a burst of keys).
    pub fn sweep(&self) {
        let state = self.inner.state.load();
        let now = state.backend.now_us();
        for rule in &state.rules.rules {
            rule.slot.sweep(now, &rule.gcra);
        }
    }

    /// Buckets held in this process across all rules (drained ones included until swept).
    pub fn buckets_held(&self) -> usize {
        self.inner.state.load().rules.rules.iter().map(|r| r.slot.len()).sum()
    }

    /// Whether the backend is answering (always true for `local`).
    pub fn backend_up(&self) -> bool {
        self.inner.metrics.backend_up.get() == 1
    }

    /// The configured rules' names, in config order.
    pub fn rule_names(&self) -> Vec<String> {
        self.inner.state.load().rules.rules.iter().map(|r| r.name.to_string()).collect()
    }
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").field("rules", &self.rule_names()).finish()
    }
}

// === impl Grant ===

impl Grant {
    /// Admitted with no rule applying.
    pub fn none() -> Self {
        Self { quotas: Quotas::default(), reservation: Reservation::empty(), unchecked: false }
    }
}

// === impl Setup ===

impl Setup {
    fn of(cfg: &RateLimitsConfig, password: Option<&str>) -> Self {
        match (cfg.backend, &cfg.redis) {
            (BackendKind::Redis, Some(redis)) => Setup::Redis {
                url: redis.url.clone(),
                key_prefix: redis.key_prefix.clone(),
                timeout_ms: redis.timeout_ms,
                password: password.map(|p| xxhash_rust::xxh3::xxh3_64(p.as_bytes())),
            },
            _ => Setup::Local,
        }
    }
}

/// Compiles `cfg`, reusing `previous`'s backend and slots where the backend is unchanged.
fn build(
    cfg: &RateLimitsConfig,
    password: Option<&str>,
    metrics: &Metrics,
    previous: Option<&State>,
) -> Result<State, RateLimitError> {
    let problems = cfg.validate();
    if !problems.is_empty() {
        return Err(RateLimitError::Invalid { problems });
    }
    let setup = Setup::of(cfg, password);
    let kept = previous.filter(|p| p.setup == setup);
    let backend: Arc<dyn Backend> = match (kept, &cfg.redis) {
        (Some(p), _) => p.backend.clone(),
        (None, Some(redis)) if setup != Setup::Local => {
            RedisBackend::new(redis, password, metrics.backend_up.clone()).map_err(RateLimitError::Redis)?
        }
        (None, _) => {
            metrics.backend_up.set(1);
            Arc::new(LocalBackend::new())
        }
    };
    let slots: HashMap<(&str, Unit), &Arc<Slot>> =
        kept.map(|p| p.rules.rules.iter().map(|r| ((&*r.name, r.unit), &r.slot)).collect()).unwrap_or_default();
    let rules = cfg
        .rules
        .iter()
        .map(|rc| {
            let slot = match slots.get(&(rc.name.as_str(), rc.unit())) {
                Some(slot) => Arc::clone(slot),
                None => Arc::new(Slot::new(rc.name.as_str().into(), rc.unit())),
            };
            Rule::new(rc, slot, metrics.limited_for(&rc.name))
        })
        .collect();
    for old in previous.map(|p| p.rules.rules.as_slice()).unwrap_or_default() {
        if !cfg.rules.iter().any(|rc| rc.name == *old.name) {
            metrics.forget(&old.name);
        }
    }
    let on_error = cfg.redis.as_ref().map(|r| r.on_error).unwrap_or_default();
    Ok(State { rules: RuleSet::new(rules), backend, on_error, setup })
}
