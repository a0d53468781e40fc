//! The rate limiter's own latency, without the gateway: calls `Limiter::acquire` with the
//! load harness's three rules (`rl_yaml` in `benches/load/run.sh`: a group and a provider
//! requests rule, a member tokens rule, all far from their limits) at a fixed rate on one
//! current-thread runtime — the way a data-plane worker calls it — and prints the latency
//! percentiles of the calls as one JSON line.
//!
//! Run it alone, or beside a load harness target, to see what one backend call costs on
//! the machine as it is: with `--backend redis` every call is one `EVALSHA` round trip to
//! `--redis`, so its p99 is the least a request's p99 can grow by with the redis backend.
//! `--backend ping` sends a `PING` instead, paced the same way on the same kind of
//! connection: the machine's floor for any round trip to that Redis.
//!
//!   limiter-rtt --backend redis --redis redis://127.0.0.1:6390 --rate 2000 --duration 30

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use hdrhistogram::Histogram;
use switchyard_ratelimit::{Charge, Limiter, RateLimitsConfig, Subject};

#[derive(Parser)]
struct Args {
    /// `local`, `redis`, or `ping` (a bare `PING` round trip, no limiter).
    #[arg(long, default_value = "redis")]
    backend: String,
    /// The Redis URL (`--backend redis`).
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// Calls per second.
    #[arg(long, default_value_t = 2000)]
    rate: u32,
    /// Seconds measured (after one second of warm-up).
    #[arg(long, default_value_t = 30)]
    duration: u64,
}

/// The harness's rules (`rl_yaml`), never reached at any rate this tool can send.
fn rules(args: &Args) -> anyhow::Result<RateLimitsConfig> {
    let prefix = format!("switchyard-rtt:{}", std::process::id());
    let cfg = serde_json::json!({
        "backend": args.backend,
        "redis": { "url": args.redis, "key_prefix": prefix },
        "rules": [
            { "name": "bench-group-rps", "scope": "group", "match": "bench", "requests": 1_000_000, "per": "second" },
            { "name": "provider-rps", "scope": "provider", "each": true, "requests": 1_000_000, "per": "second" },
            { "name": "member-tpm", "scope": "member", "each": true, "tokens": 100_000_000_000u64, "per": "minute" },
        ],
    });
    serde_json::from_value(cfg).context("the rules do not parse")
}

/// What is timed: the limiter, or a bare `PING` to its Redis.
enum Target {
    Limiter(Limiter),
    Ping(redis::aio::MultiplexedConnection),
}

/// One timed call.
async fn call(target: &Target) -> bool {
    match target {
        Target::Limiter(limiter) => check(limiter).await,
        Target::Ping(conn) => redis::cmd("PING").query_async::<String>(&mut conn.clone()).await.is_ok(),
    }
}

/// One check as the data plane makes it for a request's first attempt.
async fn check(limiter: &Limiter) -> bool {
    let who =
        Subject { group: Some("bench"), provider: Some("fast-a"), member: Some("champion"), ..Subject::default() };
    match limiter.acquire(&who, Charge::RequestAndAttempt, 20).await {
        Ok(grant) => {
            grant.reservation.settle_detached(20);
            !grant.unchecked
        }
        Err(_) => false,
    }
}

/// Sends `rate` calls a second for `seconds`, each timed from its start (tokio's timer
/// wakes at most once a millisecond, so the calls due within one are started together);
/// returns the latencies and the calls that failed or were admitted unchecked.
async fn paced(limiter: &Rc<Target>, rate: u32, seconds: u64) -> (Histogram<u64>, u64) {
    let hist = Rc::new(RefCell::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds")));
    let failed = Rc::new(RefCell::new(0u64));
    let gap = Duration::from_secs_f64(1.0 / f64::from(rate));
    let start = tokio::time::Instant::now();
    let total = u64::from(rate) * seconds;
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + gap * i as u32;
        tokio::time::sleep_until(due).await;
        let (limiter, hist, failed) = (limiter.clone(), hist.clone(), failed.clone());
        tasks.push(tokio::task::spawn_local(async move {
            let began = Instant::now();
            let ok = call(&limiter).await;
            let micros = began.elapsed().as_micros() as u64;
            hist.borrow_mut().saturating_record(micros.max(1));
            if !ok {
                *failed.borrow_mut() += 1;
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let hist = hist.borrow().clone();
    let failed = *failed.borrow();
    (hist, failed)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.rate == 0 || args.duration == 0 {
        bail!("--rate and --duration must be > 0");
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        let limiter = Rc::new(if args.backend == "ping" {
            let client = redis::Client::open(args.redis.as_str())?;
            Target::Ping(client.get_multiplexed_async_connection().await?)
        } else {
            let cfg = rules(&args)?;
            Target::Limiter(Limiter::new(&cfg, None, &prometheus::Registry::new())?)
        });
        let began = Instant::now();
        while !call(&limiter).await {
            if began.elapsed() > Duration::from_secs(10) {
                bail!("the limiter's backend did not answer within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = paced(&limiter, args.rate, 1).await;
        let (hist, failed) = paced(&limiter, args.rate, args.duration).await;
        let line = serde_json::json!({
            "backend": args.backend,
            "rate": args.rate,
            "calls": hist.len(),
            "failed_or_unchecked": failed,
            "p50_us": hist.value_at_quantile(0.50),
            "p90_us": hist.value_at_quantile(0.90),
            "p99_us": hist.value_at_quantile(0.99),
            "p999_us": hist.value_at_quantile(0.999),
            "max_us": hist.max(),
        });
        println!("{line}");
        Ok(())
    })
}
