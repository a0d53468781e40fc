//! The background task that holds this replica's leases.
//!
//! Every `ttl / 3` it renews the leases it holds and competes for the free ones (one
//! atomic statement each, see `leases.rs`), from start-up on. [`LeaseHandle::is_held`] is
//! one atomic load and a clock read, cheap enough for any loop.
//!
//! Invariants:
//! - a lease counts as held only until this replica's own estimate of its end: the
//!   remaining time the server reported (`expires_at - server_now`), counted from *before*
//!   the request was sent. Network and queueing delay only make the estimate earlier, so
//!   this replica stops believing it holds a lease no later than the server frees it;
//! - when the store is unreachable or slow, nothing is renewed and leases lapse on their
//!   own at that estimate — no request needs to fail for `is_held` to turn false;
//! - `switchyard_lease_held{lease}` (in the registry passed in) is 1 while held, 0 else,
//!   updated every tick; all three labels exist from start-up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use prometheus::{IntGaugeVec, Opts, Registry};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::StateError;
use crate::leases::{LeaseName, Leases};

/// How a [`LeaseKeeper`] runs.
#[derive(Debug, Clone)]
pub struct LeaseKeeperOptions {
    /// This replica's holder id (its replica id).
    pub holder: String,
    /// Lease length; renewed every `ttl / 3`. Default 10 s, so a dead holder is replaced
    /// within about 13 s (SPEC §7: 15 s).
    pub ttl: Duration,
    /// The leases to compete for. Default all of [`LeaseName::ALL`].
    pub leases: Vec<LeaseName>,
}

/// Cheap, cloneable view of what a [`LeaseKeeper`] holds.
#[derive(Debug, Clone)]
pub struct LeaseHandle {
    shared: Arc<Shared>,
}

/// Owns the heartbeat task; dropping it stops the task (leases then lapse at their ttl),
/// [`LeaseKeeper::shutdown`] also releases them at once.
#[derive(Debug)]
pub struct LeaseKeeper {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    leases: Leases,
}

#[derive(Debug)]
struct Shared {
    base: Instant,
    holder: String,
    slots: Vec<Slot>,
}

#[derive(Debug)]
struct Slot {
    name: LeaseName,
    /// Milliseconds since `base` until which the lease is ours; 0 = not held.
    held_until: AtomicU64,
    /// Fencing token of our holding (meaningful while held).
    token: AtomicU64,
}

// === impl LeaseKeeperOptions ===

impl LeaseKeeperOptions {
    /// All leases for `holder` with a 10 s ttl.
    pub fn new(holder: impl Into<String>) -> Self {
        Self { holder: holder.into(), ttl: Duration::from_secs(10), leases: LeaseName::ALL.to_vec() }
    }
}

// === impl LeaseKeeper ===

impl LeaseKeeper {
    /// Registers `switchyard_lease_held{lease}` in `registry` and starts competing at once.
    pub fn start(leases: Leases, options: LeaseKeeperOptions, registry: &Registry) -> Result<Self, StateError> {
        if options.holder.is_empty() {
            return Err(StateError::invalid("holder", "must not be empty"));
        }
        if options.ttl < Duration::from_millis(30) {
            return Err(StateError::invalid("ttl", "must be at least 30 ms"));
        }
        let gauge = IntGaugeVec::new(
            Opts::new("switchyard_lease_held", "1 while this replica holds the lease, else 0"),
            &["lease"],
        )?;
        for name in LeaseName::ALL {
            gauge.with_label_values(&[name.as_str()]).set(0);
        }
        registry.register(Box::new(gauge.clone()))?;
        let mut names = options.leases.clone();
        names.sort();
        names.dedup();
        let slots = names
            .into_iter()
            .map(|name| Slot { name, held_until: AtomicU64::new(0), token: AtomicU64::new(0) })
            .collect();
        let shared = Arc::new(Shared { base: Instant::now(), holder: options.holder.clone(), slots });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(leases.clone(), Arc::clone(&shared), options.ttl, gauge, stopped));
        Ok(Self { shared, stop, task: Some(task), leases })
    }

    /// A cheap handle for [`LeaseHandle::is_held`].
    pub fn handle(&self) -> LeaseHandle {
        LeaseHandle { shared: Arc::clone(&self.shared) }
    }

    /// Whether this replica holds `name` now.
    pub fn is_held(&self, name: LeaseName) -> bool {
        self.shared.is_held(name)
    }

    /// Stops heartbeating and releases what is held (each release bounded by 2 s), so
    /// another replica can take over without waiting for the ttl.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        for slot in &self.shared.slots {
            if self.shared.is_held(slot.name) {
                slot.held_until.store(0, Ordering::Release);
                let release = self.leases.release(slot.name, &self.shared.holder);
                match tokio::time::timeout(Duration::from_secs(2), release).await {
                    Ok(Ok(_)) => tracing::info!(lease = slot.name.as_str(), "lease released"),
                    Ok(Err(error)) => tracing::warn!(lease = slot.name.as_str(), %error, "lease not released"),
                    Err(_) => tracing::warn!(lease = slot.name.as_str(), "lease release timed out"),
                }
            }
        }
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

// === impl LeaseHandle ===

impl LeaseHandle {
    /// Whether this replica holds `name` now (false for a lease it does not compete for).
    pub fn is_held(&self, name: LeaseName) -> bool {
        self.shared.is_held(name)
    }

    /// The fencing token of this replica's holding of `name`, while held.
    pub fn token(&self, name: LeaseName) -> Option<u64> {
        let slot = self.shared.slot(name)?;
        self.shared.is_held(name).then(|| slot.token.load(Ordering::Acquire))
    }

    /// This replica's holder id.
    pub fn holder(&self) -> &str {
        &self.shared.holder
    }
}

// === impl Shared ===

impl Shared {
    fn slot(&self, name: LeaseName) -> Option<&Slot> {
        self.slots.iter().find(|s| s.name == name)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn is_held(&self, name: LeaseName) -> bool {
        self.slot(name).is_some_and(|s| self.now_ms() < s.held_until.load(Ordering::Acquire))
    }
}

/// The heartbeat loop: one round at once, then every `ttl / 3` until stopped.
async fn run(
    leases: Leases,
    shared: Arc<Shared>,
    ttl: Duration,
    gauge: IntGaugeVec,
    mut stopped: watch::Receiver<bool>,
) {
    let period = ttl / 3;
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stopped.changed() => return,
        }
        // All leases at once, so one slow lease does not delay the others' renewal.
        let was_held: Vec<bool> = shared.slots.iter().map(|s| shared.is_held(s.name)).collect();
        join_all(shared.slots.iter().map(|slot| round(&leases, &shared, slot, ttl, period))).await;
        for (slot, was_held) in shared.slots.iter().zip(was_held) {
            let held = shared.is_held(slot.name);
            gauge.with_label_values(&[slot.name.as_str()]).set(i64::from(held));
            if held != was_held {
                tracing::info!(lease = slot.name.as_str(), holder = %shared.holder, held, "lease changed hands");
            }
        }
    }
}

/// One acquire-or-renew of `slot`, bounded by `limit`.
async fn round(leases: &Leases, shared: &Shared, slot: &Slot, ttl: Duration, limit: Duration) {
    let sent_ms = shared.now_ms();
    let attempt = leases.try_acquire_or_renew(slot.name, &shared.holder, ttl);
    match tokio::time::timeout(limit, attempt).await {
        Ok(Ok(state)) if state.held => {
            let remaining = u64::try_from(state.expires_at_ms.saturating_sub(state.server_now_ms)).unwrap_or(0);
            slot.token.store(state.token, Ordering::Release);
            slot.held_until.store(sent_ms.saturating_add(remaining), Ordering::Release);
        }
        Ok(Ok(_)) => slot.held_until.store(0, Ordering::Release),
        // Unreachable or slow: renew nothing, the lease lapses at its estimate. Loud only
        // while a held lease is at stake; a replica that holds nothing just keeps trying.
        failed => {
            let error = match failed {
                Ok(Err(e)) => e.to_string(),
                _ => format!("no answer within {} ms", limit.as_millis()),
            };
            if shared.is_held(slot.name) {
                tracing::warn!(lease = slot.name.as_str(), %error, "lease not renewed; it lapses unless the store answers");
            } else {
                tracing::debug!(lease = slot.name.as_str(), %error, "lease not acquired");
            }
        }
    }
}
