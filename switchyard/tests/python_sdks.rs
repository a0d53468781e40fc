//! The real Python SDKs — PyPI's `openai` and `anthropic`, pinned and installed by
//! `scripts/python-test-deps.sh` — against the gateway, which forwards to in-process fakes
//! of each provider on loopback. What a user's unchanged client code does: chat, streams,
//! usage, the attribution headers, an unknown group, a stream that breaks mid-way (the
//! OpenAI SDK must raise, not end quietly), and an Anthropic client served by an OpenAI
//! member. Fails — never skips — without python3 and the two packages.

use std::io::Write;
use std::process::{Command, Stdio};

use switchyard_testkit::upstream::FakeUpstream;
use switchyard_testkit::{anthropic_fake, TestGateway};

/// Runs every call and prints one JSON object of what the SDKs returned or raised.
const SCRIPT: &str = r#"
import json, os
import anthropic, openai

base = os.environ["SWITCHYARD_URL"]
hi = [{"role": "user", "content": "hi"}]
out = {"versions": [openai.__version__, anthropic.__version__]}

oa = openai.OpenAI(base_url=base + "/v1", api_key="client-key-unused", max_retries=0, timeout=10)
raw = oa.chat.completions.with_raw_response.create(model="chat", messages=hi)
r = raw.parse()
out["chat"] = {
    "content": r.choices[0].message.content,
    "usage": [r.usage.prompt_tokens, r.usage.completion_tokens],
    "member": raw.headers.get("x-switchyard-member"),
    "role": raw.headers.get("x-switchyard-role"),
}

chunks = []
for chunk in oa.chat.completions.create(model="stream", messages=hi, stream=True):
    chunks += [c.delta.content for c in chunk.choices if c.delta.content]
out["stream"] = chunks

try:
    oa.chat.completions.create(model="no-such-group", messages=hi)
    out["unknown"] = "no error"
except openai.NotFoundError as e:
    out["unknown"] = {"status": e.status_code, "type": e.type, "message": e.message}

try:
    got = []
    for chunk in oa.chat.completions.create(model="broken", messages=hi, stream=True):
        got += [c.delta.content for c in chunk.choices if c.delta.content]
    out["broken"] = {"raised": None, "got": got}
except openai.APIError as e:
    out["broken"] = {"raised": type(e).__name__, "got": got, "message": e.message}

an = anthropic.Anthropic(base_url=base, api_key="client-key-unused", max_retries=0, timeout=10)
m = an.messages.create(model="claude", max_tokens=64, messages=hi)
out["anthropic"] = {
    "text": m.content[0].text,
    "usage": [m.usage.input_tokens, m.usage.output_tokens],
    "stop": m.stop_reason,
}
with an.messages.stream(model="claude", max_tokens=64, messages=hi) as s:
    text = "".join(s.text_stream)
    final = s.get_final_message()
out["anthropic_stream"] = {"text": text, "usage": [final.usage.input_tokens, final.usage.output_tokens]}

m = an.messages.create(model="chat", max_tokens=64, messages=hi)
out["anthropic_to_openai"] = {"text": m.content[0].text, "usage": [m.usage.input_tokens, m.usage.output_tokens]}

try:
    an.messages.create(model="no-such-group", max_tokens=64, messages=hi)
    out["anthropic_unknown"] = "no error"
except anthropic.NotFoundError as e:
    out["anthropic_unknown"] = e.status_code

print(json.dumps(out))
"#;

fn config(openai: &FakeUpstream, claude: &switchyard_testkit::fake_server::Fake) -> String {
    std::env::set_var("SWITCHYARD_TEST_SDK_ANTHROPIC_KEY", "sk-ant-sdk-test");
    format!(
        r#"
providers:
  fake: {{ kind: openai, base_url: "{}" }}
  claude: {{ kind: anthropic, base_url: "{}", api_key: "env:SWITCHYARD_TEST_SDK_ANTHROPIC_KEY" }}
groups:
  chat:
    members: [ {{ name: champ, role: champion, provider: fake, model: ok, weight: 1 }} ]
  stream:
    members: [ {{ name: streamer, role: champion, provider: fake, model: stream, weight: 1 }} ]
  broken:
    retries: {{ max_retries: 0 }}
    members: [ {{ name: breaker, role: champion, provider: fake, model: reset-stream, weight: 1 }} ]
  claude:
    members: [ {{ name: sonnet, role: champion, provider: claude, model: claude-sonnet-4, weight: 1 }} ]
"#,
        openai.base_url(),
        claude.url()
    )
}

fn run_python(base: String) -> serde_json::Value {
    let python = std::env::var("SWITCHYARD_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut child = Command::new(&python)
        .arg("-")
        .env("SWITCHYARD_URL", base)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{python} is required (scripts/python-test-deps.sh installs it): {e}"));
    child.stdin.take().expect("stdin").write_all(SCRIPT.as_bytes()).expect("write the script");
    let out = child.wait_with_output().expect("python ran");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the SDK script failed (openai and anthropic come from scripts/python-test-deps.sh):\n{stderr}"
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("script output is not JSON ({e}): {stderr}"))
}

#[tokio::test]
async fn openai_and_anthropic_python_sdks_work_unchanged_against_the_gateway() {
    let openai = FakeUpstream::start().await;
    let claude = anthropic_fake::start().await;
    let gw = TestGateway::start(&config(&openai, &claude)).await;
    let base = gw.url("");
    let out = tokio::task::spawn_blocking(move || run_python(base)).await.expect("python thread");
    eprintln!("SDK versions: {}", out["versions"]);

    // OpenAI SDK: plain chat, with the gateway's headers readable through the raw response.
    assert_eq!(out["chat"]["content"], "hello");
    assert_eq!(out["chat"]["usage"], serde_json::json!([3, 5]));
    assert_eq!((out["chat"]["member"].as_str(), out["chat"]["role"].as_str()), (Some("champ"), Some("champion")));
    // Streaming: every content chunk, in order.
    assert_eq!(out["stream"], serde_json::json!(["t0", "t1"]));
    // Unknown group: the SDK's NotFoundError, with our error type.
    assert_eq!(out["unknown"]["status"], 404, "{}", out["unknown"]);
    assert!(out["unknown"]["message"].as_str().is_some_and(|m| m.contains("no-such-group")), "{}", out["unknown"]);
    // A stream cut by the upstream after its first chunk: the SDK raises an APIError
    // after handing over what arrived, instead of ending as if the answer were complete.
    assert_eq!(out["broken"]["raised"], "APIError", "{}", out["broken"]);
    assert_eq!(out["broken"]["got"], serde_json::json!(["t0"]));

    // Anthropic SDK against an Anthropic member, plain and streamed (usage from the fake's
    // recorded stream: 12 in, 15 out).
    assert_eq!(out["anthropic"]["text"], "Hello! How can I help you today?");
    assert_eq!(out["anthropic"]["usage"], serde_json::json!([12, 15]));
    assert_eq!(out["anthropic"]["stop"], "end_turn");
    assert_eq!(out["anthropic_stream"]["text"], "Hello! How can I help you today?");
    assert_eq!(out["anthropic_stream"]["usage"], serde_json::json!([12, 15]));
    // Anthropic SDK served by an OpenAI member (cross-format).
    assert_eq!(out["anthropic_to_openai"]["text"], "hello");
    assert_eq!(out["anthropic_to_openai"]["usage"], serde_json::json!([3, 5]));
    assert_eq!(out["anthropic_unknown"], 404);

    // One record per request that reached a member; the broken stream is recorded as such.
    let dir = gw.stop().await;
    let records = TestGateway::records(&dir);
    let mut members: Vec<&str> = records.iter().map(|r| r.member.as_str()).collect();
    members.sort_unstable();
    assert_eq!(members, ["breaker", "champ", "champ", "sonnet", "sonnet", "streamer"]);
    let broken = records.iter().find(|r| r.member == "breaker").expect("broken record");
    assert_eq!(broken.error_class.as_str(), "upstream_reset");
}
