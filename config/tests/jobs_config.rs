//! The `jobs:` block: defaults (left out of the canonical form), a full block, and every
//! bad value refused with its path.

use switchyard_config::schema::JobsConfig;
use switchyard_config::{check, ConfigError};

const BASE: &str = r#"
providers:
  m: { kind: mock }
groups:
  g: { members: [ { name: a, role: champion, provider: m, weight: 1 } ] }
"#;

fn problems(jobs: &str) -> Vec<String> {
    let factory = |_: &switchyard_config::ProviderSpec| Ok(());
    match check::<()>(&format!("{BASE}jobs:\n{jobs}"), &factory) {
        Ok(_) => vec![],
        Err(ConfigError { problems }) => problems.iter().map(|p| p.to_string()).collect(),
    }
}

#[test]
fn defaults_and_a_full_block() {
    let factory = |_: &switchyard_config::ProviderSpec| Ok(());
    let table = check::<()>(BASE, &factory).expect("valid");
    assert_eq!(table.config.jobs, JobsConfig::default());
    assert_eq!((table.config.jobs.poll_interval_ms, table.config.jobs.validation_fraction), (5000, 0.1));
    let canonical = serde_json::to_value(&*table.config).expect("serialize");
    assert!(canonical.get("jobs").is_none(), "{canonical}");
    let full = "  dataset_dir: ./datasets\n  work_dir: /var/lib/sy/jobs\n  poll_interval_ms: 1000\n  \
                max_poll_interval_ms: 30000\n  validation_fraction: 0.2\n  redact: ['\\d{3}-\\d{4}']\n  \
                trainer_timeout_ms: 1000\n";
    assert_eq!(problems(full), Vec::<String>::new());
}

#[test]
fn bad_values_are_refused_with_their_paths() {
    let bad = "  dataset_dir: ''\n  work_dir: ' '\n  poll_interval_ms: 0\n  max_poll_interval_ms: 0\n  \
               validation_fraction: 0.9\n  redact: ['ok', '(unclosed']\n  trainer_timeout_ms: 0\n";
    let got = problems(bad);
    for path in [
        "jobs.dataset_dir:",
        "jobs.work_dir:",
        "jobs.poll_interval_ms:",
        "jobs.validation_fraction:",
        "jobs.redact[1]:",
        "jobs.trainer_timeout_ms:",
    ] {
        assert!(got.iter().any(|p| p.starts_with(path)), "{path} in {got:?}");
    }
    assert!(!got.iter().any(|p| p.starts_with("jobs.redact[0]")), "{got:?}");
    let unknown = problems("  poll_interval: 5\n");
    assert!(unknown.iter().any(|p| p.starts_with("jobs") && p.contains("poll_interval")), "{unknown:?}");
}
