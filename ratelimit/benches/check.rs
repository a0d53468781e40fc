//! A 3-rule check (client requests per key, tenant tokens, group requests) on each backend:
//! `acquire` alone, and `acquire` + settling the token reservation.
//!
//! `cargo bench -p switchyard-ratelimit --bench check`. The `redis` half needs
//! `SWITCHYARD_TEST_REDIS_URL` (`scripts/redis.sh start`, then `eval "$(scripts/redis.sh env)"`)
//! and is skipped with a note without it. Limits are far above what a bench can reach, so
//! every check is admitted and does the full work.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use switchyard_ratelimit::{Charge, Limiter, RateLimitsConfig, Subject};

const RULES: &str = r#"
rules:
  - { name: client-rps, scope: client, each: true, requests: 1000000000, per: second }
  - { name: acme-tps, scope: tenant, match: acme, tokens: 1000000000000, per: second }
  - { name: bot-rps, scope: group, match: support-bot, requests: 1000000000, per: second }
"#;

fn limiter(header: &str) -> Limiter {
    let cfg: RateLimitsConfig = serde_yaml_ng::from_str(&format!("{header}{RULES}")).expect("bench config");
    Limiter::new(&cfg, None, &prometheus::Registry::new()).expect("limiter")
}

fn subject(i: u64) -> (String, Subject<'static>) {
    let client = format!("client-{}", i % 64);
    (client, Subject { client: None, tenant: Some("acme"), group: Some("support-bot"), ..Subject::default() })
}

fn bench_backend(c: &mut Criterion, name: &str, rt: &tokio::runtime::Runtime, limiter: &Limiter) {
    let mut group = c.benchmark_group(format!("ratelimit_3_rules/{name}"));
    let mut i = 0u64;
    group.bench_function("acquire", |b| {
        b.to_async(rt).iter(|| {
            i += 1;
            let (client, base) = subject(i);
            async move {
                let who = Subject { client: Some(&client), ..base };
                let grant = limiter.acquire(&who, Charge::Request, 1_000).await.expect("admitted");
                black_box(grant.quotas.requests.map(|q| q.remaining))
            }
        })
    });
    group.bench_function("acquire_and_settle", |b| {
        b.to_async(rt).iter(|| {
            i += 1;
            let (client, base) = subject(i);
            async move {
                let who = Subject { client: Some(&client), ..base };
                let grant = limiter.acquire(&who, Charge::Request, 1_000).await.expect("admitted");
                grant.reservation.settle(800).await;
            }
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let local = rt.block_on(async { limiter("backend: local\n") });
    bench_backend(c, "local", &rt, &local);
    match std::env::var("SWITCHYARD_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => {
            let header =
                format!("backend: redis\nredis: {{ url: \"{url}\", key_prefix: \"sy-bench\", timeout_ms: 1000 }}\n");
            let redis = rt.block_on(async {
                let limiter = limiter(&header);
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                limiter
            });
            bench_backend(c, "redis", &rt, &redis);
        }
        _ => eprintln!("ratelimit bench: SWITCHYARD_TEST_REDIS_URL is not set; skipping the redis backend"),
    }
}

criterion_group!(check, benches);
criterion_main!(check);
