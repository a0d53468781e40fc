//! Latency distribution of a 3-rule check at 2,000 checks/s (the issue's load), open loop:
//! one check is started every 500 µs whether or not earlier ones finished, for 5 s per
//! backend, and each check's own latency is recorded. A plain `PING` through a connection
//! manager at the same pace is the floor any Redis-based check has on this machine. The check runs in series on a
//! request's path, so its p99 is the p99 it adds (goal: ≤ 0.1 ms `local`, ≤ 0.3 ms `redis`).
//!
//! `cargo bench -p switchyard-ratelimit --bench check_p99`; the `redis` half needs
//! `SWITCHYARD_TEST_REDIS_URL` (see `check.rs`) and is skipped with a note without it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use switchyard_ratelimit::{Charge, Limiter, RateLimitsConfig, Subject};

const RULES: &str = r#"
rules:
  - { name: client-rps, scope: client, each: true, requests: 1000000000, per: second }
  - { name: acme-tps, scope: tenant, match: acme, tokens: 1000000000000, per: second }
  - { name: bot-rps, scope: group, match: support-bot, requests: 1000000000, per: second }
"#;
const RATE_PER_S: u64 = 2_000;
const RUN: Duration = Duration::from_secs(5);

fn limiter(header: &str) -> Limiter {
    let cfg: RateLimitsConfig = serde_yaml_ng::from_str(&format!("{header}{RULES}")).expect("bench config");
    Limiter::new(&cfg, None, &prometheus::Registry::new()).expect("limiter")
}

/// Runs the paced load of `check(i)` and prints its latency percentiles.
async fn run<F, Fut>(name: &str, check: F)
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let histogram = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).expect("histogram")));
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE_PER_S));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::new();
    let started = Instant::now();
    let mut i = 0u64;
    while started.elapsed() < RUN {
        tick.tick().await;
        i += 1;
        let (check, histogram) = (check.clone(), histogram.clone());
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            check(i).await;
            let took = t.elapsed();
            let _ = histogram.lock().expect("histogram").record(took.as_nanos() as u64);
        }));
    }
    for task in tasks {
        task.await.expect("check");
    }
    let h = histogram.lock().expect("histogram");
    let us = |q: f64| h.value_at_quantile(q) as f64 / 1e3;
    println!(
        "{name} at {RATE_PER_S}/s: n={} p50={:.1}µs p90={:.1}µs p99={:.1}µs p99.9={:.1}µs max={:.1}µs",
        h.len(),
        us(0.5),
        us(0.9),
        us(0.99),
        us(0.999),
        h.max() as f64 / 1e3
    );
}

/// One 3-rule check with a 1,000-token estimate, settled (without waiting) at 800.
fn three_rules(
    limiter: Limiter,
) -> impl Fn(u64) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Clone {
    move |i| {
        let limiter = limiter.clone();
        Box::pin(async move {
            let client = format!("client-{}", i % 64);
            let who = Subject {
                client: Some(&client),
                tenant: Some("acme"),
                group: Some("support-bot"),
                ..Subject::default()
            };
            let grant = limiter.acquire(&who, Charge::Request, 1_000).await.expect("admitted");
            grant.reservation.settle_detached(800);
        })
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        run("ratelimit_3_rules/local", three_rules(limiter("backend: local\n"))).await;
        match std::env::var("SWITCHYARD_TEST_REDIS_URL") {
            Ok(url) if !url.is_empty() => {
                let header = format!(
                    "backend: redis\nredis: {{ url: \"{url}\", key_prefix: \"sy-bench\", timeout_ms: 1000 }}\n"
                );
                // The floor on this machine: one PING round trip through a connection manager.
                let client = redis::Client::open(url.as_str()).expect("redis url");
                let conn = redis::aio::ConnectionManager::new(client).await.expect("redis");
                run("redis_ping_baseline", move |_| {
                    let mut conn = conn.clone();
                    async move {
                        let _: String = redis::cmd("PING").query_async(&mut conn).await.expect("ping");
                    }
                })
                .await;
                let redis = limiter(&header);
                tokio::time::sleep(Duration::from_millis(200)).await;
                run("ratelimit_3_rules/redis", three_rules(redis)).await;
            }
            _ => eprintln!("ratelimit bench: SWITCHYARD_TEST_REDIS_URL is not set; skipping the redis backend"),
        }
    });
}
