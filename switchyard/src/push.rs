//! `switchyard migrate` and `switchyard config push`: the commands that open the state
//! store without serving (each migrates it first, SPEC part two).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use switchyard_config::{ConfigSource, RoutingTable};
use switchyard_control_api::plane::{open_store, PlaneError};
use switchyard_gateway::{providers, upstream::UpstreamClient};

use crate::EXIT_CONFIG;

/// Migrates the state store, then ClickHouse when `records.clickhouse` is configured.
pub async fn migrate(source: &ConfigSource) -> ExitCode {
    let (cfg, store) = match open_store(source).await {
        Ok(opened) => opened,
        Err(e) => return plane_failure(e),
    };
    println!("state store ({:?}): schema current", store.engine());
    let options = match switchyard_gateway::recording::options(&cfg, &source.base_dir()) {
        Ok(o) => o,
        Err(err) => return problems(&err),
    };
    let Some(clickhouse) = options.clickhouse else {
        println!("records.clickhouse: not configured; no ClickHouse schema to migrate");
        return ExitCode::SUCCESS;
    };
    match switchyard_records::migrate(&clickhouse).await {
        Ok(report) => {
            println!(
                "ClickHouse {}: database `{}` is current (applied now: {:?})",
                report.server_version, clickhouse.database, report.applied
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("migrate: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Validates `path`'s routing config over `config`'s own settings and stores it as the
/// next shared version (compare-and-set on `if_match`, else on the newest version).
pub fn config_push(path: &Path, config: &Path, if_match: Option<u64>, reason: &str) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(push(path, config, if_match, reason))
}

async fn push(path: &Path, config: &Path, if_match: Option<u64>, reason: &str) -> ExitCode {
    let (cfg, store) = match open_store(&ConfigSource::File(config.to_path_buf())).await {
        Ok(opened) => opened,
        Err(e) => return plane_failure(e),
    };
    if !cfg.state.shared_config {
        eprintln!("state.shared_config: must be true in {} to push a shared routing config", config.display());
        return ExitCode::from(EXIT_CONFIG);
    }
    let text = match ConfigSource::File(path.to_path_buf()).read() {
        Ok(t) => t,
        Err(err) => return problems(&err),
    };
    let client = UpstreamClient::new();
    let factory = Arc::new(move |spec: &switchyard_config::ProviderSpec| providers::build_adapter(&client, spec));
    let routing = switchyard_config::split::compose(&cfg, &text)
        .and_then(|composed| RoutingTable::build(composed, 0, &*factory))
        .and_then(|table| switchyard_config::split::routing_text(&table.config));
    let routing = match routing {
        Ok(r) => r,
        Err(err) => return problems(&err),
    };
    let versions = store.config_versions();
    let expected = match if_match {
        Some(v) => v,
        None => match versions.latest_version().await {
            Ok(v) => v,
            Err(error) => return failure(&format!("state store: {error}")),
        },
    };
    match versions.append(expected, &routing, "config-push", reason).await {
        Ok(stored) => {
            println!("stored routing config as version {} (was {expected})", stored.version);
            ExitCode::SUCCESS
        }
        Err(switchyard_state::StateError::Stale { current }) => {
            failure(&format!("version {current} is current, not {expected}: re-read and push again"))
        }
        Err(error) => failure(&format!("state store: {error}")),
    }
}

fn problems(err: &switchyard_config::ConfigError) -> ExitCode {
    for p in &err.problems {
        eprintln!("{p}");
    }
    ExitCode::from(EXIT_CONFIG)
}

fn plane_failure(e: PlaneError) -> ExitCode {
    match e {
        PlaneError::Config(err) => problems(&err),
        PlaneError::State(error) => failure(&format!("state store: {error}")),
    }
}

fn failure(message: &str) -> ExitCode {
    eprintln!("{message}");
    ExitCode::FAILURE
}
