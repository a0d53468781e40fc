//! Which data-plane worker a thread is. The data plane runs one single-threaded runtime
//! per worker thread (`gateway::listen::cores`); what a request uses that holds a
//! connection task on some runtime — upstream pools, the rate limiter's Redis connection —
//! keeps one per worker and picks it by [`current`], so a request never wakes another
//! thread to use it.

use std::cell::Cell;
use std::num::NonZeroUsize;

thread_local! {
    static WORKER: Cell<Option<usize>> = const { Cell::new(None) };
}

/// This thread's worker index on a data-plane worker thread; `None` elsewhere (the
/// control plane's runtime, tests' runtimes).
pub fn current() -> Option<usize> {
    WORKER.with(Cell::get)
}

/// Marks this thread as data-plane worker `index` for the rest of its life.
pub fn enter(index: usize) {
    WORKER.with(|w| w.set(Some(index)));
}

/// How many data-plane workers run when not told otherwise: one per core this process
/// may use.
pub fn default_count() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

/// Which of `slots` per-worker things this thread uses: its worker's (several workers
/// share a slot when there are more workers than slots), or the last slot off the
/// workers. `slots` must be at least 2.
pub fn slot(slots: usize) -> usize {
    let shared = slots - 1;
    current().map_or(shared, |worker| worker % shared)
}
