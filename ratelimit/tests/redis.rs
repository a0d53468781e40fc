//! The `redis` backend against the real server of `scripts/redis.sh`: the same behaviour as
//! `local` (GCRA, all-or-nothing checks, reserve/settle, edits that keep usage), shared by
//! separate limiter instances as replicas share it. Each test writes under its own key
//! prefix. Time is real here (the server's clock), so spacing is checked with a margin.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use switchyard_ratelimit::{Charge, Limiter, Scope, Subject, Unit};

fn redis_limiter(test: &str, rules: &str) -> (Limiter, prometheus::Registry) {
    limiter(&format!("{}{rules}", redis_header(&redis_url(), test, ", timeout_ms: 500")))
}

#[tokio::test]
async fn redis_admits_exactly_burst_at_once_then_one_per_emission_interval() {
    let (limiter, _) = redis_limiter(
        "gcra",
        "rules:\n  - { name: rps, scope: client, each: true, requests: 10, per: second, burst: 5 }\n",
    );
    let who = everyone("web-app");
    let started = Instant::now();
    assert_eq!(admitted(&limiter, &who, Charge::Request, 20).await, 5);
    let limited = refused(limiter.acquire(&who, Charge::Request, 0).await);
    let spent = started.elapsed();
    assert_eq!((limited.rule.as_deref(), limited.unit), (Some("rps"), Some(Unit::Requests)));
    // 100 ms per request, less the time the 21 calls took.
    assert!(limited.retry_after <= Duration::from_millis(100), "{:?}", limited.retry_after);
    assert!(limited.retry_after + spent >= Duration::from_millis(99), "{:?} after {spent:?}", limited.retry_after);
    tokio::time::sleep(limited.retry_after + Duration::from_millis(2)).await;
    assert_eq!(admitted(&limiter, &who, Charge::Request, 5).await, 1, "one per interval");
}

#[tokio::test]
async fn redis_one_rule_over_charges_nothing_on_the_others() {
    let rules = r#"
rules:
  - { name: client-rpd, scope: client, each: true, requests: 100, per: day }
  - { name: acme-daily, scope: tenant, match: acme, tokens: 100000, per: day }
  - { name: bot-rpd, scope: group, requests: 2, per: day }
  - { name: openai-rpd, scope: provider, requests: 3, per: day }
"#;
    let (limiter, registry) = redis_limiter("atomic", rules);
    let who = everyone("web-app");
    for _ in 0..2 {
        granted(limiter.acquire(&who, Charge::Request, 1_000).await);
    }
    let limited = refused(limiter.acquire(&who, Charge::Request, 1_000).await);
    assert_eq!((limited.rule.as_deref(), limited.scope), (Some("bot-rpd"), Some(Scope::Group)));
    let elsewhere = Subject { group: None, ..who };
    let grant = granted(limiter.acquire(&elsewhere, Charge::Request, 0).await);
    assert_eq!(grant.quotas.requests.map(|q| (q.rule.to_string(), q.remaining)), Some(("client-rpd".into(), 97)));
    assert_eq!(grant.quotas.tokens.map(|q| q.remaining), Some(98_000), "the refused request reserved no tokens");
    for _ in 0..3 {
        granted(limiter.acquire(&elsewhere, Charge::RequestAndAttempt, 0).await);
    }
    let limited = refused(limiter.acquire(&elsewhere, Charge::RequestAndAttempt, 0).await);
    assert_eq!(limited.rule.as_deref(), Some("openai-rpd"));
    let grant = granted(limiter.acquire(&elsewhere, Charge::Request, 0).await);
    assert_eq!(grant.quotas.requests.map(|q| q.remaining), Some(93), "3 + 1 + 2 + 1 charged, the refusals not");
    assert_eq!(metric(&registry, r#"switchyard_rate_limited_total{rule="openai-rpd"}"#), Some(1.0));
    // This replica's mirror of the levels it saw, for GET /api/v1/rate-limits.
    let rows = limiter.busiest_keys(2);
    assert_eq!(
        rows.iter().map(|r| (r.rule.as_str(), r.used, r.limit)).collect::<Vec<_>>(),
        [("openai-rpd", 3, 3), ("bot-rpd", 2, 2)]
    ); // both full: more used first
}

#[tokio::test]
async fn redis_tokens_are_reserved_then_settled_refunded_or_charged_the_excess() {
    let (limiter, _) = redis_limiter("tokens", "rules:\n  - { name: tpd, scope: tenant, tokens: 1000, per: day }\n");
    let who = everyone("web-app");
    let grant = granted(limiter.acquire(&who, Charge::Request, 400).await);
    assert_eq!(tokens_remaining(&limiter, &who).await, 600);
    grant.reservation.settle(100).await;
    assert_eq!(tokens_remaining(&limiter, &who).await, 900);
    let grant = granted(limiter.acquire(&who, Charge::Request, 900).await);
    refused(limiter.acquire(&who, Charge::Request, 1).await);
    grant.reservation.refund().await;
    assert_eq!(tokens_remaining(&limiter, &who).await, 900);
    let grant = granted(limiter.acquire(&who, Charge::Request, 100).await);
    grant.reservation.settle(1_500).await;
    let limited = refused(limiter.acquire(&who, Charge::Request, 0).await);
    assert!((limited.retry_after.as_secs_f64() - 51_840.0).abs() < 2.0, "{:?}", limited.retry_after);
    // A detached settlement is written without the caller waiting (and lands shortly).
    let (limiter, _) =
        redis_limiter("tokens-detached", "rules:\n  - { name: tpd, scope: tenant, tokens: 1000, per: day }\n");
    let grant = granted(limiter.acquire(&who, Charge::Request, 500).await);
    grant.reservation.settle_detached(200);
    let deadline = Instant::now() + Duration::from_secs(2);
    while tokens_remaining(&limiter, &who).await != 800 {
        assert!(Instant::now() < deadline, "the detached settlement never landed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_concurrent_streaming_reservations_never_overspend_by_more_than_one_estimate() {
    let (limiter, _) =
        redis_limiter("streaming", "rules:\n  - { name: tpd, scope: tenant, tokens: 100000, per: day }\n");
    let report = common::streaming::hammer(&limiter, 8, 1_000).await;
    report.check(100_000, 1_000);
}

#[tokio::test]
async fn redis_an_edited_limit_keeps_its_usage_in_every_replica() {
    let url = redis_url();
    let header = redis_header(&url, "edit", "");
    let rules = |n: u64| format!("{header}rules:\n  - {{ name: rpd, scope: client, requests: {n}, per: day }}\n");
    let (a, _) = limiter(&rules(600));
    let who = everyone("web-app");
    assert_eq!(admitted(&a, &who, Charge::Request, 100).await, 100);
    // The same replica edited in place, and another replica started on the new config.
    a.update(&section(&rules(1_000)), None).unwrap();
    let (b, _) = limiter(&rules(1_000));
    for limiter in [&a, &b] {
        let grant = granted(limiter.acquire(&who, Charge::Request, 0).await);
        let quota = grant.quotas.requests.unwrap();
        assert_eq!(quota.limit, 1_000);
        assert!((897..=899).contains(&quota.remaining), "{quota:?}");
    }
}

#[test]
fn a_redis_limiter_outside_a_runtime_is_an_error_not_a_panic() {
    let yaml = format!("{}rules: []\n", redis_header("redis://127.0.0.1:1", "no-runtime", ""));
    let err = Limiter::new(&section(&yaml), None, &prometheus::Registry::new()).unwrap_err();
    assert_eq!(err.to_string(), "rate_limits.redis: the redis backend needs a tokio runtime");
}

#[test]
fn checks_are_send_so_any_server_task_can_await_them() {
    fn send<T: Send>(_: &T) {}
    let (limiter, _) = limiter("rules: []\n");
    let who = everyone("web-app");
    let check = limiter.acquire(&who, Charge::Request, 0);
    send(&check);
    let grant = tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(check).unwrap();
    send(&grant.reservation.settle(0));
}
