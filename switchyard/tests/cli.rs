//! The real `switchyard` binary (SPEC §1): `version`, `hash-key`, `check-config`, and
//! `serve` — invalid config (exit 64), secrets kept out of every output under
//! `RUST_LOG=debug`, SIGTERM exits 0, SIGHUP reloads (and refuses an invalid file), and
//! the embedded quick start.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use switchyard_testkit::upstream::FakeUpstream;
use switchyard_testkit::{chat, chat_stream, client};
use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// Runs the binary to completion (killing it after `limit`), feeding `stdin`.
fn run(args: &[&str], stdin: Option<&str>, limit: Duration) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn switchyard");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    let until = Instant::now() + limit;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > until {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "switchyard {args:?} did not exit within {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn text(b: &[u8]) -> String {
    strip_ansi(&String::from_utf8_lossy(b))
}

/// Removes ANSI escape sequences (in case the log format colours its output).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn version_prints_the_crate_version() {
    let out = run(&["version"], None, Duration::from_secs(10));
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), format!("switchyard {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn hash_key_prints_the_sha256_of_stdin() {
    let expected = hex::encode(Sha256::digest(b"sk-my-client-key-42"));
    for input in ["sk-my-client-key-42\n", "sk-my-client-key-42", "sk-my-client-key-42\r\n"] {
        let out = run(&["hash-key"], Some(input), Duration::from_secs(10));
        assert!(out.status.success(), "{input:?}");
        assert_eq!(text(&out.stdout), format!("{expected}\n"), "{input:?}");
        assert!(
            !text(&out.stdout).contains("sk-my-client-key-42") && !text(&out.stderr).contains("sk-my-client-key-42")
        );
    }
    let out = run(&["hash-key"], Some(""), Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1), "an empty secret is refused");
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("no secret"), "{}", text(&out.stderr));
}

const VALID: &str = r#"
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
providers:
  mock: { kind: mock }
groups:
  g:
    members:
      - { name: champ, role: champion, provider: mock, weight: 1 }
"#;

/// Four problems the validator reports together, one of them a literal secret.
const INVALID: &str = r#"
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
limits: { max_body_bytes: 0 }
providers:
  mock: { kind: mock }
  up: { kind: openai, base_url: "http://127.0.0.1:9/v1", api_key: "sk-literal-do-not-print-9876" }
groups:
  g:
    members:
      - { name: champ, role: champion, provider: nope, weight: 1 }
      - { name: chall, role: challenger, provider: mock, weight: -1 }
"#;

const INVALID_LINES: [&str; 4] = [
    "limits.max_body_bytes: must be > 0",
    "providers.up.api_key: secrets must be `env:NAME` or `file:/path` references, not literal values",
    "groups.g.members[0].provider: unknown provider `nope`",
    "groups.g.members[1].weight: must be >= 0",
];

fn assert_problem_lines(stderr: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    for want in INVALID_LINES {
        assert!(lines.contains(&want), "missing line {want:?} in:\n{stderr}");
    }
    assert!(!stderr.contains("sk-literal-do-not-print-9876"), "a literal secret is not echoed:\n{stderr}");
}

#[test]
fn check_config_accepts_a_valid_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ok.yaml");
    std::fs::write(&path, VALID).expect("write");
    let out = run(&["check-config", path.to_str().expect("utf-8")], None, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ok: 1 providers, 1 groups\n");
}

#[test]
fn check_config_lists_every_problem_with_its_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, INVALID).expect("write");
    let out = run(&["check-config", path.to_str().expect("utf-8")], None, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    assert_problem_lines(&text(&out.stderr));

    // A typo is an error at its path, not silently ignored.
    let typo = VALID.replace("weight: 1", "wieght: 1");
    std::fs::write(&path, typo).expect("write");
    let out = run(&["check-config", path.to_str().expect("utf-8")], None, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.lines().any(|l| l.starts_with("groups.g.members[0]") && l.contains("unknown field `wieght`")),
        "{stderr}"
    );

    // A file that does not exist.
    let out = run(&["check-config", "/nonexistent/switchyard.yaml"], None, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read /nonexistent/switchyard.yaml"), "{}", text(&out.stderr));
}

#[test]
fn serve_with_an_invalid_config_exits_64() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, INVALID).expect("write");
    let out = run(&["serve", "--config", path.to_str().expect("utf-8")], None, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(64), "{}", text(&out.stderr));
    assert_problem_lines(&text(&out.stderr));

    let out = run(&["serve", "--config", "/nonexistent/switchyard.yaml"], None, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("cannot read /nonexistent/switchyard.yaml"));
}

/// A `switchyard serve` child process with its output collected as it runs.
struct Served {
    child: tokio::process::Child,
    pid: u32,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

/// How a `serve` start ended.
enum Started {
    /// Serving on (data, admin).
    Serving(SocketAddr, SocketAddr),
    /// Exited before serving.
    Exited(std::process::ExitStatus),
}

impl Served {
    fn spawn(args: &[&str], cwd: &Path, envs: &[(&str, &str)]) -> Self {
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.args(args)
            .current_dir(cwd)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn switchyard serve");
        let pid = child.id().expect("pid");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let collect = |pipe: Box<dyn tokio::io::AsyncRead + Send + Unpin>, into: Arc<Mutex<String>>| {
            tokio::spawn(async move {
                let mut lines = BufReader::new(pipe).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut s = into.lock().expect("lock");
                    s.push_str(&strip_ansi(&line));
                    s.push('\n');
                }
            })
        };
        let readers = vec![
            collect(Box::new(child.stdout.take().expect("stdout")), stdout.clone()),
            collect(Box::new(child.stderr.take().expect("stderr")), stderr.clone()),
        ];
        Self { child, pid, stdout, stderr, readers }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().expect("lock").clone()
    }

    /// Waits for the "switchyard serving" log line (or an early exit).
    async fn started(&mut self) -> Started {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(line) = self.stderr().lines().find(|l| l.contains("switchyard serving")) {
                let field = |name: &str| -> SocketAddr {
                    let at = line.find(&format!("{name}=")).unwrap_or_else(|| panic!("{name} in {line:?}"));
                    let rest = &line[at + name.len() + 1..];
                    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                    rest[..end].trim_matches('"').parse().unwrap_or_else(|e| panic!("{name} in {line:?}: {e}"))
                };
                return Started::Serving(field("data_addr"), field("admin_addr"));
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Let the readers catch the last lines.
                for r in self.readers.drain(..) {
                    let _ = r.await;
                }
                return Started::Exited(status);
            }
            assert!(Instant::now() < until, "serve neither started nor exited in 20 s:\n{}", self.stderr());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn serving(&mut self) -> (SocketAddr, SocketAddr) {
        match self.started().await {
            Started::Serving(d, a) => (d, a),
            Started::Exited(status) => panic!("serve exited with {status}:\n{}", self.stderr()),
        }
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill").args([sig, &self.pid.to_string()]).status().expect("run kill");
        assert!(status.success(), "kill {sig} {}", self.pid);
    }

    /// SIGTERM, then waits (bounded) for the exit; returns (status, stdout, stderr).
    async fn terminate(mut self) -> (std::process::ExitStatus, String, String) {
        self.signal("-TERM");
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("serve did not exit within 10 s of SIGTERM:\n{}", self.stderr()))
            .expect("wait");
        for r in self.readers.drain(..) {
            let _ = r.await;
        }
        let out = self.stdout.lock().expect("lock").clone();
        let err = self.stderr();
        (status, out, err)
    }
}

/// Every inference record in the spool at `dir` (written by a gateway that has stopped).
fn spool_records(dir: &Path) -> Vec<switchyard_records::InferenceRecord> {
    use switchyard_records::spool::{open, SpoolConfig};
    use switchyard_records::Entry;
    assert!(dir.is_dir(), "spool dir {} exists", dir.display());
    let config = SpoolConfig { dir: dir.to_path_buf(), max_bytes: u64::MAX, segment_bytes: 32 << 20 };
    let (_writer, mut reader, _) = open(&config, None).expect("spool opens");
    let mut out = Vec::new();
    while let Some(payload) = reader.next_record().expect("spool reads") {
        if let Entry::Inference(r) = Entry::decode(&payload).expect("entry decodes") {
            out.push(*r);
        }
    }
    out
}

/// Whether any file under `dir` contains `needle` byte for byte.
fn spool_bytes_contain(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).expect("read spool dir").any(|e| {
        let path = e.expect("entry").path();
        if path.is_dir() {
            return spool_bytes_contain(&path, needle);
        }
        let bytes = std::fs::read(&path).expect("read spool file");
        bytes.windows(needle.len()).any(|w| w == needle)
    })
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_never_leaks_the_provider_key_and_exits_0_on_sigterm() {
    const SECRET: &str = "sk-cli-SECRET-7c1f9e3a5b2d4680";
    let fake = FakeUpstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = format!(
        r#"
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
providers:
  fake: {{ kind: openai, base_url: "{}", api_key: "env:SWITCHYARD_CLI_TEST_KEY" }}
  dead: {{ kind: openai, base_url: "http://127.0.0.1:{}/v1", api_key: "env:SWITCHYARD_CLI_TEST_KEY" }}
groups:
  ok:      {{ members: [ {{ name: m, role: champion, provider: fake, model: ok, weight: 1 }} ] }}
  e401:    {{ members: [ {{ name: m, role: champion, provider: fake, model: error-401, weight: 1 }} ] }}
  e500:    {{ members: [ {{ name: m, role: champion, provider: fake, model: error-500, weight: 1 }} ] }}
  nonjson: {{ members: [ {{ name: m, role: champion, provider: fake, model: non-json, weight: 1 }} ] }}
  stream:  {{ members: [ {{ name: m, role: champion, provider: fake, model: stream, weight: 1 }} ] }}
  reset:   {{ members: [ {{ name: m, role: champion, provider: fake, model: reset-stream, weight: 1 }} ] }}
  dead:    {{ members: [ {{ name: m, role: champion, provider: dead, weight: 1 }} ] }}
records:
  spool: {{ dir: "{}" }}
"#,
        fake.base_url(),
        closed_port(),
        dir.path().join("spool").display()
    );
    let path = dir.path().join("switchyard.yaml");
    std::fs::write(&path, yaml).expect("write");
    let mut served = Served::spawn(
        &["serve", "--config", path.to_str().expect("utf-8")],
        dir.path(),
        &[("RUST_LOG", "debug"), ("SWITCHYARD_CLI_TEST_KEY", SECRET)],
    );
    let (data, admin) = served.serving().await;
    let url = format!("http://{data}/v1/chat/completions");
    let c = client();
    let mut seen = String::new();
    let cases: Vec<(String, u16)> = vec![
        (chat("ok"), 200),
        (chat("e401"), 502),
        (chat("e500"), 502),
        (chat("nonjson"), 502),
        (chat_stream("stream"), 200),
        (chat_stream("reset"), 200),
        (chat("dead"), 502),
        ("{not json".to_owned(), 400),
        (chat("no-such-group"), 404),
    ];
    for (body, status) in &cases {
        let resp = c.post(&url).body(body.clone()).send().await.expect("send");
        assert_eq!(resp.status().as_u16(), *status, "{body}");
        seen.push_str(&format!("{:?}\n", resp.headers()));
        seen.push_str(&resp.text().await.expect("body"));
    }
    let resp = c.get(format!("http://{data}/v1/models")).send().await.expect("models");
    seen.push_str(&resp.text().await.expect("body"));
    let metrics = c.get(format!("http://{admin}/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("switchyard_requests_total"), "{metrics}");

    // The key was really in use: the upstream received it (and the 401 fake echoed it).
    let upstream_saw = fake.seen();
    assert!(upstream_saw.len() >= 6);
    assert!(upstream_saw.iter().all(|s| s.headers["authorization"] == format!("Bearer {SECRET}").as_str()));

    let (status, stdout, stderr) = served.terminate().await;
    assert_eq!(status.code(), Some(0), "SIGTERM exits 0:\n{stderr}");
    assert!(stderr.contains("DEBUG"), "RUST_LOG=debug took effect:\n{stderr}");
    assert!(stderr.contains("stop signal received"), "{stderr}");
    for (what, hay) in [("responses", &seen), ("/metrics", &metrics), ("stdout", &stdout), ("stderr", &stderr)] {
        assert!(!hay.contains(SECRET), "the provider key leaked into {what}");
        assert!(!hay.contains("7c1f9e3a5b2d4680"), "part of the provider key leaked into {what}");
    }
    let records = spool_records(&dir.path().join("spool"));
    assert_eq!(records.len(), 7, "one record per resolved request: {records:#?}");
    assert!(!serde_json::to_string(&records).expect("json").contains(SECRET), "the provider key leaked into records");
    assert!(!spool_bytes_contain(&dir.path().join("spool"), SECRET.as_bytes()), "the provider key is in a spool file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_and_refuses_an_invalid_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The process watches `link/`; the real file lives in `real/`, so writing it raises no
    // file-watch event and only SIGHUP can make the gateway notice.
    std::fs::create_dir(dir.path().join("real")).expect("mkdir");
    std::fs::create_dir(dir.path().join("link")).expect("mkdir");
    let real = dir.path().join("real/switchyard.yaml");
    let link = dir.path().join("link/switchyard.yaml");
    let spool = dir.path().join("spool");
    let config = |champ: &str, chall: &str| {
        format!(
            "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nproviders:\n  mock: {{ kind: mock }}\ngroups:\n  g:\n    members:\n      - {{ name: champ, role: champion, provider: mock, weight: {champ} }}\n      - {{ name: chall, role: challenger, provider: mock, weight: {chall} }}\nrecords:\n  spool: {{ dir: \"{}\" }}\n",
            spool.display()
        )
    };
    std::fs::write(&real, config("1", "0")).expect("write");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let mut served = Served::spawn(&["serve", "--config", link.to_str().expect("utf-8")], dir.path(), &[]);
    let (data, admin) = served.serving().await;
    let c = client();
    let url = format!("http://{data}/v1/chat/completions");
    let probe = async |c: &reqwest::Client| -> (String, String) {
        let resp = c.post(&url).body(chat("g")).send().await.expect("send");
        assert_eq!(resp.status(), 200);
        let h = resp.headers();
        (
            h["x-switchyard-config-version"].to_str().expect("ascii").to_owned(),
            h["x-switchyard-member"].to_str().expect("ascii").to_owned(),
        )
    };
    assert_eq!(probe(&c).await, ("1".to_owned(), "champ".to_owned()));

    // New weights on disk; nothing changes until SIGHUP.
    let tmp = dir.path().join("real/switchyard.yaml.tmp");
    std::fs::write(&tmp, config("0", "1")).expect("write");
    std::fs::rename(&tmp, &real).expect("rename");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(probe(&c).await, ("1".to_owned(), "champ".to_owned()), "no reload without SIGHUP");

    served.signal("-HUP");
    let t0 = Instant::now();
    let mut last = probe(&c).await;
    while last.0 != "2" && t0.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        last = probe(&c).await;
    }
    assert_eq!(last, ("2".to_owned(), "chall".to_owned()), "SIGHUP applied the new weights within 2 s");
    for _ in 0..20 {
        assert_eq!(probe(&c).await, ("2".to_owned(), "chall".to_owned()));
    }

    // An invalid file: refused, counted, and the last good table keeps serving.
    std::fs::write(&tmp, config("0", "-1")).expect("write");
    std::fs::rename(&tmp, &real).expect("rename");
    served.signal("-HUP");
    let metrics_url = format!("http://{admin}/metrics");
    let rejected = async || -> u64 {
        let m = c.get(&metrics_url).send().await.expect("metrics").text().await.expect("text");
        m.lines()
            .find_map(|l| l.strip_prefix("switchyard_config_reloads_total{result=\"rejected\"} "))
            .and_then(|v| v.trim().parse().ok())
            .expect("rejected series present")
    };
    let t0 = Instant::now();
    while rejected().await < 1 && t0.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(rejected().await >= 1, "the invalid reload is counted as rejected");
    let m = c.get(&metrics_url).send().await.expect("metrics").text().await.expect("text");
    assert!(m.lines().any(|l| l == "switchyard_config_version 2"), "{m}");
    assert_eq!(probe(&c).await, ("2".to_owned(), "chall".to_owned()), "the last good config keeps serving");

    let (status, _, stderr) = served.terminate().await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("groups.g.members[1].weight: must be >= 0"),
        "the refusal is logged with its path:\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_without_config_runs_the_quick_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut served = Served::spawn(&["serve"], dir.path(), &[]);
    match served.started().await {
        Started::Serving(data, admin) => {
            assert_eq!(data.to_string(), "127.0.0.1:8080");
            assert_eq!(admin.to_string(), "127.0.0.1:9090");
            let c = client();
            let resp =
                c.post(format!("http://{data}/v1/chat/completions")).body(chat("demo")).send().await.expect("send");
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.headers()["x-switchyard-group"], "demo");
            let member = resp.headers()["x-switchyard-member"].to_str().expect("ascii").to_owned();
            assert!(member == "large" || member == "small", "{member}");
            let body: serde_json::Value = resp.json().await.expect("json");
            assert!(body["choices"][0]["message"]["content"].is_string(), "{body}");
            let stream = c
                .post(format!("http://{data}/v1/chat/completions"))
                .body(chat_stream("demo"))
                .send()
                .await
                .expect("send")
                .text()
                .await
                .expect("stream");
            assert!(stream.ends_with("data: [DONE]\n\n"), "{stream}");
            let health = c.get(format!("http://{admin}/healthz")).send().await.expect("healthz");
            assert_eq!(health.status(), 200);
            let (status, _, stderr) = served.terminate().await;
            assert_eq!(status.code(), Some(0), "{stderr}");
            assert!(stderr.contains("embedded quick-start"), "{stderr}");
            let records = spool_records(&dir.path().join("switchyard-data/spool"));
            assert_eq!(records.len(), 2, "both requests are spooled under ./switchyard-data/: {records:#?}");
            assert!(records.iter().all(|r| r.group == "demo" && r.status == 200), "{records:#?}");
        }
        Started::Exited(status) => {
            // Someone else holds 8080 or 9090 on this shared machine: the start must fail
            // cleanly, naming the address.
            let stderr = served.stderr();
            assert_eq!(status.code(), Some(1), "{stderr}");
            assert!(
                (stderr.contains("127.0.0.1:8080") || stderr.contains("127.0.0.1:9090")) && stderr.contains("in use"),
                "a bind failure names the address:\n{stderr}"
            );
            let busy = ["127.0.0.1:8080", "127.0.0.1:9090"].iter().any(|a| std::net::TcpListener::bind(a).is_err());
            eprintln!("quick-start ports busy (still busy now: {busy}); HTTP part skipped:\n{stderr}");
        }
    }
}
