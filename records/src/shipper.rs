//! The shipper: spool → ClickHouse, in batches, acked only after ClickHouse took them.
//!
//! Runs on its own thread with a current-thread tokio runtime, so the data plane never
//! waits on ClickHouse, at idle CPU priority while the spool is small
//! ([`crate::priority`]), so its bursts never delay a request. A batch closes at `max_rows`, `max_bytes` of spool payload, or
//! `max_delay_ms` after its first record. A frame this run's writer spooled is usually
//! already in memory ([`crate::handoff`]); only the others are read and decoded. Its entries
//! are split per destination table (`inferences_<group>`, `explanations`, `feedback`) and
//! inserted with RowBinary.
//!
//! Invariants:
//! - the spool is acked up to the end of a batch only after every table of the batch
//!   either accepted its rows or had them written (fsynced) to the dead-letter file;
//! - unreachable / overloaded / 5xx-like failures are retried forever with capped
//!   exponential backoff and jitter (the spool, bounded by `max_bytes`, is the buffer);
//! - a missing group table is created (records of a group wait in the spool until it
//!   exists); rows ClickHouse rejects as malformed go to the dead-letter file, never
//!   retried, never silently dropped;
//! - one group's table never blocks the others (issue 11): when a group's insert (or its
//!   table's creation) has kept failing for `records.retry.isolate_after_ms` (default
//!   2 min) for a reason that is not malformed rows while ClickHouse answers a probe, that group is *isolated*: its
//!   rows of this batch are written to the dead-letter file (ERROR naming the group) and
//!   the batch goes on; while isolated, each later batch tries its rows once and
//!   dead-letters them on failure. The first success ends the isolation. When the probe
//!   fails too, ClickHouse itself is down: every table retries forever as before;
//! - a malformed batch is dead-lettered whole, not bisected: ClickHouse 18.16 takes or
//!   refuses a RowBinary insert as a whole, and found nothing to refuse per row — a
//!   Nullable flag of 2, a Decimal(38, 12) past 38 digits, invalid UTF-8 in a String and
//!   the largest DateTime were all stored; only a cut-off row (code 33, "Cannot read all
//!   data … at row 2") fails, which misaligns the rest of the stream and comes from the
//!   encoder, not from one record. A schema expression that throws (`MATERIALIZED
//!   throwIf(…)`, code 395) fails per row but is not about the rows; it is retried, and
//!   isolated as above;
//! - a retried batch may re-insert rows a table already accepted: the ReplacingMergeTree
//!   keys make that count once;
//! - on a cluster the same names are `Distributed` tables and the client inserts with
//!   `insert_distributed_sync = 1` ([`schema::client`]), so an accepted batch is on a
//!   replica of every shard it touches before the spool is acked.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use clickhouse::Client;
use tokio::sync::{mpsc, watch};

use crate::dead_letter::DeadLetter;
use crate::entry::Entry;
use crate::handoff::Taker;
use crate::metrics::Outcome;
use crate::priority::Governor;
use crate::rows::{ExplanationRow, FeedbackRow, InferenceRow};
use crate::schema::{self, ensure_group_table_on, group_table, Cluster};
use crate::spool::{Frame, SpoolReader};
use crate::{janitor, BatchOptions, ClickHouseOptions, GroupSpec, RecordQueueMetrics, RetryOptions};

mod insert;
use switchyard_core::Backoff;

/// Per-insert timeouts (send a chunk, wait for the server's answer).
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
const END_TIMEOUT: Duration = Duration::from_secs(120);

/// The shipper's state; see the module docs.
pub(crate) struct Shipper {
    pub(crate) reader: SpoolReader,
    /// Entries the writer spooled in this run, so their frames need no decoding.
    pub(crate) handoff: Taker,
    pub(crate) client: Client,
    pub(crate) opts: ClickHouseOptions,
    pub(crate) batch: BatchOptions,
    pub(crate) retry: RetryOptions,
    pub(crate) metrics: RecordQueueMetrics,
    pub(crate) dead_letter: DeadLetter,
    pub(crate) provision_rx: mpsc::UnboundedReceiver<Vec<GroupSpec>>,
    /// `Some(deadline)` once shutdown was requested: drain until then.
    pub(crate) shutdown: watch::Receiver<Option<Instant>>,
    pub(crate) migrate_on_start: bool,
    pub(crate) janitor_interval: Duration,
    pub(crate) retention_gate: crate::RetentionGate,
    pub(crate) shared_retention: janitor::SharedRetention,
    pub(crate) ready: HashSet<String>,
    pub(crate) retention: HashMap<String, u32>,
    /// Group tables isolated for failing while ClickHouse answers.
    pub(crate) isolated: HashSet<String>,
}

/// Shutdown deadline passed while ClickHouse was still failing: leave the rest spooled.
#[derive(Debug)]
struct Stopped;

enum Wake {
    Data,
    Timer,
    Provision(Option<Vec<GroupSpec>>),
    Shutdown,
}

/// Rows of one batch, split by destination.
#[derive(Default)]
struct Split<'a> {
    groups: BTreeMap<String, (Vec<InferenceRow>, Vec<&'a Entry>)>,
    explanations: (Vec<ExplanationRow>, Vec<&'a Entry>),
    feedback: (Vec<FeedbackRow>, Vec<&'a Entry>),
    /// Explainer answers in the batch.
    explainer_entries: u64,
}

// === impl Shipper ===

impl Shipper {
    /// Runs until shutdown (and the drain that follows it).
    pub(crate) async fn run(mut self) {
        if self.migrate_on_start && self.migrate_until_ok().await.is_err() {
            return;
        }
        let mut next_janitor = Instant::now() + Duration::from_secs(5);
        let mut provision_open = true;
        let mut priority = Governor::new(self.reader.shared().max_bytes());
        loop {
            priority.update(self.reader.shared().bytes());
            let Some(items) = self.gather(&mut provision_open, &mut next_janitor).await else {
                break;
            };
            if items.is_empty() {
                continue;
            }
            let end = self.reader.position();
            tracing::debug!(items = items.len(), ?end, "shipping batch");
            let started = Instant::now();
            match self.ship(items).await {
                Ok(shipped) => {
                    self.metrics.ship_seconds.observe(started.elapsed().as_secs_f64());
                    self.metrics.count(Outcome::Shipped, shipped);
                    if let Err(error) = self.reader.ack(end) {
                        tracing::error!(%error, "cannot store the spool ack ledger; records will be re-shipped");
                    }
                }
                Err(Stopped) => break,
            }
        }
        tracing::info!(pending = self.reader.has_more(), "record shipper stopped");
    }

    fn stopping(&self) -> Option<Instant> {
        *self.shutdown.borrow()
    }

    async fn migrate_until_ok(&mut self) -> Result<(), Stopped> {
        let mut attempt = 0;
        loop {
            match schema::migrate(&self.opts).await {
                Ok(report) => {
                    tracing::info!(
                        server_version = %report.server_version,
                        database = %self.opts.database,
                        applied = ?report.applied,
                        "clickhouse schema up to date"
                    );
                    return Ok(());
                }
                Err(error) => {
                    tracing::warn!(%error, attempt, "clickhouse migration failed; retrying");
                    self.backoff(attempt).await?;
                    attempt += 1;
                }
            }
        }
    }

    /// Collects the next batch; `None` when shutting down with nothing left to read.
    async fn gather(&mut self, provision_open: &mut bool, next_janitor: &mut Instant) -> Option<Vec<Frame<Entry>>> {
        let mut items = Vec::new();
        let mut bytes = 0usize;
        let mut first_at: Option<Instant> = None;
        loop {
            while items.len() < self.batch.max_rows && bytes < self.batch.max_bytes {
                let handoff = &mut self.handoff;
                let mut payload_len = 0;
                let next = self.reader.next_frame(|at, len| {
                    payload_len = len as usize;
                    handoff.take(at, len)
                });
                match next {
                    Ok(Some(frame)) => {
                        bytes += payload_len;
                        items.push(frame);
                        first_at.get_or_insert_with(Instant::now);
                    }
                    Ok(None) => break,
                    Err(error) => {
                        tracing::error!(%error, "spool read failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        break;
                    }
                }
            }
            if items.len() >= self.batch.max_rows || bytes >= self.batch.max_bytes {
                return Some(items);
            }
            if self.stopping().is_some() {
                return (!items.is_empty()).then_some(items);
            }
            let delay = Duration::from_millis(self.batch.max_delay_ms);
            let batch_due = first_at.map(|t| t + delay);
            if batch_due.is_some_and(|due| Instant::now() >= due) {
                return Some(items);
            }
            let wake_at = batch_due.map_or(*next_janitor, |d| d.min(*next_janitor));
            let wake = tokio::select! {
                _ = self.reader.changed() => Wake::Data,
                _ = tokio::time::sleep_until(wake_at.into()) => Wake::Timer,
                g = self.provision_rx.recv(), if *provision_open => Wake::Provision(g),
                _ = self.shutdown.changed() => Wake::Shutdown,
            };
            match wake {
                Wake::Data | Wake::Shutdown => {}
                Wake::Timer => {
                    if Instant::now() >= *next_janitor {
                        self.run_janitor().await;
                        *next_janitor = Instant::now() + self.janitor_interval;
                    }
                }
                Wake::Provision(Some(groups)) => self.provision(groups).await,
                Wake::Provision(None) => *provision_open = false,
            }
        }
    }

    /// Creates the tables of `groups` now (best effort: a failure is retried when their
    /// first records are shipped) and records their retention.
    async fn provision(&mut self, groups: Vec<GroupSpec>) {
        for g in groups {
            if let Some(days) = g.retention_days {
                self.retention.insert(g.name.clone(), days);
            }
            let table = group_table(&g.name);
            if self.ready.contains(&table) {
                continue;
            }
            match ensure_group_table_on(&self.client, Cluster::of(&self.opts), &g.name).await {
                Ok(t) => {
                    tracing::info!(group = %g.name, table = %t, "group table ready");
                    self.ready.insert(t);
                }
                Err(error) => {
                    tracing::warn!(group = %g.name, %error, "cannot create group table yet");
                }
            }
        }
    }

    async fn run_janitor(&mut self) {
        let now_ms = switchyard_core::unix_ms();
        // The dead-letter file is this process's own: trimmed whatever the lease.
        match self.dead_letter.trim_older_than(self.shared_retention.dead_letter_days, now_ms) {
            Ok(0) => {}
            Ok(n) => tracing::info!(lines = n, path = %self.dead_letter.path().display(), "dead-letter lines expired"),
            Err(error) => tracing::warn!(%error, "cannot trim the dead-letter file; will retry"),
        }
        if !self.retention_gate.is_open() {
            tracing::debug!("retention runs on the holder of the retention lease; skipped here");
            return;
        }
        let cluster = Cluster::of(&self.opts);
        if let Err(error) =
            janitor::drop_expired_shared(&self.client, cluster, &self.opts.database, &self.shared_retention, now_ms)
                .await
        {
            tracing::warn!(%error, "retention of feedback, explanations and control_audit failed; will retry");
        }
        for (group, days) in self.retention.clone() {
            let cluster = Cluster::of(&self.opts);
            if let Err(error) =
                janitor::drop_expired_partitions_on(&self.client, cluster, &self.opts.database, &group, days, now_ms)
                    .await
            {
                tracing::warn!(group = %group, %error, "retention janitor failed; will retry");
            }
        }
    }

    /// Ships one batch; returns how many entries reached ClickHouse.
    async fn ship(&mut self, items: Vec<Frame<Entry>>) -> Result<u64, Stopped> {
        let mut entries = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Frame::Kept(entry) => entries.push(entry),
                Frame::Payload(payload) => match Entry::decode(&payload) {
                    Ok(e) => entries.push(e),
                    Err(error) => {
                        tracing::error!(%error, "undecodable spool entry; dead-lettered");
                        self.dead_letter_raw(&error.to_string(), &payload).await?;
                    }
                },
            }
        }
        let mut split = Split::default();
        for entry in &entries {
            match entry {
                Entry::Inference(r) => {
                    let (row, explanations) = InferenceRow::from_record(r);
                    let slot = split.groups.entry(r.group.clone()).or_default();
                    slot.0.push(row);
                    slot.1.push(entry);
                    for x in explanations {
                        split.explanations.0.push(x);
                        split.explanations.1.push(entry);
                    }
                }
                Entry::Feedback(f) => {
                    split.feedback.0.push(FeedbackRow::from(f));
                    split.feedback.1.push(entry);
                }
                Entry::Explanation(x) => {
                    for row in ExplanationRow::from_explanation(x) {
                        split.explanations.0.push(row);
                        split.explanations.1.push(entry);
                    }
                    split.explainer_entries += 1;
                }
            }
        }
        let mut shipped = 0;
        tracing::debug!(
            entries = entries.len(),
            groups = split.groups.len(),
            feedback = split.feedback.0.len(),
            "batch split"
        );
        for (group, (rows, sources)) in &split.groups {
            shipped += self.insert(&group_table(group), Some(group), rows, sources).await?;
        }
        let (rows, sources) = &split.explanations;
        // Explainer answers are entries of their own: each counts once when its rows
        // were accepted (a dead-lettered batch is counted by `insert`).
        if self.insert("explanations", None, rows, sources).await? > 0 || rows.is_empty() {
            shipped += split.explainer_entries;
        }
        let (rows, sources) = &split.feedback;
        shipped += self.insert("feedback", None, rows, sources).await?;
        Ok(shipped)
    }

    async fn dead_letter_raw(&mut self, error: &str, payload: &[u8]) -> Result<(), Stopped> {
        let mut attempt = 0;
        loop {
            match self.dead_letter.write_payload(error, payload) {
                Ok(()) => {
                    self.metrics.count(Outcome::DeadLetter, 1);
                    return Ok(());
                }
                Err(io) => {
                    tracing::error!(error = %io, "cannot write the dead-letter file; retrying");
                    self.backoff(attempt).await?;
                    attempt += 1;
                }
            }
        }
    }

    /// Sleeps the retry policy's backoff for `attempt`; fails when the shutdown deadline
    /// would pass first.
    async fn backoff(&mut self, attempt: u32) -> Result<(), Stopped> {
        let policy = Backoff::from_millis(self.retry.initial_backoff_ms.max(1), self.retry.max_backoff_ms);
        let wake = Instant::now() + policy.delay(attempt);
        loop {
            if let Some(deadline) = self.stopping() {
                if wake > deadline {
                    return Err(Stopped);
                }
            }
            tokio::select! {
                _ = tokio::time::sleep_until(wake.into()) => return Ok(()),
                changed = self.shutdown.changed() => {
                    if changed.is_err() {
                        return Err(Stopped);
                    }
                }
            }
        }
    }
}
