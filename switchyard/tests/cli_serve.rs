//! The real `switchyard` binary serving: secrets kept out of every output under
//! `RUST_LOG=debug`, SIGTERM exits 0, SIGHUP reloads (and refuses an invalid file), and
//! the embedded quick start.

use std::time::{Duration, Instant};

use switchyard_testkit::process::{closed_port, spool_bytes_contain, spool_records, Served, Started};
use switchyard_testkit::upstream::FakeUpstream;
use switchyard_testkit::{chat, chat_stream, client};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

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
        BIN,
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
    let mut served = Served::spawn(BIN, &["serve", "--config", link.to_str().expect("utf-8")], dir.path(), &[]);
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
    // Without ClickHouse, so the records stay in the spool to be read back below
    // (console_quickstart.rs runs the quick start with its private ClickHouse).
    let mut served = Served::spawn(BIN, &["serve"], dir.path(), &[("SWITCHYARD_QUICKSTART_CLICKHOUSE", "off")]);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_plane_runs_on_as_many_workers_as_asked_and_drains_them_all() {
    let fake = FakeUpstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = dir.path().join("spool");
    let yaml = format!(
        "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nproviders:\n  fake: {{ kind: openai, base_url: \"{}\" }}\ngroups:\n  g: {{ members: [ {{ name: m, role: champion, provider: fake, model: ok, weight: 1 }} ] }}\nrecords:\n  spool: {{ dir: \"{}\" }}\n",
        fake.base_url(),
        spool.display()
    );
    let path = dir.path().join("switchyard.yaml");
    std::fs::write(&path, yaml).expect("write");
    // One more worker than the default (one per core), so the count shows it was asked for.
    let asked = std::thread::available_parallelism().map_or(1, |n| n.get()) + 1;
    let mut served = Served::spawn(
        BIN,
        &["serve", "--config", path.to_str().expect("utf-8")],
        dir.path(),
        &[("SWITCHYARD_WORKER_THREADS", &asked.to_string())],
    );
    let (data, _) = served.serving().await;
    // Thread names are cut to 15 bytes in /proc: `switchyard-work`.
    let workers = std::fs::read_dir(format!("/proc/{}/task", served.pid))
        .expect("tasks")
        .filter_map(|t| std::fs::read_to_string(t.expect("task").path().join("comm")).ok())
        .filter(|name| name.starts_with("switchyard-work"))
        .count();
    assert_eq!(workers, asked, "SWITCHYARD_WORKER_THREADS={asked} runs {asked} data-plane workers");

    // Twelve connections (a client each) at once, five requests on each.
    let url = format!("http://{data}/v1/chat/completions");
    let sent = futures_util::future::join_all((0..12).map(|_| {
        let (c, url) = (client(), url.clone());
        async move {
            let mut ok = 0;
            for _ in 0..5 {
                let resp = c.post(&url).body(chat("g")).send().await.expect("send");
                ok += usize::from(resp.status() == 200 && !resp.bytes().await.expect("body").is_empty());
            }
            ok
        }
    }))
    .await;
    assert_eq!(sent.iter().sum::<usize>(), 60, "every request answered: {sent:?}");
    let (status, _, stderr) = served.terminate().await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(spool_records(&spool).len(), 60, "every worker's requests recorded before exit");
}
