//! The official OpenAI Python SDK (PyPI `openai`, pinned by `scripts/python-test-deps.sh`)
//! against a gateway with a client rate limit (issue 16): unchanged client code sees a 429
//! as `openai.RateLimitError` with `retry-after` and the `x-ratelimit-*` headers, and the
//! SDK's automatic retry waits what the gateway said — measured at the gateway, between
//! the refused attempt and the retry. Fails — never skips — without python3 and the SDK.

use std::io::Write;
use std::process::{Command, Stdio};

use switchyard_records::ErrorClass;
use switchyard_testkit::control::hash;
use switchyard_testkit::{openai_fake, TestGateway};

const KEY: &str = "sk-python-sdk";

const SCRIPT: &str = r#"
import json, os, time
import openai

base, key = os.environ["SWITCHYARD_URL"], os.environ["SWITCHYARD_KEY"]
hi = [{"role": "user", "content": "hi"}]
names = ["retry-after", "retry-after-ms", "x-ratelimit-limit-requests",
         "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"]
out = {"version": openai.__version__}

once = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0, timeout=30)
raw = once.chat.completions.with_raw_response.create(model="chat", messages=hi)
out["first"] = {n: raw.headers.get(n) for n in names}
try:
    once.chat.completions.create(model="chat", messages=hi)
    out["limited"] = "no error"
except openai.RateLimitError as e:
    out["limited"] = {"status": e.status_code, "type": e.type, "code": e.code,
                      "headers": {n: e.response.headers.get(n) for n in names}}

retrying = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=2, timeout=30)
started = time.monotonic()
raw = retrying.chat.completions.with_raw_response.create(model="chat", messages=hi)
out["retried"] = {"seconds": time.monotonic() - started, "retries": getattr(raw, "retries_taken", None),
                  "content": raw.parse().choices[0].message.content}
print(json.dumps(out))
"#;

fn run_python(base: String) -> serde_json::Value {
    let python = std::env::var("SWITCHYARD_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut child = Command::new(&python)
        .arg("-")
        .env("SWITCHYARD_URL", base)
        .env("SWITCHYARD_KEY", KEY)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{python} is required (scripts/python-test-deps.sh installs it): {e}"));
    child.stdin.take().expect("stdin").write_all(SCRIPT.as_bytes()).expect("write the script");
    let out = child.wait_with_output().expect("python ran");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the SDK script failed (openai comes from scripts/python-test-deps.sh):\n{stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("script output is not JSON ({e}): {stderr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_python_sdk_sees_the_429_and_its_retry_honours_retry_after() {
    let fake = openai_fake::start().await;
    // One request at once, then one every 3 s.
    let yaml = format!(
        r#"
providers:
  fake: {{ kind: openai, base_url: "{}" }}
groups:
  chat:
    members: [ {{ name: champ, role: champion, provider: fake, model: m, weight: 1 }} ]
clients:
  - {{ name: sdk, key_sha256: "{}", groups: ["*"] }}
rate_limits:
  rules:
    - {{ name: sdk-rpm, scope: client, each: true, requests: 20, per: minute, burst: 1 }}
"#,
        openai_fake::base_url(&fake),
        hash(KEY)
    );
    let gw = TestGateway::start(&yaml).await;
    let base = gw.base.clone();
    let out = tokio::task::spawn_blocking(move || run_python(base)).await.expect("python");
    eprintln!("{out}");
    assert_eq!(out["first"]["x-ratelimit-limit-requests"], "1", "{out}");
    assert_eq!(out["first"]["x-ratelimit-remaining-requests"], "0", "{out}");
    let limited = &out["limited"];
    assert_eq!((limited["status"].as_u64(), limited["type"].as_str()), (Some(429), Some("rate_limit_error")), "{out}");
    assert_eq!(limited["code"], "rate_limited");
    let headers = &limited["headers"];
    let retry_after_ms: u64 = headers["retry-after-ms"].as_str().expect("retry-after-ms").parse().expect("ms");
    assert!((2_500..=3_000).contains(&retry_after_ms), "{out}");
    assert_eq!(headers["retry-after"], "3");
    assert_eq!(
        (headers["x-ratelimit-limit-requests"].as_str(), headers["x-ratelimit-remaining-requests"].as_str()),
        (Some("1"), Some("0"))
    );
    assert!(headers["x-ratelimit-reset-requests"].as_str().is_some_and(|r| r.ends_with('s')), "{out}");
    assert_eq!(out["retried"]["content"], "Hello world");
    assert_eq!(out["retried"]["retries"], 1, "one 429, then admitted: {out}");

    // At the gateway: the retrying client's refused attempt, then its retry once the next
    // request was due (3 s after the first admitted one) — not earlier, and not much later.
    let dir = gw.stop().await;
    let mut records = TestGateway::records(&dir);
    records.sort_by_key(|r| r.timestamp_ms);
    let shape: Vec<(u16, bool)> =
        records.iter().map(|r| (r.status, r.error_class == ErrorClass::RateLimited)).collect();
    assert_eq!(shape, [(200, false), (429, true), (429, true), (200, false)], "{records:?}");
    let (first, refused, retried) = (records[0].timestamp_ms, records[2].timestamp_ms, records[3].timestamp_ms);
    let waited = retried - refused;
    let due = first + 3_000;
    eprintln!(
        "the SDK retried {waited} ms after its refused attempt; the retry arrived {} ms after the next request was due",
        retried - due
    );
    assert!(retried + 2 >= due, "retried {} ms early", due - retried);
    assert!(retried <= due + 500, "retried {} ms late", retried - due);
}
