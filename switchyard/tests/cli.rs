//! The real `switchyard` binary (SPEC §1): `version`, `hash-key`, `check-config`, and
//! `serve` with an invalid config (exit 64). Serving itself is in `cli_serve.rs`.

use std::time::Duration;

use sha2::{Digest, Sha256};
use switchyard_testkit::process::{run, text};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

#[test]
fn version_prints_the_crate_version() {
    let out = run(BIN, &["version"], None, Duration::from_secs(10));
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), format!("switchyard {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn hash_key_prints_the_sha256_of_stdin() {
    let expected = hex::encode(Sha256::digest(b"sk-my-client-key-42"));
    for input in ["sk-my-client-key-42\n", "sk-my-client-key-42", "sk-my-client-key-42\r\n"] {
        let out = run(BIN, &["hash-key"], Some(input), Duration::from_secs(10));
        assert!(out.status.success(), "{input:?}");
        assert_eq!(text(&out.stdout), format!("{expected}\n"), "{input:?}");
        assert!(
            !text(&out.stdout).contains("sk-my-client-key-42") && !text(&out.stderr).contains("sk-my-client-key-42")
        );
    }
    let out = run(BIN, &["hash-key"], Some(""), Duration::from_secs(10));
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
    let out = run(BIN, &["check-config", path.to_str().expect("utf-8")], None, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ok: 1 providers, 1 groups\n");
}

#[test]
fn check_config_lists_every_problem_with_its_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, INVALID).expect("write");
    let out = run(BIN, &["check-config", path.to_str().expect("utf-8")], None, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    assert_problem_lines(&text(&out.stderr));

    // A typo is an error at its path, not silently ignored.
    let typo = VALID.replace("weight: 1", "wieght: 1");
    std::fs::write(&path, typo).expect("write");
    let out = run(BIN, &["check-config", path.to_str().expect("utf-8")], None, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.lines().any(|l| l.starts_with("groups.g.members[0]") && l.contains("unknown field `wieght`")),
        "{stderr}"
    );

    // A file that does not exist.
    let out = run(BIN, &["check-config", "/nonexistent/switchyard.yaml"], None, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read /nonexistent/switchyard.yaml"), "{}", text(&out.stderr));
}

#[test]
fn serve_with_an_invalid_config_exits_64() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, INVALID).expect("write");
    let out = run(BIN, &["serve", "--config", path.to_str().expect("utf-8")], None, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(64), "{}", text(&out.stderr));
    assert_problem_lines(&text(&out.stderr));

    let out = run(BIN, &["serve", "--config", "/nonexistent/switchyard.yaml"], None, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("cannot read /nonexistent/switchyard.yaml"));
}
