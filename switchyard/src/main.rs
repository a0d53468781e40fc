//! The `switchyard` binary: parses the command line and wires the crates together.
//!
//! `serve` runs the gateway until SIGTERM/SIGINT (the wiring is the library's
//! [`switchyard::start`]); `check-config` validates a file (secrets it cannot resolve are
//! warnings unless `--strict`); `migrate` creates or upgrades
//! the state store's and ClickHouse's schemas; `config push` stores a routing config as the
//! new shared version (SPEC §7); `hash-key` prints the sha256 of a secret read on stdin;
//! `version` prints the version. Exit status 64 (EX_USAGE) means the configuration is
//! invalid.

mod demo;
mod push;
mod quickstart;

/// jemalloc, built (`.cargo/config.toml`) to purge freed memory on background threads after
/// 500 ms: glibc's malloc kept hundreds of MB resident after a burst of large translated
/// bodies (`tests/memory_bounds.rs`).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::io::Read;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use sha2::{Digest, Sha256};
use switchyard::ServeError;
use switchyard_config::{ConfigSource, QUICKSTART_YAML};
use switchyard_gateway::{providers, upstream::UpstreamClient};

/// Exit status for an invalid configuration (EX_USAGE from sysexits.h).
pub(crate) const EXIT_CONFIG: u8 = 64;

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
        /// Send a gentle stream of requests with feedback through every group (about
        /// three a second each), so the console's charts have data.
        #[arg(long)]
        demo_traffic: bool,
    },
    /// Validate a config file; print each problem with its path; exit 0 or 1. Secrets
    /// that cannot be resolved here (unset variables, missing files) are warnings.
    CheckConfig {
        /// The file.
        path: PathBuf,
        /// Treat unresolvable secrets as errors (as `serve` does).
        #[arg(long)]
        strict: bool,
    },
    /// Create or upgrade the ClickHouse schema, then exit.
    Migrate {
        /// YAML config with `records.clickhouse`; without it the quick-start config is used.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Shared routing config (`state.shared_config: true`).
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Read a secret on stdin and print its sha256 for `key_sha256` / `token_sha256`.
    HashKey,
    /// Print the version.
    Version,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate PATH (its routing config: providers, groups, clients, admin tokens, rate
    /// limits) and store it as the new shared version; every replica applies it within 2 s.
    Push {
        /// The routing config (YAML).
        path: PathBuf,
        /// This process's config, which names the state store (`state:`).
        #[arg(long)]
        config: PathBuf,
        /// Store only if this is still the newest version (compare-and-set); default: the
        /// newest version now.
        #[arg(long = "if-match")]
        if_match: Option<u64>,
        /// Why, for the history.
        #[arg(long, default_value = "")]
        reason: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, demo_traffic } => serve(config, demo_traffic),
        Command::CheckConfig { path, strict } => check_config(path, strict),
        Command::Migrate { config } => migrate(config),
        Command::Config { command: ConfigCommand::Push { path, config, if_match, reason } } => {
            push::config_push(&path, &config, if_match, &reason)
        }
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

fn serve(config: Option<PathBuf>, demo_traffic: bool) -> ExitCode {
    init_logging();
    let (source, quick) = match config {
        Some(path) => (ConfigSource::File(path), None),
        None => {
            tracing::info!("no --config given: running the embedded quick-start config (group `demo`)");
            match quickstart::QuickStart::prepare() {
                Ok(q) => (ConfigSource::File(q.config.clone()), Some(q)),
                Err(error) => {
                    eprintln!("quick start: {error}");
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    // The data plane runs on its own worker threads (one per core unless
    // SWITCHYARD_WORKER_THREADS says otherwise); this runtime runs the control plane, the
    // admin listener and background tasks, which are I/O-bound: the main thread is enough.
    let workers = std::env::var("SWITCHYARD_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse::<NonZeroUsize>().ok())
        .unwrap_or_else(switchyard_gateway::listen::cores::default_workers);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async {
        let running = match switchyard::start_with_workers(source, workers).await {
            Ok(r) => r,
            Err(ServeError::Config(err)) => {
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
        if let Some(q) = &quick {
            q.announce(running.gateway.admin_addr);
        }
        if demo_traffic {
            let groups = running.gateway.store().current().config.groups.keys().cloned().collect();
            demo::start(running.gateway.data_addr, groups);
        }
        wait_for_stop_signal().await;
        tracing::info!("stop signal received; draining requests in flight");
        running.shutdown().await;
        ExitCode::SUCCESS
    });
    if let Some(q) = quick {
        q.stop();
    }
    code
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

/// Validates and compiles a file without serving. Unresolvable secrets are warnings (a
/// file can be linted in CI without production secrets) unless `strict`.
fn check_config(path: PathBuf, strict: bool) -> ExitCode {
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
    let checked = if strict {
        switchyard_config::check(&text, &*factory).map(|table| (table, Vec::new()))
    } else {
        switchyard_config::check_offline(&text, &*factory)
    };
    match checked {
        Ok((table, warnings)) => {
            for w in &warnings {
                eprintln!("warning: {w}");
            }
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
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(push::migrate(&source))
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
