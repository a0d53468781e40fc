//! The `tracing:` block: defaults, every bad value refused with its path, and the
//! collector URL spans go to.

use switchyard_config::schema::TracingConfig;
use switchyard_config::{check, ConfigError};

const BASE: &str = r#"
providers:
  m: { kind: mock }
groups:
  g: { members: [ { name: a, role: champion, provider: m, weight: 1 } ] }
"#;

fn problems(tracing: &str) -> Vec<String> {
    let factory = |_: &switchyard_config::ProviderSpec| Ok(());
    match check::<()>(&format!("{BASE}tracing:\n{tracing}"), &factory) {
        Ok(_) => vec![],
        Err(ConfigError { problems }) => problems.iter().map(|p| p.to_string()).collect(),
    }
}

#[test]
fn defaults_export_nothing_and_sample_everything_once_on() {
    let factory = |_: &switchyard_config::ProviderSpec| Ok(());
    let table = check::<()>(BASE, &factory).expect("valid");
    let t = &table.config.tracing;
    assert_eq!(t, &TracingConfig::default());
    assert_eq!((t.otlp_endpoint.as_deref(), t.sample_ratio, t.service_name.as_str()), (None, 1.0, "switchyard"));
    assert_eq!((t.queue_size, t.export_timeout_ms), (2048, 10_000));
    assert!(!t.access_log.enabled);
    assert_eq!(t.traces_url(), None);
    // The default block is not part of the canonical form: a file without `tracing:`
    // keeps the digest it had before the block existed.
    let canonical = serde_json::to_value(&*table.config).expect("serialize");
    assert!(canonical.get("tracing").is_none(), "{canonical}");
}

#[test]
fn a_full_block_is_accepted() {
    let yaml = "  otlp_endpoint: http://127.0.0.1:4318\n  sample_ratio: 0.25\n  service_name: edge-gw\n  \
                queue_size: 64\n  export_timeout_ms: 500\n  access_log: { enabled: true, sample_ratio: 0.5 }\n";
    assert_eq!(problems(yaml), Vec::<String>::new());
}

#[test]
fn every_bad_value_is_reported_with_its_path() {
    let yaml = "  otlp_endpoint: collector:4318\n  sample_ratio: 1.5\n  service_name: \"\"\n  queue_size: 0\n  \
                export_timeout_ms: 0\n  access_log: { enabled: true, sample_ratio: -0.1 }\n";
    assert_eq!(
        problems(yaml),
        vec![
            "tracing.otlp_endpoint: `collector:4318` is not an http:// URL like http://127.0.0.1:4318",
            "tracing.sample_ratio: must be between 0 and 1",
            "tracing.access_log.sample_ratio: must be between 0 and 1",
            "tracing.service_name: must be 1-255 printable characters",
            "tracing.queue_size: must be between 1 and 1048576",
            "tracing.export_timeout_ms: must be > 0",
        ]
    );
}

#[test]
fn https_and_unknown_keys_are_refused() {
    let p = problems("  otlp_endpoint: https://collector.example:4318\n");
    assert_eq!(p.len(), 1);
    assert!(
        p[0].starts_with("tracing.otlp_endpoint: `https://collector.example:4318`: https is not supported"),
        "{p:?}"
    );
    let p = problems("  otlp_endpiont: http://127.0.0.1:4318\n");
    assert!(p[0].starts_with("tracing.otlp_endpiont: unknown field"), "{p:?}");
    let p = problems("  access_log: { enabeld: true }\n");
    assert!(p[0].starts_with("tracing.access_log.enabeld: unknown field"), "{p:?}");
    let p = problems("  sample_ratio: .nan\n");
    assert_eq!(p, vec!["tracing.sample_ratio: must be between 0 and 1"]);
}

#[test]
fn the_traces_path_is_appended_once() {
    let with = |url: &str| TracingConfig { otlp_endpoint: Some(url.into()), ..TracingConfig::default() }.traces_url();
    assert_eq!(with("http://c:4318").as_deref(), Some("http://c:4318/v1/traces"));
    assert_eq!(with("http://c:4318/").as_deref(), Some("http://c:4318/v1/traces"));
    assert_eq!(with("http://c:4318/v1/traces").as_deref(), Some("http://c:4318/v1/traces"));
    assert_eq!(with("http://c/otlp").as_deref(), Some("http://c/otlp/v1/traces"));
}
