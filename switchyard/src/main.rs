//! The `switchyard` binary: parses the command line and wires the crates together.
//!
//! `serve` runs the gateway until SIGTERM/SIGINT; `check-config` validates a file;
//! `hash-key` prints the sha256 of a secret read on stdin; `version` prints the version.
//! Exit status 64 (EX_USAGE) means the configuration is invalid.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use sha2::{Digest, Sha256};
use switchyard_config::{ConfigSource, QUICKSTART_YAML};
use switchyard_gateway::{providers, upstream::UpstreamClient, Gateway, StartError};

/// Exit status for an invalid configuration (EX_USAGE from sysexits.h).
const EXIT_CONFIG: u8 = 64;

#[derive(Parser)]
#[command(name = "switchyard", about = "Champion/challenger inference gateway", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (data plane + admin listener).
    Serve {
        /// YAML config; without it the embedded quick-start config runs.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Validate a config file; print each problem with its path; exit 0 or 1.
    CheckConfig {
        /// The file.
        path: PathBuf,
    },
    /// Create or upgrade the ClickHouse schema, then exit.
    Migrate {
        /// YAML config with `records.clickhouse`; without it the quick-start config is used.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Read a secret on stdin and print its sha256 for `key_sha256` / `token_sha256`.
    HashKey,
    /// Print the version.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => serve(config),
        Command::CheckConfig { path } => check_config(path),
        Command::Migrate { config } => migrate(config),
        Command::HashKey => hash_key(),
        Command::Version => {
            println!("switchyard {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("SWITCHYARD_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn serve(config: Option<PathBuf>) -> ExitCode {
    init_logging();
    let source = match config {
        Some(path) => ConfigSource::File(path),
        None => {
            tracing::info!("no --config given: running the embedded quick-start config (group `demo`)");
            ConfigSource::Embedded(QUICKSTART_YAML)
        }
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = std::env::var("SWITCHYARD_WORKER_THREADS").ok().and_then(|v| v.parse().ok()) {
        builder.worker_threads(n);
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let gateway = match Gateway::start_with(source, control_api).await {
            Ok(g) => g,
            Err(StartError::Config(err)) => {
                for p in &err.problems {
                    eprintln!("{p}");
                }
                return ExitCode::from(EXIT_CONFIG);
            }
            Err(error) => {
                eprintln!("switchyard: {error}");
                return ExitCode::FAILURE;
            }
        };
        wait_for_stop_signal().await;
        tracing::info!("stop signal received; draining requests in flight");
        gateway.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// Mounts the control API on the admin listener.
fn control_api(ctx: &switchyard_gateway::MountContext) -> Option<switchyard_gateway::admin::AdminService> {
    let router = switchyard_control_api::mount(
        ctx.store.clone(),
        ctx.records.clickhouse.as_ref(),
        &ctx.registry,
        ctx.dataplane.clone(),
    );
    Some(switchyard_gateway::admin::mountable(router))
}

async fn wait_for_stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        // Without signal handlers the process can only be killed; keep serving.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}

fn check_config(path: PathBuf) -> ExitCode {
    let source = ConfigSource::File(path);
    let text = match source.read() {
        Ok(t) => t,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    // Build real adapters so URL and header problems are caught too; nothing connects.
    let client = UpstreamClient::new();
    let factory: Arc<switchyard_config::ProviderFactory<_>> =
        Arc::new(move |spec: &switchyard_config::ProviderSpec| providers::build_adapter(&client, spec));
    match switchyard_config::check(&text, &*factory) {
        Ok(table) => {
            println!("ok: {} providers, {} groups", table.config.providers.len(), table.config.groups.len());
            ExitCode::SUCCESS
        }
        Err(err) => {
            for p in &err.problems {
                eprintln!("{p}");
            }
            ExitCode::FAILURE
        }
    }
}

fn migrate(config: Option<PathBuf>) -> ExitCode {
    init_logging();
    let source = config.map_or(ConfigSource::Embedded(QUICKSTART_YAML), ConfigSource::File);
    let no_adapters = |_: &switchyard_config::ProviderSpec| Ok(());
    let options = source
        .read()
        .and_then(|text| switchyard_config::check::<()>(&text, &no_adapters))
        .and_then(|table| switchyard_gateway::recording::options(&table.config));
    let options = match options {
        Ok(o) => o,
        Err(err) => {
            for p in &err.problems {
                eprintln!("{p}");
            }
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let Some(clickhouse) = options.clickhouse else {
        eprintln!("records.clickhouse: not configured; nothing to migrate");
        return ExitCode::from(EXIT_CONFIG);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(switchyard_records::migrate(&clickhouse)) {
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

fn hash_key() -> ExitCode {
    let mut secret = String::new();
    if let Err(error) = std::io::stdin().read_to_string(&mut secret) {
        eprintln!("cannot read stdin: {error}");
        return ExitCode::FAILURE;
    }
    let secret = secret.trim_end_matches(['\n', '\r']);
    if secret.is_empty() {
        eprintln!("hash-key: no secret on stdin");
        return ExitCode::FAILURE;
    }
    println!("{}", hex::encode(Sha256::digest(secret.as_bytes())));
    ExitCode::SUCCESS
}
