//! A Redis outage and a slow Redis (issue 16): each `on_error` policy is honoured, no check
//! waits longer than the timeout (plus scheduling slack on a shared 2-core machine), and
//! checks are counted again once Redis answers. Each test runs its own private server
//! (`scripts/redis.sh` on its own port) so stopping it disturbs no other test.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use switchyard_ratelimit::{Charge, Limiter};

const TIMEOUT: Duration = Duration::from_millis(50);
/// Tokio timer granularity and a loaded machine's scheduling on top of the timeout.
const SLACK: Duration = Duration::from_millis(50);

/// One limiter per policy against `url`, a generous rule so only Redis can refuse.
fn pair(url: &str, test: &str) -> [(Limiter, prometheus::Registry); 2] {
    ["allow", "deny"].map(|policy| {
        let header = redis_header(url, test, &format!(", on_error: {policy}, timeout_ms: {}", TIMEOUT.as_millis()));
        limiter(&format!("{header}rules:\n  - {{ name: rps, scope: client, requests: 100000, per: second }}\n"))
    })
}

/// Checks both limiters every 2 ms for `period`: (allowed unchecked, denied, checked, slowest).
async fn checks(pair: &[(Limiter, prometheus::Registry); 2], period: Duration) -> (usize, usize, usize, Duration) {
    let (mut unchecked, mut denied, mut checked, mut slowest) = (0, 0, 0, Duration::ZERO);
    let who = everyone("web-app");
    let until = Instant::now() + period;
    while Instant::now() < until {
        for (i, (limiter, _)) in pair.iter().enumerate() {
            let started = Instant::now();
            let result = limiter.acquire(&who, Charge::Request, 0).await;
            slowest = slowest.max(started.elapsed());
            match (i, result) {
                (_, Ok(grant)) if !grant.unchecked => checked += 1,
                (0, Ok(_)) => unchecked += 1,
                (1, Err(limited)) => {
                    assert!(limited.rule.is_none() && limited.retry_after == Duration::from_secs(1), "{limited:?}");
                    denied += 1;
                }
                (i, other) => panic!("limiter {i}: {other:?}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    (unchecked, denied, checked, slowest)
}

/// Waits until both limiters check again; returns how long that took.
async fn recovery(pair: &[(Limiter, prometheus::Registry); 2]) -> Duration {
    let started = Instant::now();
    let who = everyone("web-app");
    loop {
        let mut up = 0;
        for (limiter, _) in pair {
            if matches!(limiter.acquire(&who, Charge::Request, 0).await, Ok(grant) if !grant.unchecked) {
                up += 1;
            }
        }
        if up == 2 {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no recovery within 10 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn errors(pair: &[(Limiter, prometheus::Registry); 2]) -> (f64, f64) {
    let get = |registry, outcome: &str| {
        metric(registry, &format!("switchyard_rate_limit_backend_errors_total{{outcome=\"{outcome}\"}}")).unwrap()
    };
    (get(&pair[0].1, "allowed"), get(&pair[1].1, "denied"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_honours_each_policy_stalls_no_check_and_recovers() {
    let _ = redis_url();
    let server = Arc::new(tokio::task::spawn_blocking(|| PrivateRedis::start(16391)).await.unwrap());
    let limiters = pair(&server.url(), "outage");
    let (unchecked, denied, checked, slowest) = checks(&limiters, Duration::from_millis(300)).await;
    assert_eq!((unchecked, denied), (0, 0), "Redis is up");
    assert!(checked > 0 && slowest < TIMEOUT, "{checked} checks, slowest {slowest:?}");

    let stopping = server.clone();
    tokio::task::spawn_blocking(move || stopping.script("stop")).await.unwrap();
    let (unchecked, denied, checked, slowest) = checks(&limiters, Duration::from_millis(1_500)).await;
    eprintln!("outage: {unchecked} allowed unchecked, {denied} denied, {checked} checked, slowest {slowest:?}");
    assert!(unchecked > 100 && denied > 100 && checked == 0, "{unchecked} {denied} {checked}");
    assert!(slowest <= TIMEOUT + SLACK, "a check waited {slowest:?}");
    assert!(limiters.iter().all(|(l, _)| !l.backend_up()));
    assert_eq!(errors(&limiters), (unchecked as f64, denied as f64));

    let starting = server.clone();
    tokio::task::spawn_blocking(move || starting.script("start")).await.unwrap();
    let took = recovery(&limiters).await;
    eprintln!("outage: counted again {took:?} after Redis answered");
    assert!(limiters.iter().all(|(l, _)| l.backend_up()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_redis_never_stalls_a_check_past_the_timeout() {
    let _ = redis_url();
    let server = tokio::task::spawn_blocking(|| PrivateRedis::start(16392)).await.unwrap();
    let limiters = pair(&server.url(), "slow");
    checks(&limiters, Duration::from_millis(100)).await;
    // CLIENT PAUSE holds every client's commands for 800 ms: a server that answers late.
    let mut admin = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CLIENT").arg("PAUSE").arg(800).arg("ALL").query_async(&mut admin).await.unwrap();
    let (unchecked, denied, checked, slowest) = checks(&limiters, Duration::from_millis(500)).await;
    eprintln!("slow: {unchecked} allowed unchecked, {denied} denied, {checked} checked, slowest {slowest:?}");
    assert!(unchecked > 10 && denied > 10 && checked == 0, "{unchecked} {denied} {checked}");
    assert!(slowest <= TIMEOUT + SLACK, "a check waited {slowest:?}");
    let took = recovery(&limiters).await;
    eprintln!("slow: counted again {took:?} after the pause began to end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_down_at_start_up_gets_the_policy_from_the_first_check_and_is_used_once_up() {
    let _ = redis_url();
    const PORT: u16 = 16393;
    let limiters = pair(&format!("redis://127.0.0.1:{PORT}"), "late");
    let (unchecked, denied, checked, slowest) = checks(&limiters, Duration::from_millis(300)).await;
    assert!(unchecked > 10 && denied > 10 && checked == 0, "{unchecked} {denied} {checked}");
    assert!(slowest <= TIMEOUT + SLACK, "a check waited {slowest:?}");
    let _server = tokio::task::spawn_blocking(|| PrivateRedis::start(PORT)).await.unwrap();
    let took = recovery(&limiters).await;
    eprintln!("late: counted {took:?} after Redis first answered");
}
