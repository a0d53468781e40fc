//! A rule's buckets in this process: a sharded map from key to `(level, at)`.
//!
//! One [`Slot`] exists per rule (by name and unit) for the limiter's life, across config
//! edits, which is how an edited rule keeps its usage. For the local backend it *is* the
//! usage; for Redis it mirrors the levels this replica last saw, for `busiest_keys`.
//!
//! Invariants:
//! - A key lives in exactly one shard (`xxh3(key) % SHARDS`), behind that shard's mutex;
//!   nothing awaits while holding it.
//! - Every slot has a process-unique `id`; code that locks several shards at once (one
//!   atomic multi-rule check) locks them in `(id, shard)` order, so it cannot deadlock.
//! - A bucket that has drained to 0 is the same as an absent one, so evicting it loses
//!   nothing. A shard sweeps drained buckets whenever it has doubled since its last sweep,
//!   so memory stays within twice the keys active in the last period.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::Unit;
use crate::gcra::Gcra;

/// Shards per rule: enough that 2 cores rarely meet on one lock.
const SHARDS: usize = 16;
/// A shard is swept no earlier than when it holds this many buckets.
const MIN_SWEEP: usize = 64;

/// One rule's buckets.
pub(crate) struct Slot {
    /// Process-unique; orders lock acquisition.
    pub id: u64,
    /// The rule's name.
    pub name: Arc<str>,
    /// What the rule counts.
    pub unit: Unit,
    shards: Box<[Mutex<Shard>]>,
}

/// One bucket's state: `level` units outstanding at `at` µs (the backend's clock).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Level {
    pub level: f64,
    pub at: f64,
}

/// Part of a slot's keys.
pub(crate) struct Shard {
    buckets: HashMap<Box<str>, Level>,
    /// Sweep drained buckets when `buckets.len()` reaches this.
    sweep_at: usize,
}

// === impl Slot ===

impl Slot {
    /// An empty slot for rule `name`.
    pub fn new(name: Arc<str>, unit: Unit) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let shards = (0..SHARDS).map(|_| Mutex::new(Shard { buckets: HashMap::new(), sweep_at: MIN_SWEEP })).collect();
        Self { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), name, unit, shards }
    }

    /// The shard index of `key`.
    pub fn shard_of(&self, key: &str) -> usize {
        (xxhash_rust::xxh3::xxh3_64(key.as_bytes()) % SHARDS as u64) as usize
    }

    /// Locks shard `index` (taken modulo the shard count). A poisoned lock is recovered:
    /// a shard holds plain numbers that no panic can leave half-written.
    pub fn lock(&self, index: usize) -> MutexGuard<'_, Shard> {
        self.shards[index % SHARDS].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sets `key`'s level as observed at `now` (the Redis mirror).
    pub fn observe(&self, key: &str, level: f64, now: f64, gcra: &Gcra) {
        self.lock(self.shard_of(key)).set(key, Level { level, at: now }, now, gcra);
    }

    /// Every key with a non-zero level at `now`, drained with `gcra`: `(key, level)`.
    pub fn usage(&self, now: f64, gcra: &Gcra) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        for index in 0..SHARDS {
            let shard = self.lock(index);
            for (key, state) in &shard.buckets {
                let level = gcra.drained(state.level, now - state.at);
                if level > 0.0 {
                    out.push((key.to_string(), level));
                }
            }
        }
        out
    }

    /// Removes every drained bucket (a periodic sweep; inserts also sweep as they grow).
    pub fn sweep(&self, now: f64, gcra: &Gcra) {
        for index in 0..SHARDS {
            self.lock(index).sweep(now, gcra);
        }
    }

    /// Buckets held, drained or not.
    pub fn len(&self) -> usize {
        (0..SHARDS).map(|i| self.lock(i).buckets.len()).sum()
    }
}

// === impl Shard ===

impl Shard {
    /// `key`'s level at `now`, drained with `gcra` (0 when absent).
    pub fn level(&self, key: &str, now: f64, gcra: &Gcra) -> f64 {
        self.buckets.get(key).map_or(0.0, |s| gcra.drained(s.level, now - s.at))
    }

    /// Stores `key`'s state; a zero level removes the bucket.
    pub fn set(&mut self, key: &str, state: Level, now: f64, gcra: &Gcra) {
        if state.level <= 0.0 {
            self.buckets.remove(key);
            return;
        }
        if let Some(slot) = self.buckets.get_mut(key) {
            *slot = state;
            return;
        }
        if self.buckets.len() >= self.sweep_at {
            self.sweep(now, gcra);
        }
        self.buckets.insert(key.into(), state);
    }

    fn sweep(&mut self, now: f64, gcra: &Gcra) {
        self.buckets.retain(|_, s| gcra.drained(s.level, now - s.at) > 0.0);
        self.sweep_at = (self.buckets.len() * 2).max(MIN_SWEEP);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn drained_buckets_are_evicted_as_the_shard_grows() {
        let slot = Slot::new("r".into(), Unit::Requests);
        let gcra = Gcra::new(1, Duration::from_secs(1), 1);
        // 10,000 keys each charged once at t=0, then 10,000 more 2 s later: the first
        // batch has drained by then and is swept, so the slot never holds both.
        for i in 0..10_000 {
            slot.observe(&format!("a{i}"), 1.0, 0.0, &gcra);
        }
        assert_eq!(slot.len(), 10_000);
        for i in 0..10_000 {
            slot.observe(&format!("b{i}"), 1.0, 2e6, &gcra);
        }
        assert!(slot.len() < 14_000, "held {}", slot.len());
        assert_eq!(slot.usage(2e6, &gcra).len(), 10_000);
        slot.sweep(4e6, &gcra);
        assert_eq!(slot.len(), 0);
    }
}
