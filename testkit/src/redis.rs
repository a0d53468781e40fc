//! The Redis test servers for `backend: redis`: the shared one the test command starts
//! (`scripts/redis.sh start`, URL in `SWITCHYARD_TEST_REDIS_URL`; tests fail, never skip,
//! without it), a key prefix unique per test so tests sharing it never see each other's
//! buckets, and a private server per test for outages (`scripts/redis.sh` on its own port
//! and directory, stopped when dropped).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The shared Redis test server's URL. Fails (never skips) when unset.
pub fn redis_url() -> String {
    match std::env::var("SWITCHYARD_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "SWITCHYARD_TEST_REDIS_URL is not set: run `scripts/redis.sh start` and \
             `eval \"$(scripts/redis.sh env)\"` first"
        ),
    }
}

/// A key prefix unique to this process and call.
pub fn unique_prefix(test: &str) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    format!("sy-test:{test}:{}:{}:{nanos}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed))
}

/// A private Redis server of one test, through `scripts/redis.sh` on `port`.
pub struct PrivateRedis {
    /// Its data, log and pidfile.
    pub dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl PrivateRedis {
    /// Starts a server on `port` (pick one no other test uses).
    pub fn start(port: u16) -> Self {
        let server = Self { dir: tempfile::tempdir().expect("tempdir"), port };
        server.script("start");
        server
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs `scripts/redis.sh action` (`start`, `stop`) for this instance.
    pub fn script(&self, action: &str) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/redis.sh");
        let out = std::process::Command::new("bash")
            .arg(script)
            .arg(action)
            .env("SWITCHYARD_REDIS_DIR", self.dir.path())
            .env("SWITCHYARD_REDIS_PORT", self.port.to_string())
            .output()
            .expect("run scripts/redis.sh");
        assert!(out.status.success(), "redis.sh {action}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.script("stop");
    }
}
