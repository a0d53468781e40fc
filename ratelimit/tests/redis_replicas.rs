//! Exactness across replicas (issue 16): three limiter instances, each with its own Redis
//! connection as separate replicas would have, × 8 concurrent tasks, hammer one client
//! rule; the admitted count must be within 1 % of what the rule allows.
//!
//! Scaling: the run is 600 requests/minute (burst 600) for 70 s, which admits
//! 600 + 70 s × 10/s = 1,300. This test divides time by 6 and keeps every count: the rule is
//! 600 per 10 s — `requests: 60, per: second, burst: 600` — hammered for 70/6 ≈ 11.67 s, which
//! again admits 600 + 11.67 s × 60/s = 1,300. `on_error: deny` with a 500 ms timeout, and zero
//! backend errors asserted, so no check is admitted unchecked.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use switchyard_ratelimit::{Charge, Limiter};

const REPLICAS: usize = 3;
const TASKS_PER_REPLICA: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_hammering_one_rule_admit_within_one_percent_of_it() {
    let yaml = format!(
        "{}rules:\n  - {{ name: client-rpm, scope: client, each: true, requests: 60, per: second, burst: 600 }}\n",
        redis_header(&redis_url(), "replicas", ", on_error: deny, timeout_ms: 500")
    );
    let replicas: Vec<(Limiter, prometheus::Registry)> = (0..REPLICAS).map(|_| limiter(&yaml)).collect();
    // Each replica connects on its own; let the connections come up before the clock starts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let window = Duration::from_secs_f64(70.0 / 6.0);
    let admitted = Arc::new(AtomicUsize::new(0));
    let checks = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (limiter, _) in &replicas {
        for _ in 0..TASKS_PER_REPLICA {
            let (limiter, admitted, checks) = (limiter.clone(), admitted.clone(), checks.clone());
            tasks.push(tokio::spawn(async move {
                let who = everyone("web-app");
                while started.elapsed() < window {
                    checks.fetch_add(1, Ordering::Relaxed);
                    if let Ok(grant) = limiter.acquire(&who, Charge::Request, 0).await {
                        assert!(!grant.unchecked);
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed();
    let admitted = admitted.load(Ordering::Relaxed) as f64;
    let expected = 600.0 + 60.0 * elapsed.as_secs_f64();
    let error = (admitted - expected) / expected;
    eprintln!(
        "replicas: {REPLICAS} × {TASKS_PER_REPLICA} tasks, {} checks in {elapsed:?}: admitted {admitted}, expected {expected:.1} \
         ({:+.3} %)",
        checks.load(Ordering::Relaxed),
        error * 100.0
    );
    for (_, registry) in &replicas {
        for outcome in ["allowed", "denied"] {
            let series = format!("switchyard_rate_limit_backend_errors_total{{outcome=\"{outcome}\"}}");
            assert_eq!(metric(registry, &series), Some(0.0), "{outcome}");
        }
    }
    assert!(checks.load(Ordering::Relaxed) as f64 > 3.0 * expected, "the rule was not hammered");
    assert!(error.abs() <= 0.01, "admitted {admitted}, expected {expected:.1}");
}
