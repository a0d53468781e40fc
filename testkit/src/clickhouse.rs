//! Test support for records against the real ClickHouse server (`scripts/clickhouse.sh
//! start`, URL in `SWITCHYARD_TEST_CLICKHOUSE_URL`): unique databases, SQL over HTTP with
//! TabSeparated answers, a private stoppable server, and `/metrics` parsing.
//!
//! Queries go over ClickHouse's plain HTTP interface with `reqwest`, so the gateway's
//! tests need no ClickHouse client crate of their own.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The shared test server's URL — the one place tests read it. Fails (never skips) when
/// unset: under `CI` that is a broken pipeline, locally it says how to start the server.
pub fn ch_url() -> String {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    match std::env::var("SWITCHYARD_TEST_CLICKHOUSE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "SWITCHYARD_TEST_CLICKHOUSE_URL is not set{}: run the suite through scripts/test.sh, or \
             `bash scripts/clickhouse.sh start && eval \"$(bash scripts/clickhouse.sh env)\"` first",
            if std::env::var_os("CI").is_some() { " (CI)" } else { "" }
        ),
    }
}

/// A database name unique to this process and call (a plain identifier).
pub fn unique_db(test: &str) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("sy_{test}_{}_{}_{nanos}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed))
}

/// SQL over ClickHouse's HTTP interface.
#[derive(Clone)]
pub struct Ch {
    pub url: String,
    http: reqwest::Client,
}

impl Ch {
    pub fn new(url: &str) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("http client");
        Self { url: url.trim_end_matches('/').to_owned(), http }
    }

    /// Runs `sql` with `database` as the default database; the body, or the server's error.
    pub async fn try_query(&self, database: &str, sql: &str) -> Result<String, String> {
        let resp = self
            .http
            .post(format!("{}/", self.url))
            .query(&[("database", database)])
            .body(sql.to_owned())
            .send()
            .await
            .map_err(|e| format!("{e}"))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| format!("{e}"))?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(format!("{status}: {text}"))
        }
    }

    /// Like [`Ch::try_query`], failing the test on an error.
    pub async fn query(&self, database: &str, sql: &str) -> String {
        self.try_query(database, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// One unsigned number.
    pub async fn scalar(&self, database: &str, sql: &str) -> u64 {
        let text = self.query(database, sql).await;
        text.trim().parse().unwrap_or_else(|e| panic!("{sql}: {text:?}: {e}"))
    }

    /// Rows of a `FORMAT TabSeparated` answer (`\N` is NULL).
    pub async fn rows(&self, database: &str, sql: &str) -> Vec<Vec<String>> {
        let text = self.query(database, &format!("{sql} FORMAT TabSeparated")).await;
        text.lines().map(|l| l.split('\t').map(str::to_owned).collect()).collect()
    }

    pub async fn drop_db(&self, database: &str) {
        let _ = self.try_query("default", &format!("DROP DATABASE IF EXISTS `{database}`")).await;
    }
}

/// A private ClickHouse server (`scripts/clickhouse.sh` with its own directory and
/// ports) that a test may stop and start; stopped on drop.
pub struct PrivateClickHouse {
    pub dir: tempfile::TempDir,
    pub http_port: u16,
    pub tcp_port: u16,
    pub interserver_port: u16,
}

impl PrivateClickHouse {
    /// Starts a server on the given ports (pick ports no other test uses).
    pub fn start(http_port: u16, tcp_port: u16, interserver_port: u16) -> Self {
        let s = Self { dir: tempfile::tempdir().expect("tempdir"), http_port, tcp_port, interserver_port };
        s.script("start");
        s
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Runs `scripts/clickhouse.sh action` for this instance.
    pub fn script(&self, action: &str) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/clickhouse.sh");
        let out = Command::new("bash")
            .arg(script)
            .arg(action)
            .env("SWITCHYARD_CH_DIR", self.dir.path())
            .env("SWITCHYARD_CH_HTTP_PORT", self.http_port.to_string())
            .env("SWITCHYARD_CH_TCP_PORT", self.tcp_port.to_string())
            .env("SWITCHYARD_CH_INTERSERVER_PORT", self.interserver_port.to_string())
            .output()
            .expect("run clickhouse.sh");
        assert!(out.status.success(), "clickhouse.sh {action}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for PrivateClickHouse {
    /// Its data is thrown away with the temp dir, so no graceful stop (18.16 can take
    /// 20 s for one): SIGKILL the server this instance started (by the pid in its
    /// pidfile), then let the script clean up.
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("clickhouse.pid")) {
            let pid = pid.trim();
            if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        self.script("stop");
    }
}

/// The private cluster of `scripts/clickhouse-cluster.sh` (ZooKeeper and three servers:
/// `sy_1x2` = nodes 1 and 2, replicas of one shard; `sy_2x1` = nodes 1 and 3, one shard
/// each), whose `env` lines put the servers' URLs in `SWITCHYARD_TEST_CH_CLUSTER_URLS`.
pub struct ClickHouseCluster {
    /// HTTP URLs of nodes 1, 2 and 3.
    pub urls: Vec<String>,
}

impl ClickHouseCluster {
    /// The running cluster; fails (never skips) when its URLs are not set.
    pub fn from_env() -> Self {
        let _ = ch_url();
        let urls: Vec<String> = match std::env::var("SWITCHYARD_TEST_CH_CLUSTER_URLS") {
            Ok(v) if !v.is_empty() => v.split(',').map(str::to_owned).collect(),
            _ => panic!(
                "SWITCHYARD_TEST_CH_CLUSTER_URLS is not set: run the suite through scripts/test.sh, or \
                 `bash scripts/clickhouse-cluster.sh start && eval \"$(bash scripts/clickhouse-cluster.sh env)\"` first"
            ),
        };
        assert_eq!(urls.len(), 3, "three cluster nodes: {urls:?}");
        Self { urls }
    }

    /// Node `n`'s (1-based) HTTP URL.
    pub fn url(&self, n: usize) -> &str {
        &self.urls[n - 1]
    }

    /// Runs `scripts/clickhouse-cluster.sh action node` (`kill-node`, `start-node`);
    /// blocks for as long as the script takes.
    pub fn node(&self, action: &str, n: usize) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/clickhouse-cluster.sh");
        let out = Command::new("bash").arg(script).arg(action).arg(n.to_string()).output().expect("run script");
        assert!(out.status.success(), "clickhouse-cluster.sh {action} {n}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// The value of the sample `series` (name plus labels exactly as Prometheus prints them,
/// e.g. `switchyard_records_total{outcome="shipped"}`) in a `/metrics` text.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

/// `switchyard_records_total{outcome=…}` from a `/metrics` text (0 when absent).
pub fn records_total(text: &str, outcome: &str) -> u64 {
    metric(text, &format!("switchyard_records_total{{outcome=\"{outcome}\"}}")).unwrap_or(0.0) as u64
}

/// YAML `records:` block shipping to `url`/`database` with a spool in `dir`.
pub fn records_yaml(url: &str, database: &str, spool: &Path, extra_spool: &str) -> String {
    format!(
        "records:\n  clickhouse: {{ url: \"{url}\", database: {database} }}\n  spool: {{ dir: \"{}\"{extra_spool} }}\n  \
         batch: {{ max_delay_ms: 100 }}\n",
        spool.display()
    )
}

/// p`q` (0..=1) of `samples` (sorted in place), in ms.
pub fn percentile_ms(samples: &mut [Duration], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_unstable();
    let idx = ((samples.len() as f64 - 1.0) * q).round() as usize;
    samples[idx].as_secs_f64() * 1e3
}
