//! Debian's Prometheus server as a child process for `deploy_prometheus.rs`: a private
//! loopback port and temp dir, scraping given targets every second, queried over its HTTP API.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{closed_port, read};

/// Debian's Prometheus server on a private loopback port and temp dir (killed on drop).
pub struct Prometheus {
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
    url: String,
    http: reqwest::Client,
}

impl Prometheus {
    /// Scrapes `targets` every second and evaluates `rules` (a rule file's text) every second.
    pub async fn start(targets: &[&str], rules: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("alerts.yml"), rules).expect("write rules");
        let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        let config = format!(
            "global: {{ scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }}\n\
             rule_files: [\"{}\"]\n\
             scrape_configs:\n  - job_name: switchyard\n    static_configs:\n      - targets: [{}]\n",
            dir.path().join("alerts.yml").display(),
            targets.join(", ")
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).expect("write config");
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let url = format!("http://127.0.0.1:{}", closed_port());
        let mut child = tokio::process::Command::new("prometheus")
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={}", url.trim_start_matches("http://")))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("prometheus is installed (Debian package `prometheus`, see scripts/test.sh)");
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if http.get(format!("{url}/-/ready")).send().await.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            let exited = child.try_wait().expect("try_wait");
            if exited.is_some() || Instant::now() > until {
                panic!("prometheus not ready ({exited:?}):\n{}", read(&dir.path().join("prometheus.log")));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { _child: child, _dir: dir, url, http }
    }

    async fn api(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let resp = self.http.get(format!("{}{path}", self.url)).query(query).send().await.expect("prometheus api");
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["status"], "success", "{path} {query:?}: {body}");
        body["data"].clone()
    }

    /// The series an instant query returns now.
    pub async fn query(&self, q: &str) -> Vec<Value> {
        self.api("/api/v1/query", &[("query", q)]).await["result"].as_array().cloned().unwrap_or_default()
    }

    /// Every rule Prometheus loaded, with its state and health.
    pub async fn rules(&self) -> Vec<Value> {
        let data = self.api("/api/v1/rules", &[]).await;
        data["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect()
    }
}
