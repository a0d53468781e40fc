//! Shared helpers for the rate limiter's tests: configs from YAML, limiters, and the
//! private Redis server started by `scripts/redis.sh start` (URL in
//! `SWITCHYARD_TEST_REDIS_URL`; the Redis tests fail, never skip, without it).
#![allow(dead_code, clippy::unwrap_used)]

pub mod streaming;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use switchyard_ratelimit::{Charge, Grant, Limited, Limiter, RateLimitsConfig, Subject};

/// A section parsed from YAML (panics with the path on a bad document).
pub fn section(yaml: &str) -> RateLimitsConfig {
    let de = serde_yaml_ng::Deserializer::from_str(yaml);
    serde_path_to_error::deserialize(de).unwrap_or_else(|err| panic!("{}: {}", err.path(), err.inner()))
}

/// A limiter for `yaml` on a fresh registry.
pub fn limiter(yaml: &str) -> (Limiter, prometheus::Registry) {
    let registry = prometheus::Registry::new();
    let limiter = Limiter::new(&section(yaml), None, &registry).unwrap();
    (limiter, registry)
}

/// The Redis test server's URL. Fails (never skips) when unset.
pub fn redis_url() -> String {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    match std::env::var("SWITCHYARD_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "SWITCHYARD_TEST_REDIS_URL is not set{}: run `scripts/redis.sh start` and \
             `eval \"$(scripts/redis.sh env)\"` first",
            if std::env::var_os("CI").is_some() { " (CI)" } else { "" }
        ),
    }
}

/// A key prefix unique to this test process and call, so tests sharing one server never
/// see each other's buckets.
pub fn unique_prefix(test: &str) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("sy-test:{test}:{}:{}:{nanos}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed))
}

/// A `backend: redis` section header for `url` with a unique prefix and `extra` fields.
pub fn redis_header(url: &str, test: &str, extra: &str) -> String {
    format!("backend: redis\nredis: {{ url: \"{url}\", key_prefix: \"{}\"{extra} }}\n", unique_prefix(test))
}

/// A subject with every scope named.
pub fn everyone<'a>(client: &'a str) -> Subject<'a> {
    Subject {
        client: Some(client),
        tenant: Some("acme"),
        group: Some("support-bot"),
        provider: Some("openai"),
        member: Some("gpt4o"),
    }
}

/// Admitted requests out of `n` calls.
pub async fn admitted(limiter: &Limiter, subject: &Subject<'_>, charge: Charge, n: usize) -> usize {
    let mut ok = 0;
    for _ in 0..n {
        if limiter.acquire(subject, charge, 0).await.is_ok() {
            ok += 1;
        }
    }
    ok
}

/// Unwraps a grant.
pub fn granted(result: Result<Grant, Box<Limited>>) -> Grant {
    result.unwrap_or_else(|limited| panic!("refused: {limited:?}"))
}

/// Unwraps a refusal.
pub fn refused(result: Result<Grant, Box<Limited>>) -> Box<Limited> {
    match result {
        Ok(grant) => panic!("admitted: {grant:?}"),
        Err(limited) => limited,
    }
}

/// The remaining tokens of the tightest tokens rule, read with a zero-token check.
pub async fn tokens_remaining(limiter: &Limiter, subject: &Subject<'_>) -> u64 {
    let grant = granted(limiter.acquire(subject, Charge::Request, 0).await);
    grant.quotas.tokens.expect("a tokens rule applies").remaining
}

/// The value of `series` (name plus labels as Prometheus prints them) in `registry`.
pub fn metric(registry: &prometheus::Registry, series: &str) -> Option<f64> {
    let mut text = Vec::new();
    prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &registry.gather(), &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

/// Milliseconds, for messages.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A private Redis server of one test (so stopping it disturbs no other test), run through
/// `scripts/redis.sh` on its own port and directory.
pub struct PrivateRedis {
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl PrivateRedis {
    /// Starts a server on `port` (pick one no other test uses).
    pub fn start(port: u16) -> Self {
        let server = Self { dir: tempfile::tempdir().unwrap(), port };
        server.script("start");
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs `scripts/redis.sh action` for this instance.
    pub fn script(&self, action: &str) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/redis.sh");
        let out = std::process::Command::new("bash")
            .arg(script)
            .arg(action)
            .env("SWITCHYARD_REDIS_DIR", self.dir.path())
            .env("SWITCHYARD_REDIS_PORT", self.port.to_string())
            .output()
            .unwrap();
        assert!(out.status.success(), "redis.sh {action}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.script("stop");
    }
}
