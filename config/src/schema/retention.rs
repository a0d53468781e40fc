//! `retention:` — how long everything that is not a group's own records is kept: the
//! `feedback`, `explanations` and `control_audit` tables in ClickHouse, the state store's
//! `audit` and `config_versions` tables, and this process's dead-letter file. A group's
//! records keep their `groups.<g>.records.retention_days`.
//!
//! A per-process setting, read at start-up. The shared tables are trimmed only by the
//! replica holding the `retention` lease (SPEC §7), with its own values (give every replica
//! the same); the dead-letter file is each process's own and each trims its own.

use serde::{Deserialize, Serialize};

use crate::error::Problem;

/// `retention:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// How often the janitors run, seconds (also the group tables' janitor). Default 3600.
    pub interval_s: u64,
    /// ClickHouse `feedback` rows, days (whole daily partitions). Default 90.
    pub feedback_days: u32,
    /// ClickHouse `explanations` rows of any group, deleted groups included, days (whole
    /// daily partitions; a group's own `retention_days` may drop them sooner). Default 30.
    pub explanations_days: u32,
    /// The audit, days: the state store's `audit` table (by entry) and its ClickHouse
    /// mirror `control_audit` (whole monthly partitions, once the month is past). Default 365.
    pub audit_days: u32,
    /// The state store's `config_versions` older than this, days, are deleted, except the
    /// newest `config_versions_keep`. Default 365.
    pub config_versions_days: u32,
    /// Newest config versions always kept, whatever their age (at least 1: the running
    /// one). Default 100.
    pub config_versions_keep: u32,
    /// Lines of this process's dead-letter file, days. Default 30.
    pub dead_letter_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            interval_s: 3_600,
            feedback_days: 90,
            explanations_days: 30,
            audit_days: 365,
            config_versions_days: 365,
            config_versions_keep: 100,
            dead_letter_days: 30,
        }
    }
}

// === impl RetentionConfig ===

impl RetentionConfig {
    /// Whether this is the default (not written out).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Adds a problem for each value out of range.
    pub fn check(&self, problems: &mut Vec<Problem>) {
        if self.interval_s == 0 || self.interval_s > 86_400 * 7 {
            problems.push(Problem::new("retention.interval_s", "must be between 1 and 604800 seconds"));
        }
        for (key, days) in [
            ("feedback_days", self.feedback_days),
            ("explanations_days", self.explanations_days),
            ("audit_days", self.audit_days),
            ("config_versions_days", self.config_versions_days),
            ("dead_letter_days", self.dead_letter_days),
            ("config_versions_keep", self.config_versions_keep),
        ] {
            if days == 0 || days > 36_500 {
                problems.push(Problem::new(format!("retention.{key}"), "must be between 1 and 36500"));
            }
        }
    }
}
