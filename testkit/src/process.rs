//! The real `switchyard` binary as a child process: run a command to completion, or serve
//! with its output collected as it runs (log lines, the bound addresses, signals), plus
//! reading the spool it leaves behind. The binary's path is the caller's
//! (`env!("CARGO_BIN_EXE_switchyard")` is only known to the binary's own tests).

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};

/// Runs the binary to completion (killing it after `limit`), feeding `stdin`.
pub fn run(bin: &str, args: &[&str], stdin: Option<&str>, limit: Duration) -> Output {
    let mut child = Command::new(bin)
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

/// Output bytes as text without colour codes.
pub fn text(b: &[u8]) -> String {
    strip_ansi(&String::from_utf8_lossy(b))
}

/// Removes ANSI escape sequences (in case the log format colours its output).
pub fn strip_ansi(s: &str) -> String {
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

/// A `switchyard serve` child process with its output collected as it runs.
pub struct Served {
    child: tokio::process::Child,
    /// The child's pid.
    pub pid: u32,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

/// How a `serve` start ended.
pub enum Started {
    /// Serving on (data, admin).
    Serving(SocketAddr, SocketAddr),
    /// Exited before serving.
    Exited(std::process::ExitStatus),
}

impl Served {
    /// Starts `bin` with `args` in `cwd`.
    pub fn spawn(bin: &str, args: &[&str], cwd: &Path, envs: &[(&str, &str)]) -> Self {
        let mut cmd = tokio::process::Command::new(bin);
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

    /// Everything written to stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().expect("lock").clone()
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("lock").clone()
    }

    /// Waits for the "switchyard serving" log line (or an early exit).
    pub async fn started(&mut self) -> Started {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(line) = self.stderr().lines().find(|l| l.contains("switchyard serving")) {
                // Text (`data_addr=…`) or JSON (`"data_addr":"…"`, SWITCHYARD_LOG_FORMAT=json) logs.
                let field = |name: &str| -> SocketAddr {
                    let (text, json) = (format!("{name}="), format!("\"{name}\":"));
                    let rest = match (line.find(&text), line.find(&json)) {
                        (Some(at), _) => &line[at + text.len()..],
                        (None, Some(at)) => &line[at + json.len()..],
                        (None, None) => panic!("{name} in {line:?}"),
                    };
                    let end = rest.find(|c: char| c.is_whitespace() || c == ',' || c == '}').unwrap_or(rest.len());
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

    /// The bound (data, admin) addresses once serving; panics if it exited.
    pub async fn serving(&mut self) -> (SocketAddr, SocketAddr) {
        match self.started().await {
            Started::Serving(d, a) => (d, a),
            Started::Exited(status) => panic!("serve exited with {status}:\n{}", self.stderr()),
        }
    }

    /// Sends `sig` (e.g. `-HUP`) with `kill`.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill").args([sig, &self.pid.to_string()]).status().expect("run kill");
        assert!(status.success(), "kill {sig} {}", self.pid);
    }

    /// SIGTERM, then waits (bounded) for the exit; returns (status, stdout, stderr).
    pub async fn terminate(mut self) -> (std::process::ExitStatus, String, String) {
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
pub fn spool_records(dir: &Path) -> Vec<switchyard_records::InferenceRecord> {
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
pub fn spool_bytes_contain(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).expect("read spool dir").any(|e| {
        let path = e.expect("entry").path();
        if path.is_dir() {
            return spool_bytes_contain(&path, needle);
        }
        let bytes = std::fs::read(&path).expect("read spool file");
        bytes.windows(needle.len()).any(|w| w == needle)
    })
}

/// A port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}
