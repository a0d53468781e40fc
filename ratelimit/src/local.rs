//! The `local` backend: usage counted in this process's [`Slot`]s, exact for one replica.
//!
//! A multi-rule check locks the shards of every bucket involved, in `(slot id, shard)`
//! order (so two checks never deadlock), reads every level, and writes them all only when
//! every bucket admits its cost — the all-or-nothing rule with no window in which another
//! request can see a partial charge. Locks are held for a few arithmetic operations and
//! never across an `.await`; the futures returned are already complete.
//!
//! Time is `tokio::time::Instant` since the backend was made, in µs, so tests that pause
//! tokio's clock drive the limiter exactly.

use std::sync::Arc;

use tokio::time::Instant;

use crate::backend::{Backend, BackendError, BoxFuture, Op, OwnedOp, Taken};
use crate::slot::{Level, Shard};

/// The in-process backend.
pub(crate) struct LocalBackend {
    origin: Instant,
}

// === impl LocalBackend ===

impl LocalBackend {
    pub fn new() -> Self {
        Self { origin: Instant::now() }
    }

    /// Charges all of `ops` or none (see the module doc).
    pub fn take_now(&self, ops: &[Op<'_>]) -> Taken {
        let now = self.now_us();
        let mut locked = Locked::new(ops);
        let before: Vec<f64> =
            ops.iter().enumerate().map(|(i, op)| locked.shard(i).level(op.key, now, &op.gcra)).collect();
        let admitted = ops.iter().zip(&before).all(|(op, level)| op.gcra.admits(*level, op.cost));
        if admitted {
            for (i, (op, level)) in ops.iter().zip(&before).enumerate() {
                let state = Level { level: level + op.cost, at: now };
                locked.shard(i).set(op.key, state, now, &op.gcra);
            }
        }
        Taken { admitted, before }
    }

    /// Adds each op's signed cost, flooring levels at 0.
    pub fn adjust_now(&self, ops: &[Op<'_>]) {
        let now = self.now_us();
        let mut locked = Locked::new(ops);
        for (i, op) in ops.iter().enumerate() {
            let shard = locked.shard(i);
            let level = (shard.level(op.key, now, &op.gcra) + op.cost).max(0.0);
            shard.set(op.key, Level { level, at: now }, now, &op.gcra);
        }
    }
}

impl Backend for LocalBackend {
    fn take<'a>(&'a self, ops: &'a [Op<'a>]) -> BoxFuture<'a, Result<Taken, BackendError>> {
        let taken = self.take_now(ops);
        Box::pin(std::future::ready(Ok(taken)))
    }

    fn adjust<'a>(&'a self, ops: &'a [Op<'a>]) -> BoxFuture<'a, Result<(), BackendError>> {
        self.adjust_now(ops);
        Box::pin(std::future::ready(Ok(())))
    }

    fn adjust_detached(self: Arc<Self>, ops: Vec<OwnedOp>, _on_error: Box<dyn FnOnce(BackendError) + Send>) {
        let ops: Vec<Op<'_>> = ops.iter().map(OwnedOp::as_op).collect();
        self.adjust_now(&ops);
    }

    fn now_us(&self) -> f64 {
        self.origin.elapsed().as_secs_f64() * 1e6
    }
}

/// The shard guards of one multi-rule call, taken in `(slot id, shard)` order.
struct Locked<'a> {
    guards: Vec<std::sync::MutexGuard<'a, Shard>>,
    /// `guard_of[i]`: which guard op `i`'s bucket is behind.
    guard_of: Vec<usize>,
}

// === impl Locked ===

impl<'a> Locked<'a> {
    fn new(ops: &[Op<'a>]) -> Self {
        let shards: Vec<(u64, usize)> = ops.iter().map(|op| (op.slot.id, op.slot.shard_of(op.key))).collect();
        let mut order: Vec<usize> = (0..ops.len()).collect();
        order.sort_by_key(|&i| shards[i]);
        let mut guards = Vec::with_capacity(ops.len());
        let mut guard_of = vec![0; ops.len()];
        let mut last: Option<(u64, usize)> = None;
        for i in order {
            // Two ops behind one shard share its guard (a mutex cannot be locked twice).
            if last != Some(shards[i]) {
                guards.push(ops[i].slot.lock(shards[i].1));
                last = Some(shards[i]);
            }
            guard_of[i] = guards.len() - 1;
        }
        Self { guards, guard_of }
    }

    fn shard(&mut self, op: usize) -> &mut Shard {
        &mut self.guards[self.guard_of[op]]
    }
}
