//! Options of the records pipeline, mirroring the `records:` block of the config (SPEC §2).
//!
//! The config crate owns parsing and validation of the YAML; the binary maps it onto these
//! plain structs. Defaults here equal the documented config defaults.

use std::path::PathBuf;
use std::time::Duration;

/// What happens when the spool holds `max_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhenFull {
    /// Keep serving; new records are dropped (counted as `dropped`, ERROR logged).
    #[default]
    DropNew,
    /// [`crate::RecordQueue::accepting`] turns `false`: the data plane answers 503 with
    /// `Retry-After` until the shipper frees space.
    Reject,
}

/// `records.spool`.
#[derive(Debug, Clone)]
pub struct SpoolOptions {
    /// Spool directory. Default `./switchyard-data/spool`.
    pub dir: PathBuf,
    /// Bound on spool bytes on disk. Default 1 GiB.
    pub max_bytes: u64,
    /// Policy when `max_bytes` is reached. Default `drop_new`.
    pub when_full: WhenFull,
    /// Group-commit interval: records are fsynced at most this long after they are
    /// offered. `0` syncs after every drained batch. Default 100 ms.
    pub fsync_interval_ms: u64,
    /// Segment file size before rotation. Default 32 MiB.
    pub segment_bytes: u64,
    /// Capacity of the in-memory queue in front of the spool. Default 65,536 records.
    pub queue_capacity: usize,
}

/// `records.clickhouse`.
#[derive(Debug, Clone)]
pub struct ClickHouseOptions {
    /// HTTP URL, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// Database name. Default `switchyard`.
    pub database: String,
    /// User. Default `default`.
    pub user: String,
    /// Password (already resolved from its `env:`/`file:` reference).
    pub password: Option<String>,
    /// The cluster (of the servers' `remote_servers`) the tables are spread over; `None`:
    /// one server. See [`crate::schema`] for the layout on a cluster.
    pub cluster: Option<String>,
}

/// `records.batch`.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Most rows per insert. Default 10,000.
    pub max_rows: usize,
    /// Most spool payload bytes per insert. Default 16 MiB.
    pub max_bytes: usize,
    /// Longest a record waits for its batch to fill. Default 1000 ms.
    pub max_delay_ms: u64,
}

/// Retry policy for inserts ClickHouse did not take (unreachable, 5xx-like errors).
#[derive(Debug, Clone)]
pub struct RetryOptions {
    /// First backoff. Default 200 ms.
    pub initial_backoff_ms: u64,
    /// Backoff cap. Default 30 s.
    pub max_backoff_ms: u64,
    /// How long a group table may keep failing while ClickHouse answers before it is
    /// isolated (its rows dead-lettered so other groups ship). Default 120 s.
    pub isolate_after_ms: u64,
}

/// Everything [`crate::start`] needs.
#[derive(Debug, Clone)]
pub struct RecordsOptions {
    /// The spool.
    pub spool: SpoolOptions,
    /// Where to ship; `None` keeps records in the spool only (quick start without ClickHouse).
    pub clickhouse: Option<ClickHouseOptions>,
    /// Batching.
    pub batch: BatchOptions,
    /// Retries.
    pub retry: RetryOptions,
    /// Run [`crate::migrate`] at start-up (in the shipper, retried until it succeeds).
    pub migrate_on_start: bool,
    /// Dead-letter file for batches ClickHouse rejects as malformed. Default
    /// `<spool dir>/dead-letter.jsonl`.
    pub dead_letter_path: Option<PathBuf>,
    /// How often the retention janitor runs. Default 1 h.
    pub janitor_interval: Duration,
    /// Whether this process runs retention now (replicas: the holder of the `retention`
    /// lease). Default: always.
    pub retention_gate: RetentionGate,
    /// Retention of `feedback`, `explanations`, `control_audit` and the dead-letter file.
    pub shared_retention: crate::janitor::SharedRetention,
}

/// Whether this process may run retention now; replicas share one ClickHouse, and only
/// the holder of the `retention` lease drops partitions (SPEC §7).
#[derive(Clone, Default)]
pub struct RetentionGate(Option<std::sync::Arc<dyn Fn() -> bool + Send + Sync>>);

impl RetentionGate {
    /// A gate that asks `open` each time.
    pub fn new(open: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        Self(Some(std::sync::Arc::new(open)))
    }

    /// Whether retention may run now.
    pub fn is_open(&self) -> bool {
        self.0.as_ref().is_none_or(|f| f())
    }
}

impl std::fmt::Debug for RetentionGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "RetentionGate(lease)" } else { "RetentionGate(always)" })
    }
}

// === impl Default ===

impl Default for SpoolOptions {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("./switchyard-data/spool"),
            max_bytes: 1 << 30,
            when_full: WhenFull::DropNew,
            fsync_interval_ms: 100,
            segment_bytes: 32 << 20,
            queue_capacity: 65_536,
        }
    }
}

impl Default for ClickHouseOptions {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8123".into(),
            database: "switchyard".into(),
            user: "default".into(),
            password: None,
            cluster: None,
        }
    }
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self { max_rows: 10_000, max_bytes: 16 << 20, max_delay_ms: 1000 }
    }
}

impl Default for RetryOptions {
    fn default() -> Self {
        Self { initial_backoff_ms: 200, max_backoff_ms: 30_000, isolate_after_ms: 120_000 }
    }
}

impl Default for RecordsOptions {
    fn default() -> Self {
        Self {
            spool: SpoolOptions::default(),
            clickhouse: None,
            batch: BatchOptions::default(),
            retry: RetryOptions::default(),
            migrate_on_start: true,
            dead_letter_path: None,
            janitor_interval: Duration::from_secs(3600),
            retention_gate: RetentionGate::default(),
            shared_retention: Default::default(),
        }
    }
}
