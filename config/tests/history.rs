//! Config versions survive restarts, edits are refused when stale, and every applied
//! version is kept in the history.

use std::sync::Arc;

use switchyard_config::{ConfigEditor, ConfigSource, ConfigStore, EditError};

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
    let factory: Arc<switchyard_config::ProviderFactory<()>> = Arc::new(|_| Ok(()));
    ConfigStore::load(ConfigSource::File(path.to_path_buf()), factory, &prometheus::Registry::new()).expect("loads")
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
