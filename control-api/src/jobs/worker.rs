//! The job worker: one loop per replica that acts only while this replica holds the
//! `jobs` lease (SPEC §7), so one worker runs cluster-wide and another replica takes over
//! within the lease's ttl when the holder dies.
//!
//! Every `jobs.poll_interval_ms` it reads the live jobs from the store and moves each one
//! step ([`super::steps`]); a step that fails in a way a retry can help (the trainer or
//! ClickHouse unreachable, a 5xx, a lost compare-and-set) is retried with doubling backoff
//! up to `jobs.max_poll_interval_ms`, per job. Nothing the worker knows lives only in
//! memory: the job document in the store says where each job is, so a restarted worker
//! (or another replica) resumes polling where the last one stopped.
//!
//! Metrics (in the registry passed in): `switchyard_jobs{state}` — jobs per state in the
//! store, every state exported from start-up, refreshed on every replica every tick —
//! and `switchyard_job_duration_seconds{outcome}`, creation to final state, observed by
//! the worker that saw the job end.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use prometheus::{HistogramOpts, HistogramVec, IntGaugeVec, Opts, Registry};
use switchyard_state::{JobFilter, LeaseName};

use super::model::JobState;
use super::steps::{self, StepError};
use super::store;
use crate::ControlState;

/// The worker's metrics.
#[derive(Clone)]
pub struct JobMetrics {
    jobs: IntGaugeVec,
    duration: HistogramVec,
}

/// When a job is next due and how long its backoff is.
struct Backoff {
    due: Instant,
    delay: Duration,
}

// === impl JobMetrics ===

impl JobMetrics {
    /// Registers the metrics in `registry`.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let jobs =
            IntGaugeVec::new(Opts::new("switchyard_jobs", "Fine-tuning jobs in the store, by state."), &["state"])?;
        let duration = HistogramVec::new(
            HistogramOpts::new("switchyard_job_duration_seconds", "Fine-tuning jobs from creation to a final state.")
                .buckets(vec![1.0, 10.0, 60.0, 300.0, 900.0, 3600.0, 4.0 * 3600.0, 12.0 * 3600.0, 48.0 * 3600.0]),
            &["outcome"],
        )?;
        registry.register(Box::new(jobs.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        for s in JobState::ALL {
            jobs.with_label_values(&[s.as_str()]).set(0);
        }
        Ok(Self { jobs, duration })
    }

    /// A job ended in `outcome` after `seconds`.
    pub fn finished(&self, outcome: JobState, seconds: f64) {
        self.duration.with_label_values(&[outcome.as_str()]).observe(seconds.max(0.0));
    }
}

/// Starts the worker.
pub fn spawn(state: ControlState, registry: &Registry, base_dir: PathBuf) -> prometheus::Result<()> {
    let metrics = JobMetrics::new(registry)?;
    tokio::spawn(async move {
        let mut backoff: HashMap<String, Backoff> = HashMap::new();
        loop {
            let interval = Duration::from_millis(state.editor.snapshot().0.jobs.poll_interval_ms);
            tokio::time::sleep(interval).await;
            refresh_gauge(&state, &metrics).await;
            // One replica acts: the holder of the `jobs` lease (SPEC §7).
            if !state.plane.holds(LeaseName::Jobs) {
                continue;
            }
            tick(&state, &metrics, &base_dir, &mut backoff).await;
        }
    });
    Ok(())
}

async fn refresh_gauge(state: &ControlState, metrics: &JobMetrics) {
    match state.plane.store().jobs().count_by_state().await {
        Ok(counts) => {
            for s in JobState::ALL {
                let n = counts.iter().find(|(name, _)| name == s.as_str()).map_or(0, |(_, n)| *n);
                metrics.jobs.with_label_values(&[s.as_str()]).set(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
        Err(error) => tracing::debug!(%error, "job counts unavailable"),
    }
}

/// One pass over the live jobs.
async fn tick(
    state: &ControlState,
    metrics: &JobMetrics,
    base_dir: &std::path::Path,
    backoff: &mut HashMap<String, Backoff>,
) {
    let live = ["draft", "validating", "queued", "running", "succeeded", "registered"];
    let filter = JobFilter {
        states: live.iter().map(|s| (*s).to_owned()).collect(),
        cursor: None,
        limit: Some(1000),
        tenant: None,
    };
    let rows = match state.plane.store().jobs().list(&filter).await {
        Ok(page) => page.rows,
        Err(error) => {
            tracing::warn!(%error, "job worker: jobs not read");
            return;
        }
    };
    let (cfg, _) = state.editor.snapshot();
    for row in rows {
        let id = row.id.clone();
        if backoff.get(&id).is_some_and(|b| Instant::now() < b.due) {
            continue;
        }
        let stored = match store::decode(row) {
            Ok(s) if s.job.needs_worker() => s,
            Ok(_) => continue,
            Err(error) => {
                tracing::error!(job = %id, %error, "job worker: stored job does not parse");
                continue;
            }
        };
        let ctx = steps::Context { state, cfg: &cfg, base_dir, metrics };
        match steps::advance(&ctx, stored).await {
            Ok(()) => {
                backoff.remove(&id);
            }
            Err(StepError::Retry(message)) => {
                let max = Duration::from_millis(cfg.jobs.max_poll_interval_ms);
                let first = Duration::from_millis(cfg.jobs.poll_interval_ms);
                let b = backoff.entry(id.clone()).or_insert(Backoff { due: Instant::now(), delay: first / 2 });
                b.delay = (b.delay * 2).min(max).max(first);
                b.due = Instant::now() + b.delay;
                tracing::warn!(job = %id, retry_in_ms = b.delay.as_millis() as u64, %message, "job step failed; retrying");
            }
        }
    }
}
