//! Config versions continue the log across restarts, edits are refused when stale, every
//! applied version is kept in the log, a refused file stays refused for every reload that
//! reads it (the file watcher and an operator's SIGHUP may race for one save), and an edit
//! the log refuses leaves the file as it was. (The log here is in memory and outlives the
//! store like a state store would; the SQLite and PostgreSQL logs are tested in the binary's
//! tests.)

use std::sync::Arc;

use switchyard_config::{
    BoxFuture, ChangeNote, ConfigEditor, ConfigSource, ConfigStore, EditError, LogError, MemoryLog, ReloadOutcome,
    StoredVersion, VersionInfo, VersionLog,
};

const YAML: &str = r#"
providers:
  m: { kind: mock }
groups:
  g:
    members:
      - { name: a, role: champion, provider: m, weight: 90 }
      - { name: b, role: challenger, provider: m, weight: 10 }
"#;

async fn load(path: &std::path::Path, log: &Arc<dyn VersionLog>) -> ConfigStore<()> {
    load_in(path, &prometheus::Registry::new(), log).await
}

async fn load_in(
    path: &std::path::Path,
    registry: &prometheus::Registry,
    log: &Arc<dyn VersionLog>,
) -> ConfigStore<()> {
    let factory: Arc<switchyard_config::ProviderFactory<()>> = Arc::new(|_| Ok(()));
    ConfigStore::load(ConfigSource::File(path.to_path_buf()), factory, registry, log.clone()).await.expect("loads")
}

fn note(_: &switchyard_config::Config, _: &switchyard_config::Config) -> ChangeNote {
    ChangeNote { actor: "test".into(), ..ChangeNote::default() }
}

fn set_weight(w: f64) -> impl FnOnce(&mut switchyard_config::Config) -> Result<(), switchyard_config::ConfigError> {
    move |cfg| {
        cfg.groups.get_mut("g").expect("g").members[1].weight = Some(w);
        Ok(())
    }
}

#[tokio::test]
async fn versions_continue_the_log_and_stale_edits_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sy.yaml");
    std::fs::write(&path, YAML).expect("write");
    let log: Arc<dyn VersionLog> = Arc::new(MemoryLog::default());
    let store = load(&path, &log).await;
    assert_eq!(store.current().version, 1);
    let edited = store.edit(1, set_weight(20.0), note).await.expect("edit applies");
    assert_eq!(edited.version, 2);
    assert_eq!(
        store.edit(1, |_| Ok(()), note).await.expect_err("stale"),
        EditError::Stale { current: 2 },
        "an edit based on version 1 is refused"
    );
    let invalid = store.edit(2, set_weight(-1.0), note).await;
    assert!(matches!(invalid, Err(EditError::Invalid(_))));
    assert_eq!(store.current().version, 2, "an invalid edit changes nothing");
    drop(store);

    // A restart on the unchanged file keeps the version; a changed file gets the next one.
    let store = load(&path, &log).await;
    assert_eq!(store.current().version, 2);
    assert_eq!(store.current().config.groups["g"].members[1].weight, Some(20.0));
    drop(store);
    std::fs::write(&path, YAML).expect("write");
    let store = load(&path, &log).await;
    assert_eq!(store.current().version, 3);
    let versions: Vec<u64> = store.versions(10).await.expect("history").iter().map(|v| v.version).collect();
    assert_eq!(versions, vec![3, 2, 1], "newest first");
    let rolled = store.rollback(3, 2, Box::new(note)).await.expect("rollback");
    assert_eq!(rolled.version, 4);
    assert_eq!(store.current().config.groups["g"].members[1].weight, Some(20.0));
}

#[tokio::test]
async fn embedded_config_is_read_only() {
    let factory: Arc<switchyard_config::ProviderFactory<()>> = Arc::new(|_| Ok(()));
    let log: Arc<dyn VersionLog> = Arc::new(MemoryLog::default());
    let store = ConfigStore::load(ConfigSource::Embedded(YAML), factory, &prometheus::Registry::new(), log)
        .await
        .expect("loads");
    assert_eq!(store.edit(1, |_| Ok(()), note).await.expect_err("read-only"), EditError::ReadOnly);
}

/// A log whose appends fail as if the state store were down (reads work).
struct DownLog(MemoryLog);

impl VersionLog for DownLog {
    fn latest(&self) -> BoxFuture<'_, Result<Option<StoredVersion>, LogError>> {
        self.0.latest()
    }
    fn get(&self, version: u64) -> BoxFuture<'_, Result<Option<StoredVersion>, LogError>> {
        self.0.get(version)
    }
    fn list(&self, limit: u32) -> BoxFuture<'_, Result<Vec<VersionInfo>, LogError>> {
        self.0.list(limit)
    }
    fn append<'a>(
        &'a self,
        expected: u64,
        text: &'a str,
        note: &'a ChangeNote,
    ) -> BoxFuture<'a, Result<u64, LogError>> {
        if expected == 0 {
            return self.0.append(expected, text, note);
        }
        Box::pin(async { Err(LogError::Unavailable("connection refused".into())) })
    }
}

#[tokio::test]
async fn an_edit_the_log_refuses_changes_nothing_not_even_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sy.yaml");
    std::fs::write(&path, YAML).expect("write");
    let log: Arc<dyn VersionLog> = Arc::new(DownLog(MemoryLog::default()));
    let store = load(&path, &log).await;
    let err = store.edit(1, set_weight(20.0), note).await.expect_err("store down");
    assert!(matches!(err, EditError::Unavailable(_)), "{err:?}");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), YAML, "the file is put back");
    assert_eq!(store.current().version, 1);
    assert_eq!(store.current().config.groups["g"].members[1].weight, Some(10.0), "nothing went live");
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

#[tokio::test]
async fn every_reload_of_a_refused_file_is_told_so_and_it_is_counted_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sy.yaml");
    std::fs::write(&path, YAML).expect("write");
    let registry = prometheus::Registry::new();
    let log: Arc<dyn VersionLog> = Arc::new(MemoryLog::default());
    let store = load_in(&path, &registry, &log).await;

    std::fs::write(&path, YAML.replace("weight: 10", "weight: -5")).expect("write");
    let first = store.reload(false).await.expect_err("negative weight refused");
    let again = store.reload(false).await.expect_err("still refused when read again");
    assert_eq!(first, again);
    assert!(first.to_string().contains("must be >= 0"), "{first}");
    assert_eq!(rejected_count(&registry), 1, "one refused save is counted once");
    assert_eq!(store.current().version, 1, "the last good config keeps serving");

    std::fs::write(&path, YAML.replace("weight: 10", "weight: 20")).expect("write");
    assert!(matches!(store.reload(false).await, Ok(ReloadOutcome::Applied(2))));
    assert!(matches!(store.reload(false).await, Ok(ReloadOutcome::Unchanged(2))));
}
