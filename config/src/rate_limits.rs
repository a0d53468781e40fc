//! The `rate_limits:` section as the config validator sees it (SPEC §11).
//!
//! The section's schema and its own range checks belong to `switchyard-ratelimit`
//! ([`RateLimitsConfig::validate`]); [`check`] maps those problems into the validator's
//! (same dotted paths, e.g. `rate_limits.rules[2].per`) and adds what only the whole file
//! knows: a rule's `match` names a group, provider or member (`<group>/<member>`) that
//! exists, and — when `clients:` is configured — a client or tenant that exists. The Redis
//! password is an `env:`/`file:` reference, resolved when the table is built like every
//! other secret ([`resolve_password`]); its value is never stored in the config.

use crate::error::Problem;
use crate::schema::{BackendKind, Config, RateLimitScope, RateLimitsConfig};
use crate::secret::{Secret, SecretRef};

/// The tenant of requests the gateway makes for itself (SPEC §8); always a known tenant.
const SYSTEM_TENANT: &str = "system";

/// Adds every problem of `cfg.rate_limits` to `problems`.
pub fn check(cfg: &Config, problems: &mut Vec<Problem>) {
    for p in cfg.rate_limits.validate() {
        problems.push(Problem::new(p.path, p.message));
    }
    for (i, rule) in cfg.rate_limits.rules.iter().enumerate() {
        let Some(key) = rule.match_key.as_deref().filter(|k| !k.is_empty()) else { continue };
        if let Some(message) = unknown_match(cfg, rule.scope, key) {
            problems.push(Problem::new(format!("rate_limits.rules[{i}].match"), message));
        }
    }
}

/// Why `key` names nothing in `scope`, if it does not.
fn unknown_match(cfg: &Config, scope: RateLimitScope, key: &str) -> Option<String> {
    let clients = cfg.clients.as_deref();
    let known = match scope {
        RateLimitScope::Group => cfg.groups.contains_key(key),
        RateLimitScope::Provider => cfg.providers.contains_key(key),
        RateLimitScope::Member => cfg.groups.iter().any(|(g, gc)| {
            key.strip_prefix(g.as_str())
                .and_then(|r| r.strip_prefix('/'))
                .is_some_and(|m| gc.members.iter().any(|member| member.name == m))
        }),
        // Without `clients:` the data plane takes no key; a client or tenant rule then
        // applies only to requests the gateway makes for itself, whose names it chooses.
        RateLimitScope::Client => clients.is_none_or(|cs| cs.iter().any(|c| c.name == key)),
        RateLimitScope::Tenant => {
            key == SYSTEM_TENANT
                || clients.is_none_or(|cs| cs.iter().any(|c| c.tenant.as_deref().unwrap_or(&c.name) == key))
        }
    };
    if known {
        return None;
    }
    Some(match scope {
        RateLimitScope::Member => format!("no member `{key}` in this config (write a member as `<group>/<member>`)"),
        scope => format!("no {} `{key}` in this config", scope.as_str()),
    })
}

/// The resolved `rate_limits.redis.password` (with `backend: redis`), or the problem at
/// its path when the reference cannot be read.
pub fn resolve_password(cfg: &RateLimitsConfig) -> Result<Option<Secret>, Problem> {
    let reference = cfg.redis.as_ref().filter(|_| cfg.backend == BackendKind::Redis).and_then(|r| r.password.as_ref());
    let Some(reference) = reference else { return Ok(None) };
    SecretRef(reference.clone())
        .resolve()
        .map(Some)
        .map_err(|message| Problem::new("rate_limits.redis.password", message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{parse, validate};

    const BASE: &str = r#"
providers: { openai: { kind: openai, base_url: "http://127.0.0.1:1/v1" } }
groups:
  bot/v2:
    members: [ { name: gpt, role: champion, provider: openai, weight: 1 } ]
clients:
  - { name: web, key_sha256: "0000000000000000000000000000000000000000000000000000000000000000", groups: ["*"], tenant: acme }
"#;

    fn problems(rules: &str) -> Vec<String> {
        let cfg = parse(&format!("{BASE}rate_limits:\n  rules:\n{rules}")).expect("parses");
        validate(&cfg).err().map(|e| e.problems.iter().map(ToString::to_string).collect()).unwrap_or_default()
    }

    #[test]
    fn ranges_and_references_are_problems_with_their_paths() {
        assert_eq!(
            problems(
                "    - { name: a, scope: client, match: web, requests: 0, per: second }\n\
                 \x20   - { name: b, scope: provider, match: opnai, tokens: 10, per: minute }\n\
                 \x20   - { name: c, scope: member, match: bot/v2/gpt, requests: 1, per: day }\n\
                 \x20   - { name: d, scope: member, match: bot/gpt, requests: 1, per: day }\n\
                 \x20   - { name: e, scope: tenant, match: globex, requests: 1, per: day }\n\
                 \x20   - { name: e, scope: tenant, match: system, requests: 1, per: day }\n"
            ),
            [
                "rate_limits.rules[0].requests: must be between 1 and 1099511627776",
                "rate_limits.rules[5].name: duplicate rule name `e`",
                "rate_limits.rules[1].match: no provider `opnai` in this config",
                "rate_limits.rules[3].match: no member `bot/gpt` in this config (write a member as `<group>/<member>`)",
                "rate_limits.rules[4].match: no tenant `globex` in this config",
            ]
        );
    }

    #[test]
    fn a_bad_period_is_refused_at_its_path() {
        let err = parse(&format!(
            "{BASE}rate_limits:\n  rules:\n    - {{ name: a, scope: client, requests: 1, per: week }}\n"
        ))
        .expect_err("refused");
        let text = err.to_string();
        assert!(text.starts_with("rate_limits.rules[0].per: must be second | minute | hour | day"), "{text}");
    }

    #[test]
    fn the_password_is_resolved_only_for_redis_and_reported_at_its_path() {
        let cfg = |backend: &str, password: &str| RateLimitsConfig {
            backend: if backend == "redis" { BackendKind::Redis } else { BackendKind::Local },
            redis: Some(crate::schema::RedisConfig {
                password: Some(password.to_owned()),
                ..crate::schema::RedisConfig::new("redis://127.0.0.1:6379")
            }),
            rules: Vec::new(),
        };
        let missing = "env:SWITCHYARD_TEST_SURELY_UNSET_REDIS_PASSWORD";
        assert!(resolve_password(&cfg("local", missing)).expect("not read").is_none());
        let problem = resolve_password(&cfg("redis", missing)).expect_err("unset");
        assert_eq!(problem.path, "rate_limits.redis.password");
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret\n").expect("write");
        let secret = resolve_password(&cfg("redis", &format!("file:{}", file.display()))).expect("read");
        assert_eq!(secret.map(|s| s.expose().to_owned()).as_deref(), Some("s3cret"));
    }
}
