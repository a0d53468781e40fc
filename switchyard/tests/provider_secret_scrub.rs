//! An upstream that quotes the request's `authorization` back (issue 11): the provider's own
//! key is scrubbed from every upstream body the gateway passes to a client on an error, and
//! from every body it stores (`log_bodies`), in every client format — and never logged
//! (the real binary under `RUST_LOG=trace`).

use switchyard_testkit::process::{spool_bytes_contain, spool_records, Served};
use switchyard_testkit::upstream::FakeUpstream;
use switchyard_testkit::{chat, chat_stream, client};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
const SECRET: &str = "sk-scrub-SECRET-5d0e2c9b7a31f864";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_key_never_reaches_clients_records_or_logs() {
    let fake = FakeUpstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let member = |name: &str, model: &str| {
        format!("{{ members: [ {{ name: {name}, role: champion, provider: up, model: {model}, weight: 1 }} ], records: {{ log_bodies: true }} }}")
    };
    let yaml = format!(
        "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nproviders:\n  up: {{ kind: openai, base_url: \"{}\", api_key: \"env:SCRUB_TEST_KEY\" }}\ngroups:\n  e400: {}\n  ok: {}\n  stream: {}\nrecords:\n  spool: {{ dir: \"{}\" }}\n",
        fake.base_url(),
        member("e400", "echo-400"),
        member("ok", "echo-ok"),
        member("stream", "echo-stream"),
        dir.path().join("spool").display()
    );
    let path = dir.path().join("switchyard.yaml");
    std::fs::write(&path, yaml).expect("write");
    let mut served = Served::spawn(
        BIN,
        &["serve", "--config", path.to_str().expect("utf-8")],
        dir.path(),
        &[("RUST_LOG", "trace"), ("SCRUB_TEST_KEY", SECRET)],
    );
    let (data, _) = served.serving().await;
    let c = client();
    let post = |path: &str, body: String| c.post(format!("http://{data}{path}")).body(body).send();

    // An upstream 400 that quotes the key: the client's error says what was wrong, not the key.
    let r = post("/v1/chat/completions", chat("e400")).await.expect("send");
    assert_eq!(r.status(), 400);
    let body = r.text().await.expect("body");
    assert!(!body.contains(SECRET), "{body}");
    assert!(body.contains("you sent Authorization: Bearer [redacted]"), "{body}");
    // The same through the Anthropic ingress (the error is translated).
    let messages = r#"{"model":"e400","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;
    let r = post("/v1/messages", messages.to_owned()).await.expect("send");
    assert_eq!(r.status(), 400);
    let body = r.text().await.expect("body");
    assert!(!body.contains(SECRET) && body.contains("[redacted]"), "{body}");
    // Successful answers that quote it: stored scrubbed.
    let r = post("/v1/chat/completions", chat("ok")).await.expect("send");
    assert_eq!(r.status(), 200);
    let r = post("/v1/chat/completions", chat_stream("stream")).await.expect("send");
    assert_eq!(r.status(), 200);
    r.text().await.expect("stream body");
    assert!(fake.seen().iter().all(|s| s.headers["authorization"] == format!("Bearer {SECRET}").as_str()));

    let (status, stdout, stderr) = served.terminate().await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.lines().count() > 20, "trace logging was on:\n{stderr}");
    assert!(!stderr.contains(SECRET) && !stdout.contains(SECRET), "the key reached the log");
    let spool = dir.path().join("spool");
    assert!(!spool_bytes_contain(&spool, SECRET.as_bytes()), "the key reached the spool");
    let records = spool_records(&spool);
    assert_eq!(records.len(), 4, "{records:?}");
    for r in &records {
        let stored = r.response_body.as_deref().unwrap_or_default();
        assert!(stored.contains("[redacted]"), "{}: {stored:?}", r.group);
        assert!(!stored.contains(SECRET), "{}", r.group);
    }
}
