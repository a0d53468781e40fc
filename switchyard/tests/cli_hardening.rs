//! The real binary (issue 11): `check-config` lints a file whose secrets are not on this
//! machine (warnings, exit 0; errors with `--strict`) while `serve` still refuses to start
//! without them; and a log file written inside the config's directory under
//! `RUST_LOG=trace` does not make the config watcher log its own events in a loop.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use switchyard_testkit::process::{run, text};
use switchyard_testkit::{chat, client};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

const NEEDS_SECRETS: &str = r#"
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
providers:
  up: { kind: openai, base_url: "http://127.0.0.1:9/v1", api_key: env:CLI_HARDENING_UNSET_KEY }
  disk: { kind: anthropic, base_url: "http://127.0.0.1:9", api_key: file:/nonexistent/cli-hardening-key }
groups:
  g:
    members:
      - { name: a, role: champion, provider: up, weight: 1 }
      - { name: b, role: challenger, provider: disk, weight: 1 }
"#;

#[test]
fn check_config_warns_about_missing_secrets_and_strict_refuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, NEEDS_SECRETS).expect("write");
    let p = path.to_str().expect("utf-8");

    let out = run(BIN, &["check-config", p], None, Duration::from_secs(10));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "missing secrets are warnings by default:\n{err}");
    assert!(
        err.contains("warning: providers.up.api_key: environment variable CLI_HARDENING_UNSET_KEY is not set"),
        "{err}"
    );
    assert!(
        err.contains("warning: providers.disk.api_key: cannot read secret file /nonexistent/cli-hardening-key"),
        "{err}"
    );
    assert!(text(&out.stdout).starts_with("ok: 2 providers, 1 groups"), "{}", text(&out.stdout));

    let out = run(BIN, &["check-config", "--strict", p], None, Duration::from_secs(10));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "--strict makes them errors:\n{err}");
    assert!(err.contains("providers.up.api_key: environment variable CLI_HARDENING_UNSET_KEY is not set"), "{err}");
    assert!(!err.contains("warning:"), "{err}");

    // A real problem is still an error without --strict.
    std::fs::write(&path, NEEDS_SECRETS.replace("weight: 1 }\n      - {", "weight: -1 }\n      - {")).expect("write");
    let out = run(BIN, &["check-config", p], None, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("groups.g.members[0].weight: must be >= 0"), "{}", text(&out.stderr));

    // serve refuses to start without the secrets.
    std::fs::write(&path, NEEDS_SECRETS).expect("write");
    let out = run(BIN, &["serve", "--config", p], None, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(64), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("providers.up.api_key: environment variable"), "{}", text(&out.stderr));
}

const WATCHED: &str = r#"
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
providers:
  m: { kind: mock }
groups:
  g:
    members:
      - { name: a, role: champion, provider: m, weight: 1 }
"#;

fn lines(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log).unwrap_or_default().lines().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_file_beside_the_config_does_not_feed_the_watcher() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("switchyard.yaml");
    std::fs::write(&config, WATCHED).expect("write");
    let log = dir.path().join("switchyard.log");
    let mut child = Command::new(BIN)
        .args(["serve", "--config", config.to_str().expect("utf-8")])
        .current_dir(dir.path())
        .env("RUST_LOG", "trace")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn");
    let until = Instant::now() + Duration::from_secs(20);
    let data = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("switchyard serving")) {
            let at = line.find("data_addr=").expect("data_addr") + "data_addr=".len();
            break line[at..].split_whitespace().next().expect("addr").to_owned();
        }
        assert!(Instant::now() < until, "not serving in 20 s:\n{text}");
        assert!(child.try_wait().expect("try_wait").is_none(), "exited:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Idle: the log grows only by what the process does on its own (heartbeats, leases).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (start, t0) = (lines(&log), Instant::now());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = lines(&log) - start;
    // A saved change still applies (the watcher ignores other files, not the config).
    std::fs::write(
        &config,
        WATCHED.replace("weight: 1 }", "weight: 2 }\n      - { name: b, role: challenger, provider: m, weight: 0 }"),
    )
    .expect("write");
    let applied = async {
        for _ in 0..100 {
            let r = client().post(format!("http://{data}/v1/chat/completions")).body(chat("g")).send().await;
            if r.is_ok_and(|r| r.headers()["x-switchyard-config-version"] != "1") {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    };
    assert!(applied.await, "the config change was applied");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_edit = lines(&log) - start - idle;
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let watcher_lines = text.lines().filter(|l| l.contains("notify") || l.contains("inotify")).count();
    // Before the fix, every line written to the log was an inotify event that was logged,
    // which wrote a line: tens of thousands of lines a second.
    assert!(idle < 200, "{idle} log lines in {:?} of idling:\n{}", t0.elapsed(), tail(&text));
    assert!(after_edit < 400, "{after_edit} log lines around one edit:\n{}", tail(&text));
    assert!(watcher_lines < 10, "{watcher_lines} watcher lines:\n{}", tail(&text));
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
