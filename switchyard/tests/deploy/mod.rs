//! Helpers shared by the `deploy/` checks (`deploy_manifests.rs`, `deploy_prometheus.rs`):
//! paths into `deploy/`, reading YAML, running tools, `switchyard check-config` with dummy
//! secrets, and a real `switchyard serve` child process. Each test binary uses a part of it.
#![allow(dead_code)]

pub mod prometheus;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

pub const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
/// Secrets the deploy configs reference as `env:`; dummy values for `check-config`.
pub const SECRET_ENV: [(&str, &str); 5] = [
    ("OPENAI_API_KEY", "sk-dummy"),
    ("ANTHROPIC_API_KEY", "sk-ant-dummy"),
    ("CH_PASSWORD", "dummy"),
    ("PG_PASSWORD", "dummy"),
    ("SWITCHYARD_MASTER_KEY", "0000000000000000000000000000000000000000000000000000000000000000"),
];

pub fn deploy(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy").join(rel)
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

pub fn yaml(path: &Path) -> Value {
    serde_yaml_ng::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs a command; panics with its output unless it exits 0; returns stdout + stderr.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e} (run the suite through scripts/test.sh)"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed ({}):\n{text}", out.status);
    text
}

pub fn python() -> String {
    std::env::var("SWITCHYARD_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// `switchyard check-config PATH` with the secrets set.
pub fn check_config(path: &Path) {
    run_ok(Command::new(BIN).arg("check-config").arg(path).envs(SECRET_ENV));
}

pub fn port_of(addr: &str) -> u16 {
    addr.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("no port in {addr:?}"))
}

pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

pub fn alert_names(rules: &Value) -> BTreeSet<String> {
    rule_list(rules).filter_map(|r| r["alert"].as_str().map(str::to_owned)).collect()
}

pub fn rule_list(rules: &Value) -> impl Iterator<Item = &Value> {
    rules["groups"].as_array().expect("groups").iter().flat_map(|g| g["rules"].as_array().expect("rules"))
}

/// A `switchyard serve` child process (killed on drop).
pub struct Served {
    _child: tokio::process::Child,
    pub data: String,
    pub admin: String,
}

impl Served {
    /// Starts `serve --config path` and waits for its "switchyard serving" log line.
    pub async fn start(config: &Path) -> Self {
        let mut child = tokio::process::Command::new(BIN)
            .args(["serve", "--config"])
            .arg(config)
            .env("SWITCHYARD_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn switchyard serve");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let serving = tokio::time::timeout(Duration::from_secs(20), async {
            let mut seen = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                if v["fields"]["message"] == "switchyard serving" {
                    return v["fields"].clone();
                }
                seen.push_str(&line);
                seen.push('\n');
            }
            panic!("switchyard exited before serving:\n{seen}");
        })
        .await
        .expect("switchyard serving within 20 s");
        // Keep draining stderr so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let field = |k: &str| serving[k].as_str().unwrap_or_else(|| panic!("{k} in {serving}")).to_owned();
        Self { _child: child, data: field("data_addr"), admin: field("admin_addr") }
    }
}
