//! Explainer metrics: `switchyard_explanations_total{group,member,outcome}` and
//! `switchyard_explanation_values_cut_total{group,member,limit}`.
//!
//! Both have closed label sets; every configured explainer's `outcome` children are
//! exported at 0 from the moment its table is published ([`keep_exported`]).

use std::sync::Arc;

use prometheus::{IntCounterVec, Opts, Registry};

use super::normalise::Cut;
use crate::proxy::{Store, Table};

/// What became of one answered request as far as its member's explainer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Explained: the answer's attributions were spooled.
    Explained,
    /// Outside `sample_percent`.
    NotSampled,
    /// The answer failed (nothing to explain).
    AnswerFailed,
    /// `max_in_flight` calls were running: skipped, not queued.
    Busy,
    /// The request's input cannot be put in the protocol's shape.
    BadInput,
    /// Connect error, non-2xx status, or an answer without recognisable attributions.
    Failed,
    /// No complete answer within `timeout_ms`.
    Timeout,
    /// The record queue refused the explanation (full).
    Dropped,
}

/// Every outcome, in label order.
pub const OUTCOMES: [Outcome; 8] = [
    Outcome::Explained,
    Outcome::NotSampled,
    Outcome::AnswerFailed,
    Outcome::Busy,
    Outcome::BadInput,
    Outcome::Failed,
    Outcome::Timeout,
    Outcome::Dropped,
];

/// The explainer metrics. Cheap to clone.
#[derive(Clone)]
pub struct ExplainMetrics {
    calls: IntCounterVec,
    cut: IntCounterVec,
}

// === impl Outcome ===

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Explained => "explained",
            Self::NotSampled => "not_sampled",
            Self::AnswerFailed => "answer_failed",
            Self::Busy => "busy",
            Self::BadInput => "bad_input",
            Self::Failed => "failed",
            Self::Timeout => "timeout",
            Self::Dropped => "dropped",
        }
    }
}

// === impl ExplainMetrics ===

impl ExplainMetrics {
    /// Registers the metrics in `registry`.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let calls = IntCounterVec::new(
            Opts::new(
                "switchyard_explanations_total",
                "Answers of members with an explainer, by what became of the explainer call.",
            ),
            &["group", "member", "outcome"],
        )?;
        let cut = IntCounterVec::new(
            Opts::new(
                "switchyard_explanation_values_cut_total",
                "Attribution values not stored because a limit was hit (features per set, values per answer).",
            ),
            &["group", "member", "limit"],
        )?;
        registry.register(Box::new(calls.clone()))?;
        registry.register(Box::new(cut.clone()))?;
        Ok(Self { calls, cut })
    }

    /// Counts one `outcome`.
    pub fn count(&self, group: &str, member: &str, outcome: Outcome) {
        self.calls.with_label_values(&[group, member, outcome.as_str()]).inc();
    }

    /// The count of `outcome` (tests, diagnostics).
    pub fn get(&self, group: &str, member: &str, outcome: Outcome) -> u64 {
        self.calls.with_label_values(&[group, member, outcome.as_str()]).get()
    }

    /// Counts values cut by the limits.
    pub fn count_cut(&self, group: &str, member: &str, cut: Cut) {
        for (limit, n) in [("features", cut.features), ("values", cut.values)] {
            if n > 0 {
                self.cut.with_label_values(&[group, member, limit]).inc_by(n);
            }
        }
    }

    /// Exports every outcome (and limit) of `table`'s explainers at their current value.
    pub fn export(&self, table: &Table) {
        for g in table.groups() {
            for m in g.members.iter().filter(|m| m.explain.is_some()) {
                for o in OUTCOMES {
                    let _ = self.calls.with_label_values(&[&g.name, &m.name, o.as_str()]);
                }
                for limit in ["features", "values"] {
                    let _ = self.cut.with_label_values(&[&g.name, &m.name, limit]);
                }
            }
        }
    }
}

/// Exports the explainers of the current table and of every table published later.
pub fn keep_exported(store: &Arc<Store>, metrics: ExplainMetrics) {
    let mut tables = store.subscribe();
    metrics.export(&tables.borrow_and_update());
    tokio::spawn(async move {
        while tables.changed().await.is_ok() {
            let table = tables.borrow_and_update().clone();
            metrics.export(&table);
        }
    });
}
