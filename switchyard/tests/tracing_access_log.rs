//! The access log and request correlation in the real binary's logs (SPEC §13), with
//! `SWITCHYARD_LOG_FORMAT=json`: one `switchyard::access` line per request — served,
//! retried, refused early — with request id, trace id, group, member, status, error class
//! and durations; and the request id and trace id as span fields on the log lines written
//! while a request is handled.

use std::collections::HashMap;

use serde_json::Value;
use switchyard_testkit::fake_server::Mode;
use switchyard_testkit::process::Served;
use switchyard_testkit::{chat, client, openai_fake};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_lines_carry_ids_status_and_durations_and_request_logs_carry_the_request_id() {
    let fake = openai_fake::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = format!(
        r#"
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
providers:
  a: {{ kind: openai, base_url: "{}" }}
groups:
  chat:
    retries: {{ max_retries: 1, backoff_ms: 1, max_backoff_ms: 2, budget_percent: 100 }}
    breaker: {{ enabled: false }}
    members:
      - {{ name: champ, role: champion, provider: a, model: gpt-4o, weight: 1 }}
records:
  spool: {{ dir: "{}" }}
tracing:
  access_log: {{ enabled: true }}
"#,
        openai_fake::base_url(&fake),
        dir.path().join("spool").display()
    );
    let path = dir.path().join("switchyard.yaml");
    std::fs::write(&path, yaml).expect("write");
    let mut served = Served::spawn(
        BIN,
        &["serve", "--config", path.to_str().expect("utf-8")],
        dir.path(),
        &[("SWITCHYARD_LOG_FORMAT", "json"), ("RUST_LOG", "info,switchyard_gateway=debug")],
    );
    let (data, _) = served.serving().await;
    let url = format!("http://{data}/v1/chat/completions");
    let id = |r: &reqwest::Response| r.headers()["x-switchyard-request-id"].to_str().expect("ascii").to_owned();

    let plain = client().post(&url).body(chat("chat")).send().await.expect("send");
    assert_eq!(plain.status(), 200);
    let traced = client()
        .post(&url)
        .header("traceparent", format!("00-{TRACE}-00f067aa0ba902b7-01"))
        .body(chat("chat"))
        .send()
        .await
        .expect("send");
    assert_eq!(traced.status(), 200);
    let unknown = client().post(&url).body(chat("no-such-group")).send().await.expect("send");
    assert_eq!(unknown.status(), 404);
    fake.set_mode(Mode::FailNext { times: 1, status: 503, retry_after: None });
    let retried = client().post(&url).body(chat("chat")).send().await.expect("send");
    assert_eq!(retried.status(), 200);
    let ids = [id(&plain), id(&traced), id(&unknown), id(&retried)];
    for r in [plain, traced, unknown, retried] {
        r.bytes().await.expect("body");
    }

    let (status, _, stderr) = served.terminate().await;
    assert!(status.success(), "{stderr}");
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l:?}")))
        .collect();
    let access: HashMap<String, &Value> = lines
        .iter()
        .filter(|l| l["target"] == "switchyard::access")
        .map(|l| (l["fields"]["request_id"].as_str().expect("request_id").to_owned(), &l["fields"]))
        .collect();
    assert_eq!(access.len(), 4, "one access line per request:\n{stderr}");

    let line = |i: usize| access.get(&ids[i]).unwrap_or_else(|| panic!("no access line for {}:\n{stderr}", ids[i]));
    for (i, (trace, group, member, status, class)) in [
        ("", "chat", "champ", 200, ""),
        (TRACE, "chat", "champ", 200, ""),
        ("", "", "", 404, "unknown_group"),
        ("", "chat", "champ", 200, ""),
    ]
    .into_iter()
    .enumerate()
    {
        let f = line(i);
        assert_eq!(f["message"], "request");
        assert_eq!(
            (f["trace_id"].as_str(), f["group"].as_str(), f["member"].as_str()),
            (Some(trace), Some(group), Some(member)),
            "{f}"
        );
        assert_eq!((f["status"].as_u64(), f["error_class"].as_str()), (Some(status), Some(class)), "{f}");
        let ms = |k: &str| f[k].as_f64().unwrap_or_else(|| panic!("{k} in {f}"));
        let (total, upstream, overhead) = (ms("total_ms"), ms("upstream_ms"), ms("overhead_ms"));
        assert!(total > 0.0 && upstream >= 0.0 && overhead >= 0.0, "{f}");
        assert!((total - upstream - overhead).abs() < 0.01, "total = upstream + overhead: {f}");
        if status == 200 {
            assert!(upstream > 0.0, "{f}");
        }
    }

    // A line written while the retried request was handled carries its ids.
    let retry = lines
        .iter()
        .find(|l| l["fields"]["message"] == "retrying upstream")
        .unwrap_or_else(|| panic!("no retry line:\n{stderr}"));
    assert_eq!(retry["span"]["name"], "request", "{retry}");
    assert_eq!(retry["span"]["request_id"], ids[3].as_str(), "{retry}");
    assert_eq!(retry["span"]["trace_id"], "", "{retry}");
}
