//! Per-member resilience state that outlives routing-table swaps: circuit breakers
//! ([`breaker`]), retry budgets ([`budget`]) and mirror (shadow) slots.
//!
//! State is keyed by names — (group, member) for breakers, group for budgets and mirror
//! slots — so a reload that keeps a member keeps its breaker; the *policy* (window,
//! thresholds) is read from the current table on every call. A member removed from the
//! config leaves a small idle entry behind (bounded by the names ever configured). Maps
//! are read-locked on the hot path and write-locked only the first time a name is seen.

pub mod breaker;
pub mod budget;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use prometheus::{IntGaugeVec, Opts, Registry};
use switchyard_config::schema::RetriesConfig;
use tokio::sync::Semaphore;

pub use breaker::Breaker;
pub use budget::{retry_wait, RetryBudget};

/// Breakers, budgets and mirror slots of one gateway.
pub struct Resilience {
    breakers: RwLock<HashMap<String, HashMap<String, Arc<Breaker>>>>,
    budgets: RwLock<HashMap<String, Arc<RetryBudget>>>,
    mirrors: RwLock<HashMap<String, (usize, Arc<Semaphore>)>>,
    circuit_open: IntGaugeVec,
}

// === impl Resilience ===

impl Resilience {
    /// Empty state; registers `switchyard_circuit_open{group,member}` in `registry`.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let circuit_open = IntGaugeVec::new(
            Opts::new("switchyard_circuit_open", "1 while a member's circuit breaker is open or half-open."),
            &["group", "member"],
        )?;
        registry.register(Box::new(circuit_open.clone()))?;
        Ok(Self { breakers: RwLock::default(), budgets: RwLock::default(), mirrors: RwLock::default(), circuit_open })
    }

    /// The breaker of `member` in `group`.
    pub fn breaker(&self, group: &str, member: &str) -> Arc<Breaker> {
        if let Some(b) = self.breakers.read().get(group).and_then(|g| g.get(member)) {
            return b.clone();
        }
        let mut all = self.breakers.write();
        all.entry(group.to_owned())
            .or_default()
            .entry(member.to_owned())
            .or_insert_with(|| {
                let gauge = self.circuit_open.with_label_values(&[group, member]);
                gauge.set(0);
                Arc::new(Breaker::new(gauge, group, member))
            })
            .clone()
    }

    /// The retry budget of `group` (created full).
    pub fn budget(&self, group: &str, policy: &RetriesConfig) -> Arc<RetryBudget> {
        if let Some(b) = self.budgets.read().get(group) {
            return b.clone();
        }
        self.budgets.write().entry(group.to_owned()).or_insert_with(|| Arc::new(RetryBudget::new(policy))).clone()
    }

    /// The mirror slots of `group`; replaced (fresh) when the configured capacity changes.
    pub fn mirror_slots(&self, group: &str, capacity: usize) -> Arc<Semaphore> {
        if let Some((cap, s)) = self.mirrors.read().get(group) {
            if *cap == capacity {
                return s.clone();
            }
        }
        let mut all = self.mirrors.write();
        let entry = all.entry(group.to_owned()).or_insert_with(|| (capacity, Arc::new(Semaphore::new(capacity))));
        if entry.0 != capacity {
            *entry = (capacity, Arc::new(Semaphore::new(capacity)));
        }
        entry.1.clone()
    }
}
