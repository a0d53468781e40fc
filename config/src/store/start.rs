//! The first table: where its config and version come from at start-up.

use crate::error::ConfigError;
use crate::log::{ChangeNote, LogError, StoredVersion, VersionLog};
use crate::schema::Config;
use crate::split::{compose, has_routing, routing_text};
use crate::table::{ProviderFactory, RoutingTable};

use super::log_problem;

/// File mode at start-up: the file's text continues the log (a new version when it
/// differs from the newest stored one).
pub(super) async fn initial_file<P>(
    file: Config,
    text: &str,
    log: &dyn VersionLog,
    factory: &ProviderFactory<P>,
) -> Result<RoutingTable<P>, ConfigError> {
    let mut table = RoutingTable::build(file, 0, factory)?;
    let latest = log.latest().await.map_err(log_problem)?;
    table.version = match latest {
        Some(l) if l.text == text => l.version,
        other => {
            let expected = other.map_or(0, |l| l.version);
            let note = ChangeNote { actor: "file".into(), reason: "start-up".into(), audit: None };
            log.append(expected, text, &note).await.map_err(log_problem)?
        }
    };
    Ok(table)
}

/// Shared mode at start-up: the log's newest routing document over the file's settings;
/// an empty log is seeded from the file's routing keys (the first replica to start wins
/// the compare-and-set, the others take its version).
pub(super) async fn initial_shared<P>(
    process: &Config,
    text: &str,
    log: &dyn VersionLog,
    factory: &ProviderFactory<P>,
) -> Result<RoutingTable<P>, ConfigError> {
    let latest = match log.latest().await.map_err(log_problem)? {
        Some(l) => l,
        None if has_routing(text) => {
            let routing = routing_text(process)?;
            let note = ChangeNote { actor: "file".into(), reason: "seeded from the config file".into(), audit: None };
            match log.append(0, &routing, &note).await {
                Ok(version) => StoredVersion { version, text: routing },
                Err(LogError::Stale { .. }) => log.latest().await.map_err(log_problem)?.ok_or_else(no_routing)?,
                Err(e) => return Err(log_problem(e)),
            }
        }
        None => return Err(no_routing()),
    };
    let mut table = RoutingTable::build(compose(process, &latest.text)?, 0, factory)?;
    table.version = latest.version;
    Ok(table)
}

fn no_routing() -> ConfigError {
    ConfigError::one(
        "state.shared_config",
        "the state store holds no routing config yet: run `switchyard config push FILE`, or put groups and providers in this file to seed it",
    )
}
