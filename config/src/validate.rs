//! Parsing and validation: text → [`Config`] → list of [`Problem`]s.
//!
//! `parse` reports the first syntax or schema error with its key path (unknown keys
//! included). `validate` checks every rule of SPEC §2 and collects *all* problems, so an
//! operator fixes a file in one pass. The same code validates the watched file and every
//! control-API edit; nothing else decides whether a config is acceptable.

use std::collections::HashSet;

mod explain;

use crate::error::{ConfigError, Problem};
use crate::schema::{AdminRole, Config, GroupConfig, MemberConfig, PromotionConfig, ProviderKind, Role};

mod names;
mod settings;

use names::{check_allow_list, check_name, check_text};
use settings::{check_addr, check_limits, check_records, check_session_limits, check_state};

/// Parses YAML text into a [`Config`], reporting the failing key's path. A key repeated
/// within one mapping is refused (YAML would keep the last one silently).
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    if let Err(dup) = crate::dupes::check(serde_yaml_ng::Deserializer::from_str(text)) {
        if dup.message.starts_with("duplicate key") {
            return Err(ConfigError::one(dup.path, dup.message));
        }
        // Anything else is a syntax error, which the typed parse below reports.
    }
    let de = serde_yaml_ng::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let mut message = err.into_inner().to_string();
        // The YAML library prefixes its own (parent) path; ours is more precise.
        if let Some((prefix, rest)) = message.split_once(": ") {
            if !prefix.contains(' ') && path.starts_with(prefix) {
                message = rest.to_owned();
            }
        }
        ConfigError::one(path, message)
    })
}

/// Checks every cross-reference and range rule; returns all problems found.
pub fn validate(cfg: &Config) -> Result<(), ConfigError> {
    let mut problems = Vec::new();
    check_addr(&mut problems, "listen", &cfg.listen);
    check_addr(&mut problems, "admin_listen", &cfg.admin_listen);
    check_limits(cfg, &mut problems);
    check_providers(cfg, &mut problems);
    for (name, group) in &cfg.groups {
        check_group(cfg, name, group, &mut problems);
    }
    check_clients(cfg, &mut problems);
    check_records(cfg, &mut problems);
    check_state(cfg, &mut problems);
    crate::rate_limits::check(cfg, &mut problems);
    cfg.tracing.check(&mut problems);
    cfg.jobs.check(&mut problems);
    cfg.retention.check(&mut problems);
    for (i, token) in cfg.admin.tokens.iter().enumerate() {
        check_text(&mut problems, &format!("admin.tokens[{i}].name"), &token.name);
        check_sha256(&mut problems, &format!("admin.tokens[{i}].token_sha256"), &token.token_sha256);
        if let Some(tenant) = &token.tenant {
            check_name(&mut problems, &format!("admin.tokens[{i}].tenant"), tenant);
        }
        let _: AdminRole = token.role;
    }
    check_allow_list(&mut problems, &cfg.admin.secret_allow_list);
    check_session_limits(&mut problems, &cfg.admin);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.into())
    }
}

fn check_providers(cfg: &Config, problems: &mut Vec<Problem>) {
    for (name, p) in &cfg.providers {
        let at = |key: &str| format!("providers.{name}.{key}");
        check_name(problems, &format!("providers.{name}"), name);
        if let Some(key) = &p.api_key {
            if let Err(msg) = key.source() {
                problems.push(Problem::new(at("api_key"), msg));
            }
        }
        let mock_only = [
            ("latency_ms", p.latency_ms.is_some()),
            ("input_tokens", p.input_tokens.is_some()),
            ("output_tokens", p.output_tokens.is_some()),
            ("stream_chunks", p.stream_chunks.is_some()),
            ("chunk_delay_ms", p.chunk_delay_ms.is_some()),
            ("error_rate", p.error_rate.is_some()),
        ];
        match p.kind {
            ProviderKind::Mock => {
                if let Some(rate) = p.error_rate {
                    if !(0.0..=1.0).contains(&rate) {
                        problems.push(Problem::new(at("error_rate"), "must be between 0 and 1"));
                    }
                }
                if p.base_url.is_some() {
                    problems.push(Problem::new(at("base_url"), "a mock provider has no base_url"));
                }
                for (key, set) in [
                    ("api_version", p.api_version.is_some()),
                    ("deployment", p.deployment.is_some()),
                    ("ca_file", p.ca_file.is_some()),
                    ("pool_max_idle_per_host", p.pool_max_idle_per_host.is_some()),
                    ("max_in_flight", p.max_in_flight.is_some()),
                ] {
                    if set {
                        problems.push(Problem::new(at(key), "not valid for kind mock"));
                    }
                }
            }
            kind => {
                match &p.base_url {
                    None => problems.push(Problem::new(at("base_url"), format!("required for kind {}", kind.as_str()))),
                    Some(url) => check_url(problems, &at("base_url"), url),
                }
                for (key, set) in mock_only {
                    if set {
                        problems.push(Problem::new(at(key), "only valid for kind mock"));
                    }
                }
                if p.api_version.is_some() && !matches!(kind, ProviderKind::Openai | ProviderKind::Anthropic) {
                    problems.push(Problem::new(at("api_version"), "only valid for kinds openai (Azure) and anthropic"));
                }
                if let Some(v) = &p.api_version {
                    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_graphic()) {
                        problems.push(Problem::new(at("api_version"), "must be a non-empty printable string"));
                    }
                }
                if p.deployment.is_some() && !(kind == ProviderKind::Openai && p.api_version.is_some()) {
                    problems
                        .push(Problem::new(at("deployment"), "only valid for kind openai with api_version (Azure)"));
                }
                if let Some(d) = &p.deployment {
                    check_name(problems, &at("deployment"), d);
                }
                if p.ca_file.as_deref() == Some("") {
                    problems.push(Problem::new(at("ca_file"), "must not be empty"));
                }
                if p.max_in_flight == Some(0) {
                    problems.push(Problem::new(at("max_in_flight"), "must be > 0"));
                }
            }
        }
        for header in p.headers.keys() {
            if http_token(header).is_none() {
                problems.push(Problem::new(at(&format!("headers.{header}")), "not a valid header name"));
            }
        }
    }
}

fn check_url(problems: &mut Vec<Problem>, path: &str, url: &str) {
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url.split("://").nth(1).is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
    if !ok {
        problems.push(Problem::new(path, format!("`{url}` is not an http:// or https:// URL")));
    }
}

/// A header name is a lowercase-able token of visible ASCII without separators.
fn http_token(s: &str) -> Option<()> {
    let ok = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    ok.then_some(())
}

fn check_group(cfg: &Config, name: &str, group: &GroupConfig, problems: &mut Vec<Problem>) {
    let at = |key: &str| format!("groups.{name}.{key}");
    check_name(problems, &format!("groups.{name}"), name);
    if let Some(tenant) = &group.tenant {
        check_name(problems, &at("tenant"), tenant);
    }
    if group.members.is_empty() {
        problems.push(Problem::new(at("members"), "a group needs at least a champion"));
        return;
    }
    check_members(cfg, name, group, problems);
    if let Some(sticky) = &group.assignment.sticky_key {
        let ok = match sticky.split_once(':') {
            Some(("header", h)) => http_token(h).is_some(),
            Some(("body", "user")) => true,
            _ => false,
        };
        if !ok {
            problems.push(Problem::new(
                at("assignment.sticky_key"),
                format!("`{sticky}` must be `header:<name>` or `body:user`"),
            ));
        }
    }
    check_policies(name, group, problems);
    if let Some(p) = &group.promotion {
        check_promotion(name, p, problems);
    }
    if group.records.retention_days == 0 {
        problems.push(Problem::new(at("records.retention_days"), "must be >= 1"));
    }
}

/// One champion, unique member names, known providers, and weights (or mirror shares)
/// that make a split.
fn check_members(cfg: &Config, name: &str, group: &GroupConfig, problems: &mut Vec<Problem>) {
    let champions = group.members.iter().filter(|m| m.role == Role::Champion).count();
    if champions != 1 {
        problems.push(Problem::new(
            format!("groups.{name}.members"),
            format!("exactly one champion required (found {champions})"),
        ));
    }
    let mut seen = HashSet::new();
    let mut shares = Vec::with_capacity(group.members.len());
    for (i, m) in group.members.iter().enumerate() {
        let mat = |key: &str| format!("groups.{name}.members[{i}].{key}");
        check_name(problems, &mat("name"), &m.name);
        if !seen.insert(m.name.as_str()) {
            problems.push(Problem::new(mat("name"), format!("duplicate member name `{}`", m.name)));
        }
        if !cfg.providers.contains_key(&m.provider) {
            problems.push(Problem::new(mat("provider"), format!("unknown provider `{}`", m.provider)));
        }
        if let Some(model) = &m.model {
            check_text(problems, &mat("model"), model);
        }
        let w = check_share(m, &mat, problems);
        if w > 0.0 {
            shares.push(w);
        }
        if let Some(x) = &m.explain {
            explain::check_explain(cfg, m, x, &mat, problems);
        }
    }
    let total: f64 = shares.iter().sum();
    if !total.is_finite() {
        let sum = shares.iter().map(|w| format!("{w:e}")).collect::<Vec<_>>().join(" + ");
        problems.push(Problem::new(
            format!("groups.{name}.members"),
            format!("weights of champion and challengers must sum to a finite number ({sum} overflows)"),
        ));
    } else if champions == 1 && total <= 0.0 {
        problems.push(Problem::new(
            format!("groups.{name}.members"),
            "weights of champion and challengers must sum to more than 0",
        ));
    }
}

/// A shadow's `mirror_percent` or a routable member's `weight`; returns the weight that
/// counts towards the group's total.
fn check_share(m: &MemberConfig, mat: &impl Fn(&str) -> String, problems: &mut Vec<Problem>) -> f64 {
    match m.role {
        Role::Shadow => {
            if m.weight.is_some() {
                problems.push(Problem::new(mat("weight"), "a shadow takes mirror_percent, not weight"));
            }
            match m.mirror_percent {
                None => problems.push(Problem::new(mat("mirror_percent"), "required for a shadow")),
                Some(p) if !(0.0..=100.0).contains(&p) => {
                    problems.push(Problem::new(mat("mirror_percent"), "must be between 0 and 100"))
                }
                Some(_) => {}
            }
            0.0
        }
        Role::Champion | Role::Challenger => {
            if m.mirror_percent.is_some() {
                problems.push(Problem::new(mat("mirror_percent"), "only a shadow takes mirror_percent"));
            }
            let w = m.weight.unwrap_or(0.0);
            if !w.is_finite() {
                problems.push(Problem::new(mat("weight"), "must be a finite number"));
                0.0
            } else if w < 0.0 {
                problems.push(Problem::new(mat("weight"), "must be >= 0"));
                0.0
            } else if w != 0.0 && !w.is_normal() {
                problems.push(Problem::new(
                    mat("weight"),
                    format!("must be 0 or at least {:e} (a subnormal number cannot be a share)", f64::MIN_POSITIVE),
                ));
                0.0
            } else {
                w
            }
        }
    }
}

/// Timeouts, retries, the breaker and mirror concurrency.
fn check_policies(name: &str, group: &GroupConfig, problems: &mut Vec<Problem>) {
    let at = |key: &str| format!("groups.{name}.{key}");
    let t = &group.timeouts;
    for (key, v) in [
        ("connect_ms", t.connect_ms),
        ("first_byte_ms", t.first_byte_ms),
        ("idle_ms", t.idle_ms),
        ("total_ms", t.total_ms),
    ] {
        if v == 0 {
            problems.push(Problem::new(at(&format!("timeouts.{key}")), "must be > 0"));
        }
    }
    let r = &group.retries;
    if r.backoff_ms == 0 {
        problems.push(Problem::new(at("retries.backoff_ms"), "must be > 0"));
    }
    if r.max_backoff_ms < r.backoff_ms {
        problems.push(Problem::new(at("retries.max_backoff_ms"), "must be >= retries.backoff_ms"));
    }
    if !(0.0..=100.0).contains(&r.budget_percent) {
        problems.push(Problem::new(at("retries.budget_percent"), "must be between 0 and 100"));
    }
    if r.max_retries > 10 {
        problems.push(Problem::new(at("retries.max_retries"), "must be <= 10"));
    }
    let b = &group.breaker;
    for (key, bad, rule) in [
        ("window_ms", b.window_ms == 0, "must be > 0"),
        ("open_ms", b.open_ms == 0, "must be > 0"),
        ("min_requests", b.min_requests == 0, "must be >= 1"),
        ("failure_percent", !(b.failure_percent > 0.0 && b.failure_percent <= 100.0), "must be in (0, 100]"),
    ] {
        if bad {
            problems.push(Problem::new(at(&format!("breaker.{key}")), rule));
        }
    }
    if group.mirror_concurrency == 0 {
        problems.push(Problem::new(at("mirror_concurrency"), "must be >= 1"));
    }
}

/// Auto-promotion rules.
fn check_promotion(name: &str, p: &PromotionConfig, problems: &mut Vec<Problem>) {
    let at = |key: &str| format!("groups.{name}.promotion.{key}");
    for (key, v) in [("error_margin", p.error_margin), ("slow_margin", p.slow_margin)] {
        if !(v.is_finite() && v >= 0.0) {
            problems.push(Problem::new(at(key), "must be a finite number >= 0"));
        }
    }
    if !(p.alpha > 0.0 && p.alpha < 0.5) {
        problems.push(Problem::new(at("alpha"), "must be in (0, 0.5)"));
    }
    if p.metric.trim().is_empty() {
        problems.push(Problem::new(at("metric"), "must not be empty"));
    }
    if p.check_interval_secs == 0 {
        problems.push(Problem::new(at("check_interval_secs"), "must be > 0"));
    }
}

fn check_clients(cfg: &Config, problems: &mut Vec<Problem>) {
    let Some(clients) = &cfg.clients else { return };
    let mut names = HashSet::new();
    let mut keys = HashSet::new();
    for (i, c) in clients.iter().enumerate() {
        let at = |key: &str| format!("clients[{i}].{key}");
        check_name(problems, &at("name"), &c.name);
        if let Some(tenant) = &c.tenant {
            check_name(problems, &at("tenant"), tenant);
        }
        if !names.insert(c.name.as_str()) {
            problems.push(Problem::new(at("name"), format!("duplicate client name `{}`", c.name)));
        }
        check_sha256(problems, &at("key_sha256"), &c.key_sha256);
        if !keys.insert(c.key_sha256.to_ascii_lowercase()) {
            problems.push(Problem::new(at("key_sha256"), "the same key is configured for two clients"));
        }
        // A group of another tenant is one this client can never use: as unknown as a
        // group that does not exist (and said the same way).
        let tenant = c.tenant.as_deref().unwrap_or(&c.name);
        for (j, g) in c.groups.iter().enumerate() {
            let usable = cfg.groups.get(g).is_some_and(|gc| gc.tenant.as_deref().is_none_or(|t| t == tenant));
            if g != "*" && !usable {
                problems.push(Problem::new(format!("clients[{i}].groups[{j}]"), format!("unknown group `{g}`")));
            }
        }
    }
}

fn check_sha256(problems: &mut Vec<Problem>, path: &str, hex: &str) {
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        problems.push(Problem::new(path, "must be 64 hex characters (see `switchyard hash-key`)"));
    }
}
