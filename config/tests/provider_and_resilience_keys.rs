//! The provider kinds and resilience keys of issue 5 validate with their paths.

use switchyard_config::{check, ConfigError};

fn problems(yaml: &str) -> Vec<String> {
    let factory = |_: &switchyard_config::ProviderSpec| Ok(());
    match check::<()>(yaml, &factory) {
        Ok(_) => vec![],
        Err(ConfigError { problems }) => problems.iter().map(|p| p.to_string()).collect(),
    }
}

#[test]
fn every_kind_is_accepted_with_its_keys() {
    let y = r#"
providers:
  a: { kind: anthropic, base_url: "https://api.anthropic.com", api_version: "2023-06-01" }
  g: { kind: gemini, base_url: "https://generativelanguage.googleapis.com/v1beta" }
  h: { kind: huggingface, base_url: "http://tgi:8080", pool_max_idle_per_host: 8, max_in_flight: 64 }
  o: { kind: oip, base_url: "http://kserve.local" }
  c: { kind: http, base_url: "http://model.local/predict/{model}" }
  z: { kind: openai, base_url: "https://x.openai.azure.com", api_version: "2024-06-01", deployment: gpt4o }
groups:
  g1:
    fallback: champion
    retries: { max_retries: 2, backoff_ms: 20, max_backoff_ms: 500, budget_percent: 10, budget_reserve: 5 }
    breaker: { enabled: true, window_ms: 5000, min_requests: 10, failure_percent: 40, open_ms: 2000 }
    mirror_concurrency: 8
    members:
      - { name: m, role: champion, provider: a, weight: 1 }
      - { name: s, role: shadow, provider: g, mirror_percent: 5 }
"#;
    assert_eq!(problems(y), Vec::<String>::new());
}

#[test]
fn wrong_values_name_their_paths() {
    let y = r#"
providers:
  a: { kind: anthropic, deployment: d }
  g: { kind: gemini, base_url: "x", api_version: "v1" }
  m: { kind: mock, ca_file: "/ca.pem" }
groups:
  g1:
    retries: { backoff_ms: 0, budget_percent: 150 }
    breaker: { failure_percent: 0, min_requests: 0 }
    mirror_concurrency: 0
    members:
      - { name: m, role: champion, provider: m, weight: 1 }
"#;
    let p = problems(y);
    for want in [
        "providers.a.base_url: required for kind anthropic",
        "providers.a.deployment: only valid for kind openai with api_version (Azure)",
        "providers.g.api_version: only valid for kinds openai (Azure) and anthropic",
        "providers.g.base_url: `x` is not an http:// or https:// URL",
        "providers.m.ca_file: not valid for kind mock",
        "groups.g1.retries.backoff_ms: must be > 0",
        "groups.g1.retries.budget_percent: must be between 0 and 100",
        "groups.g1.breaker.failure_percent: must be in (0, 100]",
        "groups.g1.breaker.min_requests: must be >= 1",
        "groups.g1.mirror_concurrency: must be >= 1",
    ] {
        assert!(p.iter().any(|x| x == want), "missing `{want}` in {p:#?}");
    }
}
