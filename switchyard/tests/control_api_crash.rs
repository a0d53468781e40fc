//! kill -9 while the control API is writing the config: the file on disk is always a
//! complete, valid config (temp file + fsync + rename), and the gateway restarts on it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use sha2::{Digest, Sha256};

const TOKEN: &str = "crash-test-admin-token";

/// Starts the binary and returns it with its admin address.
fn spawn(config: &std::path::Path) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["serve", "--config"])
        .arg(config)
        .env("SWITCHYARD_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn switchyard");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let admin = loop {
        let line = lines.next().expect("gateway starts").expect("line");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if let Some(a) = v["fields"]["admin_addr"].as_str() {
            break a.to_owned();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_config_writes_never_leaves_a_broken_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("switchyard.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
providers:
  mock: {{ kind: mock }}
groups:
  g:
    members:
      - {{ name: champ, role: champion, provider: mock, weight: 90 }}
      - {{ name: chall, role: challenger, provider: mock, weight: 10 }}
records:
  spool: {{ dir: "{}" }}
admin:
  tokens: [ {{ name: ops, token_sha256: "{}", role: admin }} ]
"#,
            dir.path().join("spool").display(),
            hex::encode(Sha256::digest(TOKEN.as_bytes()))
        ),
    )
    .expect("write config");
    let http = reqwest::Client::new();
    let mut applied_total = 0;
    for round in 0..8u64 {
        let (mut child, admin) = spawn(&config);
        let url = format!("http://{admin}/api/v1/groups/g/weights");
        let writer = {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move {
                let mut applied = 0;
                for i in 0..10_000u64 {
                    let Ok(r) = http.get(url.replace("/weights", "")).bearer_auth(TOKEN).send().await else {
                        break;
                    };
                    let Some(v) = r.headers().get("etag").map(|v| v.to_str().unwrap_or("").to_owned()) else { break };
                    let put = http
                        .put(&url)
                        .bearer_auth(TOKEN)
                        .header("if-match", v)
                        .json(&serde_json::json!({"weights": {"chall": (i % 90) + 1}}))
                        .send()
                        .await;
                    match put {
                        Ok(r) if r.status() == 200 => applied += 1,
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
                applied
            })
        };
        tokio::time::sleep(Duration::from_millis(150 + round * 37)).await;
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        applied_total += writer.await.expect("writer");
        let text = std::fs::read_to_string(&config).expect("config readable");
        let no_adapters = |_: &switchyard_config::ProviderSpec| Ok(());
        switchyard_config::check::<()>(&text, &no_adapters)
            .unwrap_or_else(|e| panic!("round {round}: config left invalid after kill -9: {e}\n{text}"));
    }
    assert!(applied_total > 20, "the kills landed during writes ({applied_total} edits applied)");
    // An edit writes the file, then commits it to the store: a kill between the two leaves
    // the file one edit ahead, and the next start stores the file as the next version (as
    // every round's start did). Start once more so the last kill is recovered like that.
    let (mut child, _) = spawn(&config);
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    // The state store holds every applied version, each complete and gapless, and the
    // file on disk is one of them.
    let url = format!("sqlite://{}", dir.path().join("switchyard-data/state.db").display());
    let store = switchyard_state::StateStore::open(&switchyard_state::StoreOptions::new(url)).await.expect("store");
    // Newest first, 1,000 per page.
    let mut versions = Vec::new();
    loop {
        let before = versions.last().map(|v: &switchyard_state::VersionSummary| v.version);
        let page = store.config_versions().list(1000, before).await.expect("versions");
        let full = page.len() == 1000;
        versions.extend(page);
        if !full {
            break;
        }
    }
    assert!(versions.len() as u64 > applied_total, "{} versions for {applied_total} edits", versions.len());
    let mut texts = Vec::new();
    for (i, info) in versions.iter().rev().enumerate() {
        assert_eq!(info.version, i as u64 + 1, "versions are gapless");
        let text = store.config_versions().get(info.version).await.expect("get").expect("stored").yaml;
        switchyard_config::validate::parse(&text).unwrap_or_else(|e| panic!("version {}: {e}", info.version));
        texts.push(text);
    }
    let on_disk = std::fs::read_to_string(&config).expect("config readable");
    assert!(texts.contains(&on_disk), "the file on disk is a stored version");
}
