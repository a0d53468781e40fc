//! `records:` — the records pipeline's settings (spool, batching, ClickHouse).

use serde::{Deserialize, Serialize};

use crate::secret::SecretRef;

/// `records:` — the records pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordsConfig {
    /// ClickHouse; absent: records stay in the spool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clickhouse: Option<ClickHouseConfig>,
    /// The durable on-disk spool.
    pub spool: SpoolConfig,
    /// Shipping batches.
    pub batch: BatchConfig,
    /// Records held in memory between the data plane and the spool. Default 65536.
    pub queue_capacity: usize,
    /// The shipper's backoff between failed ClickHouse attempts.
    pub retry: RetryConfig,
}

/// `records.retry:` — capped exponential backoff with jitter between the shipper's failed
/// attempts (inserts, table creation, migrations); the spool is the buffer meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// First wait, ms. Default 200.
    pub initial_backoff_ms: u64,
    /// Longest wait, ms (≥ `initial_backoff_ms`). Default 30000.
    pub max_backoff_ms: u64,
    /// A group table whose inserts (or creation) keep failing this long, ms, while
    /// ClickHouse answers is isolated: its rows go to the dead-letter file so the other
    /// groups keep shipping. Default 120000 (a restart, a schema change or a distributed
    /// DDL on a loaded cluster is waited out).
    pub isolate_after_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self { initial_backoff_ms: 200, max_backoff_ms: 30_000, isolate_after_ms: 120_000 }
    }
}

/// `records.clickhouse:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickHouseConfig {
    /// HTTP URL, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// Database. Default `switchyard`.
    #[serde(default = "default_database")]
    pub database: String,
    /// User. Default `default`.
    #[serde(default = "default_user")]
    pub user: String,
    /// Password as `env:`/`file:` reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
    /// Create/upgrade the schema at start-up. Default true.
    #[serde(default = "default_true")]
    pub auto_migrate: bool,
    /// A cluster of the servers' `remote_servers` (SPEC §7): DDL runs `ON CLUSTER`, tables
    /// are replicated per shard and written and read through `Distributed` tables. Default
    /// absent: one server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
}

/// `records.spool:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// Directory. Default `./switchyard-data/spool`.
    pub dir: String,
    /// Bound on spool size, bytes. Default 1 GiB.
    pub max_bytes: u64,
    /// Policy when full. Default `drop_new`.
    pub when_full: WhenFull,
    /// Group-commit interval, ms. Default 100.
    pub fsync_interval_ms: u64,
}

/// `records.spool.when_full`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Keep serving; drop the new record (counted, logged at ERROR).
    #[default]
    DropNew,
    /// Answer 503 with `Retry-After` until there is room.
    Reject,
}

/// `records.batch:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Rows per insert. Default 10000.
    pub max_rows: usize,
    /// Bytes per insert. Default 16 MiB.
    pub max_bytes: usize,
    /// Longest a record waits for its batch, ms. Default 1000.
    pub max_delay_ms: u64,
}

impl Default for RecordsConfig {
    fn default() -> Self {
        Self {
            clickhouse: None,
            spool: SpoolConfig::default(),
            batch: BatchConfig::default(),
            queue_capacity: 65_536,
            retry: RetryConfig::default(),
        }
    }
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            dir: "./switchyard-data/spool".into(),
            max_bytes: 1 << 30,
            when_full: WhenFull::DropNew,
            fsync_interval_ms: 100,
        }
    }
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self { max_rows: 10_000, max_bytes: 16 << 20, max_delay_ms: 1_000 }
    }
}

fn default_database() -> String {
    "switchyard".into()
}

fn default_user() -> String {
    "default".into()
}

fn default_true() -> bool {
    true
}
