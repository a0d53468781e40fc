//! Tokens reserved before a call, settled with the real usage after it.
//!
//! A [`Reservation`] holds the token estimate charged to every tokens rule of one check.
//! After the call, [`Reservation::settle`] charges the difference (a refund when the call
//! used less, an extra charge when it used more — possibly past the limit, which then
//! refuses requests until that debt drains); [`Reservation::refund`] returns the whole
//! estimate when the call failed. A reservation that is dropped unsettled leaves the
//! estimate charged: the safe side, never an overspend.
//!
//! When the check was admitted only by `on_error: allow` (Redis down), nothing was
//! reserved: settling then charges the actual usage, best effort, and a refund is a no-op.
//! A settlement that cannot be written is counted (`settle_lost`) and logged, never awaited
//! by a request.

use std::sync::Arc;

use prometheus::IntCounter;

use crate::backend::{Backend, OwnedOp};

/// Tokens reserved by one check. Settle or refund it once the call's usage is known.
#[must_use = "settle or refund a reservation, else the whole estimate stays charged"]
pub struct Reservation {
    ops: Vec<OwnedOp>,
    /// Whether `ops` were actually charged (false: admitted by `on_error: allow`).
    charged: bool,
    /// The estimate per rule.
    tokens: u64,
    backend: Option<Arc<dyn Backend>>,
    settle_lost: Option<IntCounter>,
}

/// A settlement ready to be written.
struct Adjustment {
    backend: Arc<dyn Backend>,
    ops: Vec<OwnedOp>,
    lost: Option<IntCounter>,
}

// === impl Reservation ===

impl Reservation {
    /// A reservation of nothing (no tokens rule applied).
    pub fn empty() -> Self {
        Self { ops: Vec::new(), charged: false, tokens: 0, backend: None, settle_lost: None }
    }

    pub(crate) fn new(
        ops: Vec<OwnedOp>,
        charged: bool,
        tokens: u64,
        backend: Arc<dyn Backend>,
        settle_lost: IntCounter,
    ) -> Self {
        if ops.is_empty() {
            return Self::empty();
        }
        Self { ops, charged, tokens, backend: Some(backend), settle_lost: Some(settle_lost) }
    }

    /// Whether no tokens rule applied (settling is then free).
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The estimate reserved on each tokens rule (0 when empty).
    pub fn tokens(&self) -> u64 {
        if self.is_empty() {
            0
        } else {
            self.tokens
        }
    }

    /// Whether the estimate was really charged (false when admitted by `on_error: allow`).
    pub fn is_charged(&self) -> bool {
        self.charged
    }

    /// Splits off the per-attempt part (provider and member rules) of a reservation made
    /// with [`crate::Charge::RequestAndAttempt`], leaving the per-request part here, so a
    /// failed first attempt can be refunded while its request goes on to another attempt.
    pub fn split_attempt(&mut self) -> Reservation {
        let (attempt, request): (Vec<OwnedOp>, Vec<OwnedOp>) =
            std::mem::take(&mut self.ops).into_iter().partition(|op| op.per_attempt);
        self.ops = request;
        let split = Self {
            ops: attempt,
            charged: self.charged,
            tokens: self.tokens,
            backend: self.backend.clone(),
            settle_lost: self.settle_lost.clone(),
        };
        if split.ops.is_empty() {
            Self::empty()
        } else {
            split
        }
    }

    /// Settles with `actual` tokens used, and waits until it is written.
    pub async fn settle(self, actual: u64) {
        let delta = self.delta(Some(actual));
        self.apply(delta).await;
    }

    /// Returns the whole estimate (the call failed), and waits until it is written.
    pub async fn refund(self) {
        let delta = self.delta(None);
        self.apply(delta).await;
    }

    /// Settles with `actual` tokens without waiting: in place for `local`, in a spawned
    /// task for `redis`. Safe to call from a body's `Drop`.
    pub fn settle_detached(self, actual: u64) {
        let delta = self.delta(Some(actual));
        self.apply_detached(delta);
    }

    /// Refunds the whole estimate without waiting.
    pub fn refund_detached(self) {
        let delta = self.delta(None);
        self.apply_detached(delta);
    }

    /// The signed change per rule: `actual - estimate` (refund: `-estimate`), or, when
    /// nothing was charged, `actual` (refund: nothing).
    fn delta(&self, actual: Option<u64>) -> f64 {
        match (self.charged, actual) {
            (true, Some(actual)) => actual as f64 - self.tokens as f64,
            (true, None) => -(self.tokens as f64),
            (false, Some(actual)) => actual as f64,
            (false, None) => 0.0,
        }
    }

    /// The adjustment to write, unless there is nothing to change.
    fn into_adjustment(mut self, delta: f64) -> Option<Adjustment> {
        if delta == 0.0 || self.ops.is_empty() {
            return None;
        }
        let mut ops = std::mem::take(&mut self.ops);
        for op in &mut ops {
            op.cost = delta;
        }
        Some(Adjustment { backend: self.backend.take()?, ops, lost: self.settle_lost.take() })
    }

    async fn apply(self, delta: f64) {
        let Some(Adjustment { backend, ops, lost }) = self.into_adjustment(delta) else { return };
        let borrowed: Vec<_> = ops.iter().map(OwnedOp::as_op).collect();
        if let Err(err) = backend.adjust(&borrowed).await {
            settle_failed(lost.as_ref(), &err);
        }
    }

    fn apply_detached(self, delta: f64) {
        let Some(Adjustment { backend, ops, lost }) = self.into_adjustment(delta) else { return };
        backend.adjust_detached(ops, Box::new(move |err| settle_failed(lost.as_ref(), &err)));
    }
}

fn settle_failed(lost: Option<&IntCounter>, err: &crate::BackendError) {
    if let Some(counter) = lost {
        counter.inc();
    }
    tracing::warn!(error = %err, "a token settlement could not be written; the rule's usage is off by this call's difference");
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation")
            .field("rules", &self.ops.iter().map(|op| &*op.slot.name).collect::<Vec<_>>())
            .field("tokens", &self.tokens)
            .field("charged", &self.charged)
            .finish()
    }
}
