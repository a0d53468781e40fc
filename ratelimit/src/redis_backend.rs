//! The `redis` backend: usage shared by every replica that names the same Redis server.
//!
//! - **One round trip per call**: every bucket of a request goes into one `EVALSHA` of
//!   `redis_backend/limit.lua` (the script is loaded on first use and again after a
//!   server restart, which costs that one call a second round trip).
//! - **Server time**: the script reads `TIME`; replica clocks never enter the arithmetic.
//! - **Bounded waits**: every call is cut at `timeout_ms`. A connection-level failure or a
//!   timeout marks the backend *down*: later calls fail at once (no request waits on a dead
//!   server) while one probe task `PING`s with backoff (50 ms doubling to 1 s), and the first
//!   answer within `timeout_ms` marks it up again. The connection manager reconnects underneath.
//! - **A connection per data-plane worker**: a call is written and answered on the
//!   worker thread that makes it (multiplexed, opened there on its first call); other
//!   threads share one connection.
//! - **Settlements coalesced** ([`settle`]): adjustments that requests hand off without
//!   waiting are gathered for 2 ms, merged per bucket and written in one call.
//! - **Cheap arguments**: whole numbers go as integers (no float formatting), the reply is
//!   one string (`"1 level level …"`) rather than an array of them.
//! - **Mirror**: each call's levels are copied into this process's slots so
//!   `busiest_keys` can answer without a scan of Redis (as last seen by this replica).
//!
//! Keys are `{key_prefix}:{rule}:{r|t}:{key}`, so usage survives an edit of a rule's limit
//! and a requests rule never shares a bucket with a tokens rule of the same name. A key
//! expires one second after its bucket has drained.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use prometheus::IntGauge;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::io::tcp::TcpSettings;
use redis::IntoConnectionInfo;
use tokio::time::Instant;

use crate::backend::{Backend, BackendError, BoxFuture, Op, OwnedOp, Taken};
use crate::config::{RedisConfig, Unit};

mod settle;

/// The script every call runs.
const SCRIPT: &str = include_str!("redis_backend/limit.lua");
/// Longest a fresh connection attempt may take (calls are still cut at `timeout_ms`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// First and longest pause between health probes while down.
const PROBE_MIN: Duration = Duration::from_millis(50);
const PROBE_MAX: Duration = Duration::from_secs(1);

/// The shared backend.
pub(crate) struct RedisBackend {
    /// The connection of the control plane's runtime: the warm-up, probes, settlements and
    /// calls from threads that are not data-plane workers.
    manager: ConnectionManager,
    /// One connection per data-plane worker ([`switchyard_core::worker`]), opened on that
    /// worker's runtime at its first call: a call then never wakes another thread (the
    /// shared connection's task would run on the control plane's runtime).
    per_worker: Box<[OnceLock<ConnectionManager>]>,
    client: redis::Client,
    manager_config: ConnectionManagerConfig,
    script: redis::Script,
    prefix: String,
    timeout: Duration,
    /// `false` while down: calls fail at once and a probe task is running.
    up: AtomicBool,
    up_gauge: IntGauge,
    origin: Instant,
    /// Token settlements waiting to be written together.
    settle: settle::SettleQueue,
    /// This backend, for the probe and detached tasks it spawns.
    this: Weak<RedisBackend>,
}

// === impl RedisBackend ===

impl RedisBackend {
    /// Builds the backend and starts connecting in the background (a down server is not
    /// an error here: calls report it). Must run inside a tokio runtime.
    pub fn new(cfg: &RedisConfig, password: Option<&str>, up_gauge: IntGauge) -> Result<Arc<Self>, String> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| "the redis backend needs a tokio runtime".to_owned())?;
        Self::connect(cfg, password, up_gauge, &runtime).map_err(|err| err.to_string())
    }

    fn connect(
        cfg: &RedisConfig,
        password: Option<&str>,
        up_gauge: IntGauge,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Arc<Self>, redis::RedisError> {
        let mut info = cfg.url.as_str().into_connection_info()?;
        if let Some(password) = password {
            let settings = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(settings);
        }
        let info = info.set_tcp_settings(TcpSettings::default().set_nodelay(true));
        let client = redis::Client::open(info)?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(cfg.timeout()))
            .set_number_of_retries(1)
            .set_min_delay(PROBE_MIN)
            .set_max_delay(PROBE_MAX);
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), manager_config.clone())?;
        up_gauge.set(1);
        let backend = Arc::new_cyclic(|this| Self {
            manager,
            per_worker: (0..switchyard_core::worker::default_count().get()).map(|_| OnceLock::new()).collect(),
            client,
            manager_config,
            script: redis::Script::new(SCRIPT),
            prefix: cfg.key_prefix.clone(),
            timeout: cfg.timeout(),
            up: AtomicBool::new(true),
            up_gauge,
            origin: Instant::now(),
            settle: settle::SettleQueue::default(),
            this: this.clone(),
        });
        // Connect (and load the script) now rather than on the first request.
        let warm = backend.clone();
        runtime.spawn(async move {
            let mut conn = warm.manager.clone();
            let loaded = tokio::time::timeout(CONNECT_TIMEOUT, warm.script.load_async(&mut conn)).await;
            if !matches!(loaded, Ok(Ok(_))) {
                warm.mark_down("the first connection failed");
            }
        });
        Ok(backend)
    }

    /// This thread's connection: its data-plane worker's own (opened here on first use), or
    /// the shared one.
    fn connection(&self) -> ConnectionManager {
        let Some(worker) = switchyard_core::worker::current() else { return self.manager.clone() };
        let slot = &self.per_worker[worker % self.per_worker.len()];
        if let Some(mine) = slot.get() {
            return mine.clone();
        }
        match ConnectionManager::new_lazy_with_config(self.client.clone(), self.manager_config.clone()) {
            Ok(mine) => slot.get_or_init(|| mine).clone(),
            Err(_) => self.manager.clone(),
        }
    }

    /// Whether calls are currently attempted (false while a probe waits for the server).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    fn key(&self, op: &Op<'_>) -> String {
        let unit = match op.slot.unit {
            Unit::Requests => ":r:",
            Unit::Tokens => ":t:",
        };
        let mut key = String::with_capacity(self.prefix.len() + op.slot.name.len() + op.key.len() + 4);
        for part in [self.prefix.as_str(), ":", &op.slot.name, unit, op.key] {
            key.push_str(part);
        }
        key
    }

    /// Runs the script in `mode` over `ops`: `(admitted, levels before)`.
    async fn eval(&self, mode: &'static str, ops: &[Op<'_>]) -> Result<(bool, Vec<f64>), BackendError> {
        if !self.is_up() {
            return Err(BackendError::Down);
        }
        let mut invocation = self.script.prepare_invoke();
        invocation.arg(mode);
        for op in ops {
            invocation.key(self.key(op));
            for number in [op.cost, op.gcra.rate, op.gcra.burst] {
                match whole(number) {
                    Some(n) => invocation.arg(n),
                    None => invocation.arg(number),
                };
            }
        }
        let mut conn = self.connection();
        let reply = match tokio::time::timeout(self.timeout, invocation.invoke_async::<String>(&mut conn)).await {
            Err(_) => {
                self.mark_down("a call timed out");
                return Err(BackendError::Timeout { timeout_ms: self.timeout.as_millis() as u64 });
            }
            Ok(Err(err)) => {
                if err.is_io_error() || err.is_timeout() || err.is_unrecoverable_error() {
                    self.mark_down("a call failed");
                }
                return Err(BackendError::Failed(err.to_string()));
            }
            Ok(Ok(reply)) => reply,
        };
        parse_reply(&reply, ops.len())
    }

    /// Adds each op's signed cost now (one script call) and mirrors the levels.
    async fn adjust_now(&self, ops: &[Op<'_>]) -> Result<(), BackendError> {
        let (_, before) = self.eval("adjust", ops).await?;
        let now = self.now_us();
        for (op, level) in ops.iter().zip(&before) {
            op.slot.observe(op.key, (level + op.cost).max(0.0), now, &op.gcra);
        }
        Ok(())
    }

    /// Marks the backend down and starts the probe, unless it is already down.
    fn mark_down(&self, why: &'static str) {
        if !self.up.swap(false, Ordering::AcqRel) {
            return;
        }
        self.up_gauge.set(0);
        tracing::warn!(
            why,
            timeout_ms = self.timeout.as_millis() as u64,
            "rate-limit Redis is down; on_error decides until it answers"
        );
        let Some(this) = self.this.upgrade() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        runtime.spawn(probe(Arc::downgrade(&this)));
    }
}

/// `PING`s with backoff until Redis answers within the timeout, then marks it up. Ends
/// when the backend is dropped.
async fn probe(backend: Weak<RedisBackend>) {
    let mut pause = PROBE_MIN;
    loop {
        tokio::time::sleep(pause).await;
        let Some(backend) = backend.upgrade() else { return };
        let mut conn = backend.manager.clone();
        let cmd = redis::cmd("PING");
        let ping = cmd.query_async::<String>(&mut conn);
        if let Ok(Ok(_)) = tokio::time::timeout(backend.timeout, ping).await {
            backend.up.store(true, Ordering::Release);
            backend.up_gauge.set(1);
            tracing::info!("rate-limit Redis answers again");
            return;
        }
        pause = (pause * 2).min(PROBE_MAX);
    }
}

/// `number` as an integer when it is one (and exactly representable): redis-rs formats
/// integers far more cheaply than floats, and Lua's `tonumber` reads both.
fn whole(number: f64) -> Option<i64> {
    (number.fract() == 0.0 && number.abs() < 9.0e15).then_some(number as i64)
}

/// `"1"|"0"` and one level per op, space-separated → `(admitted, levels)`.
fn parse_reply(reply: &str, ops: usize) -> Result<(bool, Vec<f64>), BackendError> {
    let malformed = || BackendError::Failed(format!("unexpected script reply {:?}", reply.get(..80).unwrap_or(reply)));
    let mut fields = reply.split(' ');
    let admitted = match fields.next() {
        Some("1") => true,
        Some("0") => false,
        _ => return Err(malformed()),
    };
    let mut levels = Vec::with_capacity(ops);
    for field in fields {
        levels.push(field.parse::<f64>().map_err(|_| malformed())?);
    }
    if levels.len() != ops {
        return Err(malformed());
    }
    Ok((admitted, levels))
}

impl Backend for RedisBackend {
    fn take<'a>(&'a self, ops: &'a [Op<'a>]) -> BoxFuture<'a, Result<Taken, BackendError>> {
        Box::pin(async move {
            let (admitted, before) = self.eval("take", ops).await?;
            let now = self.now_us();
            for (op, level) in ops.iter().zip(&before) {
                let seen = if admitted { level + op.cost } else { *level };
                op.slot.observe(op.key, seen, now, &op.gcra);
            }
            Ok(Taken { admitted, before })
        })
    }

    fn adjust<'a>(&'a self, ops: &'a [Op<'a>]) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(self.adjust_now(ops))
    }

    fn adjust_detached(self: Arc<Self>, ops: Vec<OwnedOp>, on_error: Box<dyn FnOnce(BackendError) + Send>) {
        self.settle.push(self.clone(), ops, on_error);
    }

    fn now_us(&self) -> f64 {
        self.origin.elapsed().as_secs_f64() * 1e6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_parse_and_malformed_ones_are_errors() {
        assert_eq!(parse_reply("1 0 12.5 3", 3), Ok((true, vec![0.0, 12.5, 3.0])));
        assert_eq!(parse_reply("0 999999.99999999988", 1), Ok((false, vec![999_999.999_999_999_9])));
        for bad in ["", "1", "1 2 3", "2 1", "1 x", "1  2"] {
            assert!(parse_reply(bad, 1).is_err(), "{bad:?} is not a reply for one bucket");
        }
    }

    #[test]
    fn only_exact_whole_numbers_go_as_integers() {
        assert_eq!(whole(1.0), Some(1));
        assert_eq!(whole(-250.0), Some(-250));
        assert_eq!(whole(1_000_000.0), Some(1_000_000));
        assert_eq!(whole(1666.666), None);
        assert_eq!(whole(1e300), None);
        assert_eq!(whole(f64::NAN), None);
    }
}
