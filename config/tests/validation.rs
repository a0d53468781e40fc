//! Every invalid config is refused with the offending key's path.

use switchyard_config::{check, validate::parse, ConfigError};

fn problems(yaml: &str) -> Vec<String> {
    let factory = |_: &switchyard_config::ProviderSpec| Ok(());
    match check::<()>(yaml, &factory) {
        Ok(_) => vec![],
        Err(ConfigError { problems }) => problems.iter().map(|p| p.to_string()).collect(),
    }
}

const BASE: &str = r#"
providers:
  m: { kind: mock }
groups:
  support-bot:
    members:
      - { name: a, role: champion, provider: m, weight: 90 }
      - { name: b, role: challenger, provider: m, weight: 10 }
"#;

#[test]
fn quickstart_is_valid() {
    assert_eq!(problems(switchyard_config::QUICKSTART_YAML), Vec::<String>::new());
    assert_eq!(problems(BASE), Vec::<String>::new());
}

#[test]
fn negative_weight_names_its_path() {
    let y = BASE.replace("weight: 10", "weight: -1");
    assert_eq!(problems(&y), vec!["groups.support-bot.members[1].weight: must be >= 0"]);
}

#[test]
fn unknown_key_names_its_path() {
    let y = BASE.replace("weight: 10", "wieght: 10");
    let p = problems(&y);
    assert_eq!(p.len(), 1);
    assert!(p[0].starts_with("groups.support-bot.members[1].wieght: unknown field `wieght`"), "{p:?}");
}

#[test]
fn wrong_type_names_its_path() {
    let y = BASE.replace("weight: 10", "weight: lots");
    let p = problems(&y);
    assert!(p[0].starts_with("groups.support-bot.members[1].weight: invalid type"), "{p:?}");
}

#[test]
fn all_problems_are_reported_at_once() {
    let y = r#"
listen: nowhere
providers:
  m: { kind: mock, error_rate: 2 }
  o: { kind: openai, api_key: sk-literal-secret }
groups:
  g:
    assignment: { sticky_key: cookie:x }
    members:
      - { name: a, role: challenger, provider: nope, weight: 1 }
      - { name: a, role: shadow, provider: m, weight: 1 }
clients:
  - { name: c, key_sha256: abc, groups: [missing] }
"#;
    let p = problems(y);
    let expect = [
        "listen: `nowhere` is not an address like 127.0.0.1:8080",
        "providers.m.error_rate: must be between 0 and 1",
        "providers.o.api_key: secrets must be `env:NAME` or `file:/path` references, not literal values",
        "providers.o.base_url: required for kind openai",
        "groups.g.members: exactly one champion required (found 0)",
        "groups.g.members[0].provider: unknown provider `nope`",
        "groups.g.members[1].name: duplicate member name `a`",
        "groups.g.members[1].weight: a shadow takes mirror_percent, not weight",
        "groups.g.members[1].mirror_percent: required for a shadow",
        "groups.g.assignment.sticky_key: `cookie:x` must be `header:<name>` or `body:user`",
        "clients[0].key_sha256: must be 64 hex characters (see `switchyard hash-key`)",
        "clients[0].groups[0]: unknown group `missing`",
    ];
    for e in expect {
        assert!(p.iter().any(|x| x == e), "missing {e:?} in {p:#?}");
    }
    assert!(!p.iter().any(|x| x.contains("sk-literal-secret")), "secret echoed: {p:?}");
}

#[test]
fn zero_total_weight_is_refused() {
    let y = BASE.replace("weight: 90", "weight: 0").replace("weight: 10", "weight: 0");
    assert_eq!(
        problems(&y),
        vec!["groups.support-bot.members: weights of champion and challengers must sum to more than 0"]
    );
}

#[test]
fn missing_env_secret_is_a_problem_not_a_panic() {
    let y = r#"
providers:
  o: { kind: openai, base_url: "http://127.0.0.1:1/v1", api_key: "env:SWITCHYARD_TEST_SURELY_UNSET" }
groups:
  g: { members: [ { name: a, role: champion, provider: o, weight: 1 } ] }
"#;
    assert_eq!(problems(y), vec!["providers.o.api_key: environment variable SWITCHYARD_TEST_SURELY_UNSET is not set"]);
}

#[test]
fn syntax_error_is_reported() {
    assert!(parse("groups: [").is_err());
    let p = problems("groups:\n  g:\n    members: 3\n");
    assert!(p[0].starts_with("groups.g.members: invalid type"), "{p:?}");
}

#[test]
fn promotion_rules_are_validated_with_paths() {
    let y = BASE.replace(
        "  support-bot:\n",
        "  support-bot:\n    promotion: { error_margin: -0.1, alpha: 0.7, metric: \"\", check_interval_secs: 0 }\n",
    );
    let p = problems(&y);
    for e in [
        "groups.support-bot.promotion.error_margin: must be a finite number >= 0",
        "groups.support-bot.promotion.alpha: must be in (0, 0.5)",
        "groups.support-bot.promotion.metric: must not be empty",
        "groups.support-bot.promotion.check_interval_secs: must be > 0",
    ] {
        assert!(p.iter().any(|x| x == e), "missing {e:?} in {p:#?}");
    }
    let typo = BASE.replace("  support-bot:\n", "  support-bot:\n    promotion: { min_sample: 5 }\n");
    assert!(
        problems(&typo)[0].starts_with("groups.support-bot.promotion.min_sample: unknown field"),
        "{:?}",
        problems(&typo)
    );
}

#[test]
fn shipper_backoff_is_checked_with_its_path() {
    let with = |retry: &str| format!("{BASE}records:\n  retry: {retry}\n");
    assert_eq!(problems(&with("{ initial_backoff_ms: 50, max_backoff_ms: 2000 }")), Vec::<String>::new());
    assert_eq!(problems(&with("{ initial_backoff_ms: 0 }")), vec!["records.retry.initial_backoff_ms: must be > 0"]);
    assert_eq!(
        problems(&with("{ initial_backoff_ms: 500, max_backoff_ms: 100 }")),
        vec!["records.retry.max_backoff_ms: must be ≥ records.retry.initial_backoff_ms"]
    );
}

#[test]
fn clickhouse_cluster_names_are_checked() {
    let with = |cluster: &str| {
        format!("{BASE}records:\n  clickhouse: {{ url: \"http://127.0.0.1:8123\", cluster: \"{cluster}\" }}\n")
    };
    assert_eq!(problems(&with("sy_1x2")), Vec::<String>::new());
    assert_eq!(problems(&with("analytics-eu")), Vec::<String>::new());
    for bad in ["", "a`b", "a b", "x'); DROP"] {
        assert_eq!(
            problems(&with(bad)),
            vec!["records.clickhouse.cluster: must be 1-64 letters, digits, _ and -"],
            "{bad:?}"
        );
    }
}
