//! SIGKILL of the real `switchyard serve` under load, then a restart on the same spool
//! (issue 3, "Crash"): every record whose request completed more than
//! `fsync_interval_ms` + margin before the kill reaches ClickHouse, none counts twice,
//! and nothing arrives that no client asked for.

// `is_multiple_of` is newer than the workspace's rust-version (1.85).
#![allow(clippy::manual_is_multiple_of)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchyard_testkit::clickhouse::{ch_url, records_total, records_yaml, unique_db, Ch};
use switchyard_testkit::{client, eventually};
use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
const FSYNC_INTERVAL_MS: u64 = 50;
/// Slack on top of the fsync interval for the writer thread and a slow fdatasync.
const MARGIN_MS: u64 = 250;
const CLIENTS: usize = 4;

/// A `switchyard serve` child with its stderr collected.
struct Served {
    child: tokio::process::Child,
    pid: u32,
    stderr: Arc<Mutex<String>>,
}

impl Served {
    fn spawn(config: &Path) -> Self {
        let mut child = tokio::process::Command::new(BIN)
            .args(["serve", "--config", config.to_str().expect("utf-8")])
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn switchyard serve");
        let pid = child.id().expect("pid");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (pipe, into) = (child.stderr.take().expect("stderr"), stderr.clone());
        tokio::spawn(async move {
            let mut lines = BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut s = into.lock().expect("lock");
                s.push_str(&line);
                s.push('\n');
            }
        });
        Self { child, pid, stderr }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().expect("lock").clone()
    }

    /// The (data, admin) addresses from the "switchyard serving" line.
    async fn serving(&mut self) -> (SocketAddr, SocketAddr) {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(line) = self.stderr().lines().find(|l| l.contains("switchyard serving")) {
                let field = |name: &str| -> SocketAddr {
                    let at = line.find(&format!("{name}=")).unwrap_or_else(|| panic!("{name} in {line:?}"));
                    let rest = &line[at + name.len() + 1..];
                    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                    rest[..end].trim_matches('"').parse().unwrap_or_else(|e| panic!("{name} in {line:?}: {e}"))
                };
                return (field("data_addr"), field("admin_addr"));
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("serve exited with {status}:\n{}", self.stderr());
            }
            assert!(Instant::now() < until, "serve did not start in 20 s:\n{}", self.stderr());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn signal(&self, sig: &str) {
        let status = std::process::Command::new("kill").args([sig, &self.pid.to_string()]).status().expect("kill");
        assert!(status.success(), "kill {sig} {}", self.pid);
    }

    async fn wait(&mut self, within: Duration) -> std::process::ExitStatus {
        tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("serve did not exit in {within:?}:\n{}", self.stderr()))
            .expect("wait")
    }
}

/// A completed request: its id and when the client had the whole answer.
struct Done {
    id: String,
    at: Instant,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_loses_no_fsynced_record_and_duplicates_none() {
    let ch = Ch::new(&ch_url());
    let db = unique_db("crash");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("switchyard.yaml");
    let yaml = format!(
        r#"
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
providers:
  mock: {{ kind: mock, latency_ms: 1 }}
groups:
  g:
    members:
      - {{ name: champ, role: champion, provider: mock, weight: 80 }}
      - {{ name: chall, role: challenger, provider: mock, weight: 20 }}
{}"#,
        records_yaml(&ch.url, &db, &dir.path().join("spool"), &format!(", fsync_interval_ms: {FSYNC_INTERVAL_MS}"))
    );
    std::fs::write(&config, yaml).expect("write config");

    let mut first = Served::spawn(&config);
    let (data, _) = first.serving().await;

    // Load until (and through) the kill.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(Mutex::new(Vec::<Done>::new()));
    let failed = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let mut load = Vec::new();
    for k in 0..CLIENTS {
        let (stop, done, failed) = (stop.clone(), done.clone(), failed.clone());
        let url = format!("http://{data}/v1/chat/completions");
        load.push(tokio::spawn(async move {
            let c = client();
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let body =
                    if (i + k) % 3 == 0 { switchyard_testkit::chat_stream("g") } else { switchyard_testkit::chat("g") };
                let outcome = async {
                    let r = c.post(&url).body(body).send().await.ok()?;
                    let id = r.headers().get("x-switchyard-request-id")?.to_str().ok()?.to_owned();
                    (r.status() == 200).then_some(())?;
                    r.bytes().await.ok()?;
                    Some(id)
                };
                match outcome.await {
                    Some(id) => done.lock().expect("lock").push(Done { id, at: Instant::now() }),
                    None => {
                        failed.lock().expect("lock").push(Instant::now());
                        // The server is gone: do not spin on refused connections.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let killed = Instant::now();
    first.signal("-KILL");
    let status = first.wait(Duration::from_secs(10)).await;
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "killed by SIGKILL");
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.expect("client task");
    }
    let done = std::mem::take(&mut *done.lock().expect("lock"));
    let failed = std::mem::take(&mut *failed.lock().expect("lock"));
    let failed_before_kill = failed.iter().filter(|t| **t < killed).count();
    let cut_off = killed - Duration::from_millis(FSYNC_INTERVAL_MS + MARGIN_MS);
    let must: HashSet<&str> = done.iter().filter(|d| d.at < cut_off).map(|d| d.id.as_str()).collect();
    let late: HashSet<&str> = done.iter().filter(|d| d.at >= cut_off).map(|d| d.id.as_str()).collect();
    let answered: HashSet<&str> = done.iter().map(|d| d.id.as_str()).collect();
    let shipped_before_kill =
        ch.try_query(&db, "SELECT uniqExact(request_id) FROM inferences").await.unwrap_or_default();

    // Restart on the same spool: it replays and ships.
    let mut second = Served::spawn(&config);
    let (data2, admin) = second.serving().await;
    let arrived = eventually(Duration::from_secs(30), async || {
        let Ok(ids) = ch.try_query(&db, "SELECT DISTINCT request_id FROM inferences FORMAT TabSeparated").await else {
            return false;
        };
        let ids: HashSet<&str> = ids.lines().collect();
        must.iter().all(|id| ids.contains(id))
    })
    .await;
    // Let anything else still in the spool ship too, then count.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stored: HashSet<String> =
        ch.rows(&db, "SELECT DISTINCT request_id FROM inferences").await.into_iter().map(|r| r[0].clone()).collect();
    let final_count = ch.scalar(&db, "SELECT count() FROM inferences FINAL").await;
    let uniq = ch.scalar(&db, "SELECT uniqExact(request_id) FROM inferences").await;
    let physical = ch.scalar(&db, "SELECT count() FROM inferences").await;
    let missing = must.iter().filter(|id| !stored.contains(**id)).count();
    let late_arrived = late.iter().filter(|id| stored.contains(**id)).count();
    let unknown = stored.iter().filter(|id| !answered.contains(id.as_str())).count();
    let metrics =
        reqwest::get(format!("http://{admin}/metrics")).await.expect("metrics").text().await.expect("metrics text");
    let summary = format!(
        "answered 200 before the kill: {}; completed > {} ms before the kill: {}; of those missing: {missing}; \
         completed in the last {} ms: {} (arrived: {late_arrived}); failed before the kill: {failed_before_kill}, \
         at or after it: {}; in ClickHouse \
         before the restart: {}; after: uniqExact {uniq}, count FINAL {final_count}, physical rows {physical}, \
         not answered to a client (in flight at the kill): {unknown}; second run shipped {}",
        answered.len(),
        FSYNC_INTERVAL_MS + MARGIN_MS,
        must.len(),
        FSYNC_INTERVAL_MS + MARGIN_MS,
        late.len(),
        failed.len() - failed_before_kill,
        shipped_before_kill.trim(),
        records_total(&metrics, "shipped"),
    );
    eprintln!("crash: {summary}");
    assert!(must.len() > 200, "enough load before the kill: {summary}");
    assert_eq!(failed_before_kill, 0, "{summary}");
    assert!(arrived && missing == 0, "every record fsynced before the kill arrives: {summary}");
    assert_eq!(final_count, uniq, "no record counts twice: {summary}");
    assert!(
        unknown <= CLIENTS,
        "only requests in flight at the kill (≤ {CLIENTS} clients) may be stored without an answer: {summary}"
    );

    // The restarted gateway serves and records.
    let r =
        client().post(format!("http://{data2}/v1/chat/completions")).body(switchyard_testkit::chat("g")).send().await;
    assert_eq!(r.expect("send").status(), 200);
    second.signal("-TERM");
    assert!(second.wait(Duration::from_secs(15)).await.success(), "{}", second.stderr());
    ch.drop_db(&db).await;
}
