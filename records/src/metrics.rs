//! Prometheus metrics of the records pipeline (SPEC §5), registered in a passed-in registry.
//!
//! `switchyard_records_total{outcome}` — outcome is one of `enqueued` (offered and queued),
//! `spooled` (durable in the spool), `shipped` (acknowledged by ClickHouse), `dropped`
//! (queue full, spool full, write failure) and `dead_letter` (rejected by ClickHouse as
//! malformed, kept in the dead-letter file); `switchyard_spool_bytes`;
//! `switchyard_records_ship_seconds` (one observation per insert batch);
//! `switchyard_spool_corrupt_total` (corrupt tails or frames skipped).

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// The records pipeline's metrics. Cheap to clone.
#[derive(Clone, Debug)]
pub struct RecordQueueMetrics {
    /// `switchyard_records_total`, one resolved child per [`Outcome`] in [`OUTCOMES`]
    /// order (no label lookup on the request path).
    records: [IntCounter; OUTCOMES.len()],
    /// `switchyard_spool_bytes`.
    pub(crate) spool_bytes: IntGauge,
    /// `switchyard_records_ship_seconds`.
    pub(crate) ship_seconds: Histogram,
    /// `switchyard_spool_corrupt_total`.
    pub(crate) spool_corrupt: IntCounter,
}

/// The `outcome` of `switchyard_records_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Offered and queued.
    Enqueued,
    /// Durable in the spool.
    Spooled,
    /// Acknowledged by ClickHouse.
    Shipped,
    /// Lost: queue full, spool full, write failure.
    Dropped,
    /// Rejected by ClickHouse as malformed, kept in the dead-letter file.
    DeadLetter,
}

/// Every outcome, in label order.
pub const OUTCOMES: [Outcome; 5] =
    [Outcome::Enqueued, Outcome::Spooled, Outcome::Shipped, Outcome::Dropped, Outcome::DeadLetter];

// === impl Outcome ===

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enqueued => "enqueued",
            Self::Spooled => "spooled",
            Self::Shipped => "shipped",
            Self::Dropped => "dropped",
            Self::DeadLetter => "dead_letter",
        }
    }
}

// === impl RecordQueueMetrics ===

impl RecordQueueMetrics {
    /// Registers the records metrics in `registry`.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let records = IntCounterVec::new(
            Opts::new(
                "switchyard_records_total",
                "Inference records by outcome (enqueued, spooled, shipped, dropped, dead_letter).",
            ),
            &["outcome"],
        )?;
        let spool_bytes =
            IntGauge::new("switchyard_spool_bytes", "Bytes held by the record spool (segments plus buffered frames).")?;
        let ship_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "switchyard_records_ship_seconds",
                "Time to insert one batch into ClickHouse, retries included.",
            )
            .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]),
        )?;
        let spool_corrupt = IntCounter::new(
            "switchyard_spool_corrupt_total",
            "Corrupt or torn spool tails and frames detected and skipped.",
        )?;
        registry.register(Box::new(records.clone()))?;
        registry.register(Box::new(spool_bytes.clone()))?;
        registry.register(Box::new(ship_seconds.clone()))?;
        registry.register(Box::new(spool_corrupt.clone()))?;
        let records = OUTCOMES.map(|outcome| records.with_label_values(&[outcome.as_str()]));
        Ok(Self { records, spool_bytes, ship_seconds, spool_corrupt })
    }

    /// Adds `n` to the counter of `outcome`.
    pub fn count(&self, outcome: Outcome, n: u64) {
        if n > 0 {
            self.records[outcome as usize].inc_by(n);
        }
    }

    /// Current value of the counter of `outcome`.
    pub fn get(&self, outcome: Outcome) -> u64 {
        self.records[outcome as usize].get()
    }
}
