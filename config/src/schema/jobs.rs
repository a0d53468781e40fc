//! `jobs:` — the fine-tuning job worker (SPEC §10). A per-process setting: the worker
//! runs on the replica that holds the `jobs` lease (SPEC §7) and reads this block from its
//! own file; it stays in the file when routing config is shared.
//!
//! Invariant: [`JobsConfig::check`] is the only judge of these values; the worker and the
//! dataset builder take a block that passed it.

use serde::{Deserialize, Serialize};

use crate::error::Problem;

/// `jobs:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// The only directory a job's `dataset: {source: file, path}` may read from (a
    /// relative path resolves against the config file's directory). Default: absent, and
    /// `source: file` is refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_dir: Option<String>,
    /// Where built datasets are written while their job lives (deleted when it ends).
    /// Default `./switchyard-data/jobs`.
    pub work_dir: String,
    /// How often a live job is polled at its trainer, ms. Default 5000.
    pub poll_interval_ms: u64,
    /// The longest wait between polls after failed ones (doubling backoff), ms.
    /// Default 60000.
    pub max_poll_interval_ms: u64,
    /// Share of a dataset's examples put in the validation file, in [0, 0.5]. Default 0.1.
    pub validation_fraction: f64,
    /// Regular expressions whose matches in message texts are replaced by `[REDACTED]`
    /// before a dataset leaves the gateway. Default: none.
    pub redact: Vec<String>,
    /// Time allowed for one call to a trainer (uploads included), ms. Default 300000.
    pub trainer_timeout_ms: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            dataset_dir: None,
            work_dir: "./switchyard-data/jobs".into(),
            poll_interval_ms: 5000,
            max_poll_interval_ms: 60_000,
            validation_fraction: 0.1,
            redact: Vec::new(),
            trainer_timeout_ms: 300_000,
        }
    }
}

// === impl JobsConfig ===

impl JobsConfig {
    /// Whether this is the default block (left out of the canonical form).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Every problem of this block, with paths under `jobs.`.
    pub fn check(&self, problems: &mut Vec<Problem>) {
        if self.poll_interval_ms == 0 || self.poll_interval_ms > 3_600_000 {
            problems.push(Problem::new("jobs.poll_interval_ms", "must be between 1 and 3600000"));
        }
        if self.max_poll_interval_ms < self.poll_interval_ms || self.max_poll_interval_ms > 86_400_000 {
            problems.push(Problem::new(
                "jobs.max_poll_interval_ms",
                "must be at least poll_interval_ms and at most 86400000",
            ));
        }
        if !(0.0..=0.5).contains(&self.validation_fraction) {
            problems.push(Problem::new("jobs.validation_fraction", "must be between 0 and 0.5"));
        }
        if self.work_dir.trim().is_empty() {
            problems.push(Problem::new("jobs.work_dir", "must not be empty"));
        }
        if self.dataset_dir.as_deref().is_some_and(|d| d.trim().is_empty()) {
            problems.push(Problem::new("jobs.dataset_dir", "must not be empty when set"));
        }
        if self.trainer_timeout_ms == 0 {
            problems.push(Problem::new("jobs.trainer_timeout_ms", "must be > 0"));
        }
        for (i, pattern) in self.redact.iter().enumerate() {
            if let Err(e) = regex::Regex::new(pattern) {
                problems.push(Problem::new(format!("jobs.redact[{i}]"), format!("not a regular expression: {e}")));
            }
        }
    }
}
