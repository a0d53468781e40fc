//! Test support: a gateway started in-process on `127.0.0.1:0` from a YAML file in a temp
//! dir, a fake OpenAI-compatible upstream on `127.0.0.1:0`, and helpers to read records.
#![allow(dead_code)]

pub mod anthropic_fake;
pub mod browser;
pub mod clickhouse;
pub mod control;
pub mod errors;
pub mod fake_server;
pub mod finetune_fake;
pub mod gemini_fake;
pub mod h2raw;
pub mod http_trainer_fake;
pub mod huggingface_fake;
pub mod oip_fake;
pub mod openai_fake;
pub mod otel;
pub mod process;
pub mod proxy;
pub mod redis;
pub mod upstream;

use std::path::PathBuf;
use std::time::Duration;

use switchyard_config::ConfigSource;
use switchyard_gateway::Gateway;
use switchyard_records::InferenceRecord;

/// A gateway running in this test process, wired exactly as the binary wires it
/// (`switchyard::start`: the control plane on a SQLite state store in the temp dir, the
/// data plane, the control API on the admin listener).
pub struct TestGateway {
    pub running: Option<switchyard::Running>,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub base: String,
    pub admin: String,
}

impl TestGateway {
    /// Starts a gateway from `yaml`. `listen`, `admin_listen` and the spool dir are
    /// filled in unless the YAML sets them.
    pub async fn start(yaml: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir, yaml).await
    }

    /// Starts a gateway with its config and data in `dir` (reuse `dir` to restart).
    pub async fn start_in(dir: tempfile::TempDir, yaml: &str) -> Self {
        let config_path = dir.path().join("switchyard.yaml");
        std::fs::write(&config_path, complete_yaml(yaml, &dir)).expect("write config");
        let running = switchyard::start(ConfigSource::File(config_path.clone())).await.expect("gateway starts");
        let base = format!("http://{}", running.gateway.data_addr);
        let admin = format!("http://{}", running.gateway.admin_addr);
        Self { running: Some(running), dir, config_path, base, admin }
    }

    /// [`TestGateway::start`] (the control API is always mounted, as the binary does).
    pub async fn start_with_control(yaml: &str) -> Self {
        Self::start(yaml).await
    }

    /// [`TestGateway::start_in`] (the control API is always mounted, as the binary does).
    pub async fn start_with_control_in(dir: tempfile::TempDir, yaml: &str) -> Self {
        Self::start_in(dir, yaml).await
    }

    /// The running gateway.
    pub fn gw(&self) -> &Gateway {
        &self.running.as_ref().expect("running").gateway
    }

    /// Rewrites the config file (completing it like `start` does).
    pub fn write_config(&self, yaml: &str) {
        let tmp = self.dir.path().join("switchyard.yaml.tmp");
        std::fs::write(&tmp, complete_yaml(yaml, &self.dir)).expect("write");
        std::fs::rename(&tmp, &self.config_path).expect("rename");
    }

    /// Stops the gateway (draining), keeping the temp dir; returns the dir.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        self.dir
    }

    /// URL of a data-plane path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Every inference record in the spool of a stopped gateway (without ClickHouse
    /// nothing is shipped, so the spool holds them all).
    pub fn records(dir: &tempfile::TempDir) -> Vec<InferenceRecord> {
        process::spool_records(&dir.path().join("spool"))
    }

    /// `/metrics` text.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.admin)).await.expect("metrics").text().await.expect("text")
    }
}

fn complete_yaml(yaml: &str, dir: &tempfile::TempDir) -> String {
    let mut out = String::new();
    if !yaml.contains("listen:") {
        out.push_str("listen: 127.0.0.1:0\n");
    }
    if !yaml.contains("admin_listen:") {
        out.push_str("admin_listen: 127.0.0.1:0\n");
    }
    out.push_str(yaml);
    if !yaml.contains("records:") {
        out.push_str(&format!("\nrecords:\n  spool: {{ dir: \"{}\" }}\n", dir.path().join("spool").display()));
    }
    out
}

/// A reqwest client that never pools across tests and has a sane timeout.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client")
}

/// A chat body for `model`.
pub fn chat(model: &str) -> String {
    format!(r#"{{"model":"{model}","messages":[{{"role":"user","content":"hi"}}]}}"#)
}

/// A streaming chat body for `model`.
pub fn chat_stream(model: &str) -> String {
    format!(r#"{{"model":"{model}","stream":true,"messages":[{{"role":"user","content":"hi"}}]}}"#)
}

/// Polls `f` until it returns true or `within` passes.
pub async fn eventually(within: Duration, mut f: impl AsyncFnMut() -> bool) -> bool {
    let until = tokio::time::Instant::now() + within;
    loop {
        if f().await {
            return true;
        }
        if tokio::time::Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads one HTTP/1.1 response with a `content-length` body from a raw connection; returns
/// (head in lower case, body). Panics on a close or 5 s of silence before it is whole.
pub async fn read_http1_response(s: &mut tokio::net::TcpStream) -> (String, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse().ok())
                .expect("content-length");
            while buf.len() < end + 4 + len {
                let n = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    tokio::io::AsyncReadExt::read(s, &mut chunk),
                )
                .await
                .expect("body in time")
                .expect("read");
                assert!(n > 0, "connection closed mid-body");
                buf.extend_from_slice(&chunk[..n]);
            }
            return (head, String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned());
        }
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), tokio::io::AsyncReadExt::read(s, &mut chunk))
            .await
            .expect("response in time")
            .expect("read");
        assert!(n > 0, "connection closed without a response (read so far: {:?})", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    }
}
