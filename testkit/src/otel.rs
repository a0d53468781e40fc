//! OpenTelemetry on loopback: a collector that decodes the gateway's OTLP/HTTP export
//! (`python/otlp_collector.py`, PyPI `opentelemetry-proto`) and a client traced by the
//! OpenTelemetry Python SDK (`python/traced_client.py`). Both need python3 with the
//! packages of `scripts/python-test-deps.sh`; without them the tests fail, never skip.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// One span as the collector received it.
#[derive(Debug, Clone, Deserialize)]
pub struct ExportedSpan {
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    /// `SPAN_KIND_SERVER`, `SPAN_KIND_CLIENT`, …
    pub kind: String,
    /// The resource's `service.name`.
    pub service: Option<String>,
    pub scope: String,
    pub attributes: BTreeMap<String, Value>,
    pub events: Vec<String>,
    /// `STATUS_CODE_UNSET`, `STATUS_CODE_ERROR`, …
    pub status: String,
    pub start_ns: u64,
    pub end_ns: u64,
}

/// A running collector.
pub struct Collector {
    child: Child,
    pub port: u16,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

/// One call of the traced client.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TracedCall {
    pub url: String,
    pub body: String,
    /// Whether the client's SDK samples its span (the `traceparent` flag).
    pub sampled: bool,
    /// A `tracestate` sent along, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
}

/// What the traced client saw of one call.
#[derive(Debug, Clone, Deserialize)]
pub struct ClientCall {
    /// The client span's trace id and span id (32 / 16 hex).
    pub trace_id: String,
    pub span_id: String,
    /// Spans the client's SDK finished and exported in memory (1 when sampled).
    pub exported_by_client: usize,
    /// Request headers the client sent (its `traceparent` among them).
    pub sent: BTreeMap<String, String>,
    pub status: u16,
    /// Response headers, lower-case names.
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

fn python() -> String {
    std::env::var("SWITCHYARD_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn script(name: &str) -> String {
    format!("{}/python/{name}", env!("CARGO_MANIFEST_DIR"))
}

// === impl ExportedSpan ===

impl ExportedSpan {
    /// A string attribute.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).and_then(Value::as_str)
    }

    /// An integer attribute.
    pub fn int(&self, key: &str) -> Option<i64> {
        self.attributes.get(key).and_then(Value::as_i64)
    }

    /// Whether this is the gateway's server span.
    pub fn is_server(&self) -> bool {
        self.kind == "SPAN_KIND_SERVER"
    }

    /// Whether this is an upstream attempt's span.
    pub fn is_client(&self) -> bool {
        self.kind == "SPAN_KIND_CLIENT"
    }
}

// === impl Collector ===

impl Collector {
    /// Starts a collector that answers at once.
    pub async fn start() -> Self {
        Self::spawn(None).await
    }

    /// Starts a collector that answers each export only after `sleep`.
    pub async fn start_slow(sleep: Duration) -> Self {
        Self::spawn(Some(sleep)).await
    }

    async fn spawn(sleep: Option<Duration>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("spans.jsonl");
        let mut cmd = Command::new(python());
        cmd.arg(script("otlp_collector.py")).arg(&file);
        if let Some(s) = sleep {
            cmd.arg("--sleep").arg(s.as_secs_f64().to_string());
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}; run `bash scripts/python-test-deps.sh`", python()));
        let stdout = child.stdout.take().expect("stdout");
        let mut first = String::new();
        let mut lines = BufReader::new(stdout);
        let read = lines.read_line(&mut first);
        tokio::time::timeout(Duration::from_secs(20), read).await.expect("collector starts in 20 s").expect("read");
        let port = first.trim().parse().unwrap_or_else(|_| {
            panic!("collector did not start (opentelemetry-proto missing? run `bash scripts/python-test-deps.sh`)")
        });
        Self { child, port, file, _dir: dir }
    }

    /// `tracing.otlp_endpoint` for this collector.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ExportedSpan> {
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).expect("span line")).collect()
    }

    /// The spans once `done` holds for them (panics after `within`).
    pub async fn wait_for(&self, within: Duration, done: impl Fn(&[ExportedSpan]) -> bool) -> Vec<ExportedSpan> {
        let until = tokio::time::Instant::now() + within;
        loop {
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            assert!(tokio::time::Instant::now() < until, "collector did not get the spans in {within:?}: {spans:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The spans of `trace_id`.
    pub fn trace(&self, trace_id: &str) -> Vec<ExportedSpan> {
        self.spans().into_iter().filter(|s| s.trace_id == trace_id).collect()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Makes `calls` with the traced Python client (asynchronously: an in-process gateway
/// keeps serving meanwhile).
pub async fn traced_calls(calls: &[TracedCall]) -> Vec<ClientCall> {
    let mut child = Command::new(python())
        .arg(script("traced_client.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; run `bash scripts/python-test-deps.sh`", python()));
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(&serde_json::to_vec(calls).expect("calls")).await.expect("write calls");
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("traced client finishes in 120 s")
        .expect("traced client output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "traced client failed (opentelemetry-sdk missing? run `bash scripts/python-test-deps.sh`):\n{stderr}"
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("traced client output: {e}\n{stderr}"))
}

/// One sampled traced call of `body` to `url`.
pub async fn traced_call(url: &str, body: &str) -> ClientCall {
    let call = TracedCall { url: url.into(), body: body.into(), sampled: true, tracestate: None };
    traced_calls(&[call]).await.pop().expect("one call")
}
