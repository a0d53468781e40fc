//! The `rate_limits:` section: SPEC §11's example parses, and every bad input gets a clear
//! message at its dotted path.
#![allow(clippy::unwrap_used)]

use switchyard_ratelimit::{BackendKind, OnError, Per, RateLimitsConfig, Scope, Unit};

/// Parses as the config crate does: the failing key's path, then the message without the
/// YAML library's own (less precise) path prefix.
fn parse(yaml: &str) -> Result<RateLimitsConfig, String> {
    let de = serde_yaml_ng::Deserializer::from_str(yaml);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        let message = match message.split_once(": ") {
            Some((prefix, rest)) if !prefix.contains(' ') && path.starts_with(prefix) => rest.to_owned(),
            _ => message,
        };
        format!("{path}: {message}")
    })
}

fn problems(yaml: &str) -> Vec<String> {
    parse(yaml).unwrap().validate().iter().map(ToString::to_string).collect()
}

const SPEC_EXAMPLE: &str = r#"
backend: local
redis: { url: redis://127.0.0.1:6379, on_error: allow, timeout_ms: 50 }
rules:
  - { name: client-rpm, scope: client, each: true, requests: 600, per: minute }
  - { name: acme-daily, scope: tenant, match: acme, tokens: 2000000, per: day }
  - { name: openai-tpm, scope: provider, match: openai, tokens: 450000, per: minute }
  - { name: bot-burst,  scope: group, match: support-bot, requests: 100, per: second, burst: 200 }
"#;

#[test]
fn the_spec_example_parses_and_validates() {
    let cfg = parse(SPEC_EXAMPLE).unwrap();
    assert_eq!(cfg.validate(), vec![]);
    assert_eq!(cfg.backend, BackendKind::Local);
    let redis = cfg.redis.as_ref().unwrap();
    assert_eq!((redis.on_error, redis.timeout_ms, redis.key_prefix.as_str()), (OnError::Allow, 50, "switchyard:rl"));
    let rules = &cfg.rules;
    assert_eq!(rules.len(), 4);
    assert_eq!(
        (rules[0].scope, rules[0].each, rules[0].unit(), rules[0].burst_or_amount()),
        (Scope::Client, true, Unit::Requests, 600)
    );
    assert_eq!((rules[1].match_key.as_deref(), rules[1].unit(), rules[1].per), (Some("acme"), Unit::Tokens, Per::Day));
    assert_eq!(rules[3].burst_or_amount(), 200);
}

#[test]
fn an_empty_section_is_local_with_no_rules() {
    let cfg = parse("{}").unwrap();
    assert_eq!(cfg, RateLimitsConfig::default());
    assert!(cfg.validate().is_empty());
}

#[test]
fn shape_errors_name_their_path() {
    let bad_per = "rules:\n  - { name: a, scope: client, requests: 1, per: second }\n  - { name: b, scope: client, requests: 1, per: second }\n  - { name: c, scope: client, requests: 1, per: fortnight }\n";
    let err = parse(bad_per).unwrap_err();
    assert!(err.starts_with("rules[2].per: must be second | minute | hour | day"), "{err}");
    let unknown = "rules:\n  - { name: a, scope: client, requests: 1, per: second, window: 5 }\n";
    let err = parse(unknown).unwrap_err();
    assert!(err.starts_with("rules[0]") && err.contains("unknown field `window`"), "{err}");
    let scope = "rules:\n  - { name: a, scope: user, requests: 1, per: second }\n";
    let err = parse(scope).unwrap_err();
    assert!(err.starts_with("rules[0].scope") && err.contains("client"), "{err}");
    let policy = "redis: { url: redis://h:1, on_error: retry }\n";
    assert!(parse(policy).unwrap_err().starts_with("redis.on_error"));
    let negative = "rules:\n  - { name: a, scope: client, requests: -5, per: second }\n";
    assert!(parse(negative).unwrap_err().starts_with("rules[0].requests"));
}

#[test]
fn validate_reports_every_problem_with_its_path() {
    let yaml = r#"
backend: redis
redis: { url: "redis://:hunter2@10.0.0.1:6379", password: hunter2, timeout_ms: 0, key_prefix: "" }
rules:
  - { name: ok, scope: client, requests: 10, per: second }
  - { name: ok, scope: client, requests: 10, per: second }
  - { name: "bad name", scope: client, requests: 10, per: second }
  - { name: both, scope: tenant, requests: 10, tokens: 10, per: minute }
  - { name: neither, scope: tenant, per: minute }
  - { name: zero, scope: group, requests: 0, per: hour, burst: 0 }
  - { name: empty-match, scope: provider, match: "", tokens: 5, per: day }
"#;
    let found = problems(yaml);
    let expected = [
        "rate_limits.redis.url: must not hold a password: put it in rate_limits.redis.password as env:NAME or file:/path",
        "rate_limits.redis.password: must be an env:NAME or file:/path reference",
        "rate_limits.redis.timeout_ms: must be between 1 and 5000",
        "rate_limits.redis.key_prefix: must be non-empty, without spaces",
        "rate_limits.rules[1].name: duplicate rule name `ok`",
        "rate_limits.rules[2].name: must be 1 to 64 letters, digits, `-`, `_` or `.`",
        "rate_limits.rules[3]: set one of requests and tokens, not both",
        "rate_limits.rules[4]: needs requests or tokens",
        "rate_limits.rules[5].requests: must be between 1 and 1099511627776",
        "rate_limits.rules[5].burst: must be between 1 and 1099511627776",
        "rate_limits.rules[6].match: must not be empty (omit it to match every key)",
    ];
    assert_eq!(found, expected);
    // The secret in the URL appears in no message.
    assert!(found.iter().all(|p| !p.contains("hunter2")));
}

#[test]
fn the_redis_backend_needs_a_redis_url() {
    assert_eq!(problems("backend: redis\n"), ["rate_limits.redis: required with backend: redis"]);
    assert_eq!(
        problems("backend: redis\nredis: { url: http://127.0.0.1:6379 }\n"),
        ["rate_limits.redis.url: must be a redis:// URL"]
    );
    let good =
        "backend: redis\nredis: { url: redis://127.0.0.1:6379/2, password: env:REDIS_PASSWORD, on_error: deny }\n";
    assert!(problems(good).is_empty());
}

#[test]
fn a_config_round_trips_through_serde() {
    let cfg = parse(SPEC_EXAMPLE).unwrap();
    let yaml = serde_yaml_ng::to_string(&cfg).unwrap();
    assert_eq!(parse(&yaml).unwrap(), cfg);
}
