//! Config versions survive restarts, edits are refused when stale, every applied
//! version is kept in the history, and a refused file stays refused for every reload
//! that reads it (the file watcher and an operator's SIGHUP may race for one save).

use std::sync::Arc;

use switchyard_config::{ConfigEditor, ConfigSource, ConfigStore, EditError, ReloadOutcome};

const YAML: &str = r#"
providers:
  m: { kind: mock }
groups:
  g:
    members:
      - { name: a, role: champion, provider: m, weight: 90 }
      - { name: b, role: challenger, provider: m, weight: 10 }
"#;

fn load(path: &std::path::Path) -> ConfigStore<()> {
    load_in(path, &prometheus::Registry::new())
}

fn load_in(path: &std::path::Path, registry: &prometheus::Registry) -> ConfigStore<()> {
    let factory: Arc<switchyard_config::ProviderFactory<()>> = Arc::new(|_| Ok(()));
    ConfigStore::load(ConfigSource::File(path.to_path_buf()), factory, registry).expect("loads")
}

#[test]
fn versions_persist_and_stale_edits_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sy.yaml");
    std::fs::write(&path, YAML).expect("write");
    let store = load(&path);
    assert_eq!(store.current().version, 1);
    let edited = store
        .edit(1, |cfg| {
            cfg.groups.get_mut("g").expect("g").members[1].weight = Some(20.0);
            Ok(())
        })
        .expect("edit applies");
    assert_eq!(edited.version, 2);
    assert_eq!(
        store.edit(1, |_| Ok(())).expect_err("stale"),
        EditError::Stale { current: 2 },
        "an edit based on version 1 is refused"
    );
    let invalid = store.edit(2, |cfg| {
        cfg.groups.get_mut("g").expect("g").members[1].weight = Some(-1.0);
        Ok(())
    });
    assert!(matches!(invalid, Err(EditError::Invalid(_))));
    assert_eq!(store.current().version, 2, "an invalid edit changes nothing");
    drop(store);

    // A restart on the unchanged file keeps the version; a changed file gets the next one.
    let store = load(&path);
    assert_eq!(store.current().version, 2);
    assert_eq!(store.current().config.groups["g"].members[1].weight, Some(20.0));
    drop(store);
    std::fs::write(&path, YAML).expect("write");
    let store = load(&path);
    assert_eq!(store.current().version, 3);
    let versions: Vec<u64> = store.versions().expect("history").iter().map(|v| v.version).collect();
    assert_eq!(versions, vec![1, 2, 3]);
    let rolled = store.rollback(3, 2).expect("rollback");
    assert_eq!(rolled.version, 4);
    assert_eq!(store.current().config.groups["g"].members[1].weight, Some(20.0));
}

#[test]
fn embedded_config_is_read_only() {
    let factory: Arc<switchyard_config::ProviderFactory<()>> = Arc::new(|_| Ok(()));
    let store = ConfigStore::load(ConfigSource::Embedded(YAML), factory, &prometheus::Registry::new()).expect("loads");
    assert_eq!(store.edit(1, |_| Ok(())).expect_err("read-only"), EditError::ReadOnly);
}

#[test]
fn sealed_secrets_round_trip_and_never_print() {
    std::env::set_var(switchyard_config::secret::MASTER_KEY_ENV, "ab".repeat(32));
    let sealed = switchyard_config::SecretRef::seal("sk-hidden-9876").expect("seals");
    assert!(sealed.0.starts_with("enc:") && !sealed.0.contains("sk-hidden"));
    assert_eq!(sealed.resolve().expect("opens").expose(), "sk-hidden-9876");
    assert!(!format!("{sealed:?}").contains("sk-hidden"));
    std::env::set_var(switchyard_config::secret::MASTER_KEY_ENV, "cd".repeat(32));
    let err = sealed.resolve().expect_err("wrong key");
    assert!(err.contains("does not decrypt"), "{err}");
}

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
    std::fs::write(&path, YAML).expect("write");
    let registry = prometheus::Registry::new();
    let store = load_in(&path, &registry);

    std::fs::write(&path, YAML.replace("weight: 10", "weight: -5")).expect("write");
    let first = store.reload(false).expect_err("negative weight refused");
    let again = store.reload(false).expect_err("still refused when read again");
    assert_eq!(first, again);
    assert!(first.to_string().contains("must be >= 0"), "{first}");
    assert_eq!(rejected_count(&registry), 1, "one refused save is counted once");
    assert_eq!(store.current().version, 1, "the last good config keeps serving");

    std::fs::write(&path, YAML.replace("weight: 10", "weight: 20")).expect("write");
    assert!(matches!(store.reload(false), Ok(ReloadOutcome::Applied(2))));
    assert!(matches!(store.reload(false), Ok(ReloadOutcome::Unchanged(2))));
}
