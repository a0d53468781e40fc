//! Concurrent streaming-like token reservations: many tasks reserve an estimate, "stream"
//! for a few ms, and settle with a usage at most the estimate, until the budget is spent.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_ratelimit::{Charge, Limiter, Subject};

/// What the tasks spent.
#[derive(Debug)]
pub struct Report {
    /// Tokens actually used by admitted calls (their settled usage).
    pub spent: u64,
    pub admitted: usize,
    pub refused: usize,
    pub elapsed: Duration,
}

/// Runs `tasks` tasks, each reserving `estimate` tokens per call for tenant `acme`, until
/// each has been refused 100 times in a row (so every freed token has been offered again).
pub async fn hammer(limiter: &Limiter, tasks: usize, estimate: u64) -> Report {
    let spent = Arc::new(AtomicU64::new(0));
    let admitted = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut handles = Vec::new();
    for task in 0..tasks {
        let (limiter, spent, admitted, refused) = (limiter.clone(), spent.clone(), admitted.clone(), refused.clone());
        handles.push(tokio::spawn(async move {
            let who = Subject { tenant: Some("acme"), ..Subject::default() };
            let mut rng = 0x9E37_79B9_7F4A_7C15_u64 ^ (task as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            let mut next = move || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            let mut in_a_row = 0;
            while in_a_row < 100 {
                match limiter.acquire(&who, Charge::Request, estimate).await {
                    Ok(grant) => {
                        in_a_row = 0;
                        admitted.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(1 + next() % 5)).await;
                        let actual = estimate / 4 + next() % (estimate - estimate / 4 + 1);
                        spent.fetch_add(actual, Ordering::Relaxed);
                        grant.reservation.settle(actual).await;
                    }
                    Err(_) => {
                        in_a_row += 1;
                        refused.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }
        }));
    }
    for handle in handles {
        handle.await.expect("task");
    }
    Report {
        spent: spent.load(Ordering::Relaxed),
        admitted: admitted.load(Ordering::Relaxed),
        refused: refused.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    }
}

impl Report {
    /// Spent within one estimate of a per-day `limit` (plus what refilled meanwhile), and
    /// the budget really used (more than `limit - estimate`, so the check is not vacuous).
    pub fn check(&self, limit: u64, estimate: u64) {
        let refilled = (self.elapsed.as_secs_f64() * limit as f64 / 86_400.0).ceil() as u64;
        eprintln!("streaming reservations: {self:?}, refilled {refilled}");
        assert!(self.spent <= limit + refilled + estimate, "overspent: {self:?}");
        assert!(self.spent > limit - estimate, "budget left unused: {self:?}");
        assert!(self.refused >= 100, "{self:?}");
    }
}
