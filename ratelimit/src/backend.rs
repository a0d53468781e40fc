//! The one trait behind which usage is counted: [`LocalBackend`](crate::local::LocalBackend)
//! in this process, [`RedisBackend`](crate::redis::RedisBackend) shared by replicas.
//!
//! A backend knows buckets and levels, nothing of rules, scopes or headers. Its contract:
//! - [`Backend::take`] charges every op's `cost` *atomically*: either every bucket admits
//!   its cost and all are charged, or none is charged. It reports each bucket's level at
//!   that instant, before the charge, so the caller derives remaining, reset and
//!   retry-after with [`Gcra`](crate::gcra::Gcra).
//! - [`Backend::adjust`] adds a signed cost to each bucket with no admission check
//!   (token settlement and refunds); a level never goes below 0.
//! - Both complete within the backend's own time limit or fail with a [`BackendError`];
//!   what a failure means for the request is the limiter's policy, not the backend's.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::gcra::Gcra;
use crate::slot::Slot;

/// A boxed future, as the trait object needs.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One bucket's part in a call.
#[derive(Clone, Copy)]
pub(crate) struct Op<'a> {
    /// The rule's buckets.
    pub slot: &'a Slot,
    /// The bucket's key within the rule (empty for a shared bucket).
    pub key: &'a str,
    /// Units to charge (negative: refund; only `adjust` takes those).
    pub cost: f64,
    /// The rule's rate and burst now.
    pub gcra: Gcra,
}

/// An owned [`Op`], kept by a token reservation until it is settled.
#[derive(Clone)]
pub(crate) struct OwnedOp {
    pub slot: Arc<Slot>,
    /// Whether the op's rule is charged per attempt (provider, member scopes).
    pub per_attempt: bool,
    pub key: Box<str>,
    pub cost: f64,
    pub gcra: Gcra,
}

/// What [`Backend::take`] found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Taken {
    /// Every bucket admitted its cost, and all were charged.
    pub admitted: bool,
    /// Each op's level (in units) just before the charge, in op order.
    pub before: Vec<f64>,
}

/// Why a backend call produced no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// No answer within the configured timeout.
    #[error("rate-limit backend did not answer within {timeout_ms} ms")]
    Timeout {
        /// The timeout that passed, ms.
        timeout_ms: u64,
    },
    /// A recent call failed and the backend has not answered a health probe since;
    /// calls fail at once rather than wait.
    #[error("rate-limit backend is down (waiting for it to answer again)")]
    Down,
    /// The server answered with an error or the connection failed.
    #[error("rate-limit backend failed: {0}")]
    Failed(String),
}

/// Where usage is counted.
pub(crate) trait Backend: Send + Sync + 'static {
    /// Charges every op atomically (all or none); see the module doc.
    fn take<'a>(&'a self, ops: &'a [Op<'a>]) -> BoxFuture<'a, Result<Taken, BackendError>>;

    /// Adds each op's signed cost without an admission check.
    fn adjust<'a>(&'a self, ops: &'a [Op<'a>]) -> BoxFuture<'a, Result<(), BackendError>>;

    /// Adjusts without the caller waiting: the local backend applies it at once, a remote
    /// one in a spawned task. Failures are reported through `on_error`.
    fn adjust_detached(self: Arc<Self>, ops: Vec<OwnedOp>, on_error: Box<dyn FnOnce(BackendError) + Send>);

    /// Now on the clock that the slots' `at` fields use, µs.
    fn now_us(&self) -> f64;
}

// === impl BackendError ===

impl BackendError {
    /// Who is at fault: always the backend (a system we call).
    pub fn blame(&self) -> switchyard_core::Blame {
        switchyard_core::Blame::Upstream
    }

    /// Whether a later call may succeed: always (a timeout, an outage, a dropped connection).
    pub fn retryable(&self) -> bool {
        true
    }
}

// === impl OwnedOp ===

impl OwnedOp {
    /// Borrows this op for a backend call.
    pub fn as_op(&self) -> Op<'_> {
        Op { slot: &self.slot, key: &self.key, cost: self.cost, gcra: self.gcra }
    }
}
