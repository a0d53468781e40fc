//! A refused config file stays refused for every reload that reads it — the file watcher
//! and an operator's SIGHUP may race for the same save — and is counted once.

use std::sync::Arc;

use switchyard_config::{ConfigSource, ConfigStore, ReloadOutcome};

const GOOD: &str = r#"
providers:
  m: { kind: mock }
groups:
  g:
    members:
      - { name: a, role: champion, provider: m, weight: 90 }
      - { name: b, role: challenger, provider: m, weight: 10 }
"#;

fn rejected_count(registry: &prometheus::Registry) -> u64 {
    let families = registry.gather();
    let reloads = families.iter().find(|f| f.name() == "switchyard_config_reloads_total").expect("reloads metric");
    reloads
        .get_metric()
        .iter()
        .find(|m| m.get_label().iter().any(|l| l.value() == "rejected"))
        .map_or(0, |m| m.get_counter().get_value() as u64)
}

#[test]
fn every_reload_of_a_refused_file_is_told_so_and_it_is_counted_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sy.yaml");
    std::fs::write(&path, GOOD).expect("write");
    let registry = prometheus::Registry::new();
    let factory: Arc<switchyard_config::ProviderFactory<()>> = Arc::new(|_| Ok(()));
    let store = ConfigStore::load(ConfigSource::File(path.clone()), factory, &registry).expect("loads");

    std::fs::write(&path, GOOD.replace("weight: 10", "weight: -5")).expect("write");
    let first = store.reload(false).expect_err("negative weight refused");
    let again = store.reload(false).expect_err("still refused when read again");
    assert_eq!(first, again);
    assert!(first.to_string().contains("must be >= 0"), "{first}");
    assert_eq!(rejected_count(&registry), 1, "one refused save is counted once");
    assert_eq!(store.current().version, 1, "the last good config keeps serving");

    std::fs::write(&path, GOOD.replace("weight: 10", "weight: 20")).expect("write");
    assert!(matches!(store.reload(false), Ok(ReloadOutcome::Applied(2))));
    assert!(matches!(store.reload(false), Ok(ReloadOutcome::Unchanged(2))));
}
