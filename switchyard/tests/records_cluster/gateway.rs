//! One `switchyard serve` child process with its own directory (config, spool, SQLite state)
//! shipping records to a cluster: started, crashed and restarted on its spool, stopped; its
//! data address is shared with the load clients and cleared while it is down.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchyard_testkit::client;
use switchyard_testkit::control::admin_yaml;
use switchyard_testkit::process::Served;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
const FSYNC_INTERVAL_MS: u64 = 50;

/// One `switchyard serve` with its own directory (config, spool, SQLite state).
pub struct Gateway {
    served: Option<Served>,
    /// `http://<data>`; `None` while it is down or paused.
    pub data: Arc<Mutex<Option<String>>>,
    pub admin: String,
    config: PathBuf,
    dir: tempfile::TempDir,
}

impl Gateway {
    pub async fn start(ch_url: &str, db: &str, cluster: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("switchyard.yaml");
        std::fs::write(&config, yaml(ch_url, db, cluster, &dir.path().join("spool"))).expect("write config");
        let mut g = Self { served: None, data: Arc::new(Mutex::new(None)), admin: String::new(), config, dir };
        g.serve().await;
        g
    }

    async fn serve(&mut self) {
        let mut served = Served::spawn(
            BIN,
            &["serve", "--config", self.config.to_str().expect("utf-8")],
            self.dir.path(),
            // One master key for both gateways: feedback sent to one verifies request ids
            // the other signed.
            &[("RUST_LOG", "info"), ("SWITCHYARD_MASTER_KEY", &"55".repeat(32))],
        );
        let (data, admin) = served.serving().await;
        self.admin = format!("http://{admin}");
        *self.data.lock().expect("lock") = Some(format!("http://{data}"));
        self.served = Some(served);
    }

    pub async fn metrics(&self) -> String {
        let r = client().get(format!("{}/metrics", self.admin)).send().await.expect("metrics");
        r.text().await.expect("metrics text")
    }

    /// Pauses its clients, lets the last records reach the spool file, SIGKILLs it and
    /// starts it again on the same spool; returns how long it was down.
    pub async fn crash_and_restart(&mut self) -> Duration {
        *self.data.lock().expect("lock") = None;
        tokio::time::sleep(Duration::from_millis(FSYNC_INTERVAL_MS + 350)).await;
        let served = self.served.take().expect("serving");
        let down = Instant::now();
        served.signal("-KILL");
        drop(served);
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.serve().await;
        down.elapsed()
    }

    /// The last `n` lines of its log (for a failure's message).
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.served.as_ref().map(Served::stderr).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.served.take() {
            let (status, _, stderr) = s.terminate().await;
            assert!(status.success(), "gateway exits cleanly: {stderr}");
        }
    }
}

fn yaml(ch_url: &str, db: &str, cluster: &str, spool: &Path) -> String {
    format!(
        r#"listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
providers:
  mock: {{ kind: mock, latency_ms: 1 }}
groups:
  g:
    members:
      - {{ name: champ, role: champion, provider: mock, weight: 80 }}
      - {{ name: chall, role: challenger, provider: mock, weight: 20 }}
records:
  clickhouse: {{ url: "{ch_url}", database: {db}, cluster: {cluster} }}
  spool: {{ dir: "{}", fsync_interval_ms: {FSYNC_INTERVAL_MS} }}
  batch: {{ max_delay_ms: 100 }}
{}"#,
        spool.display(),
        admin_yaml()
    )
}
