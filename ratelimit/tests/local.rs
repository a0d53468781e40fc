//! The `local` backend, driven by paused tokio time so every count is exact: GCRA bursts and
//! spacing, no boundary bursts, all-or-nothing multi-rule checks, token reserve/settle,
//! edits that keep usage, per-key buckets and their eviction, metrics and busiest keys.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::Duration;

use common::*;
use switchyard_ratelimit::{Charge, Scope, Subject, Unit};
use tokio::time::advance;

const CLIENT_10_PER_S_BURST_5: &str =
    "rules:\n  - { name: rps, scope: client, each: true, requests: 10, per: second, burst: 5 }\n";

#[tokio::test(start_paused = true)]
async fn gcra_admits_exactly_burst_at_once_then_one_per_emission_interval() {
    let (limiter, _) = limiter(CLIENT_10_PER_S_BURST_5);
    let who = everyone("web-app");
    assert_eq!(admitted(&limiter, &who, Charge::Request, 20).await, 5, "burst 5 at once");
    let limited = refused(limiter.acquire(&who, Charge::Request, 0).await);
    assert_eq!(limited.retry_after, Duration::from_millis(100), "one emission interval");
    assert_eq!(
        (limited.rule.as_deref(), limited.scope, limited.unit),
        (Some("rps"), Some(Scope::Client), Some(Unit::Requests))
    );
    advance(Duration::from_millis(99)).await;
    assert_eq!(admitted(&limiter, &who, Charge::Request, 5).await, 0, "not before the interval");
    advance(Duration::from_millis(1)).await;
    assert_eq!(admitted(&limiter, &who, Charge::Request, 5).await, 1, "exactly one per interval");
    // Hammered every millisecond for 10 s: exactly one per 100 ms, no more.
    let mut ok = 0;
    for _ in 0..10_000 {
        advance(Duration::from_millis(1)).await;
        ok += admitted(&limiter, &who, Charge::Request, 3).await;
    }
    assert_eq!(ok, 100);
    // Idle for a second refills the burst, and no more than the burst.
    advance(Duration::from_secs(1)).await;
    assert_eq!(admitted(&limiter, &who, Charge::Request, 20).await, 5);
}

#[tokio::test(start_paused = true)]
async fn there_is_no_double_burst_at_a_window_boundary() {
    let (limiter, _) = limiter("rules:\n  - { name: rpm, scope: client, requests: 60, per: minute }\n");
    let who = everyone("web-app");
    // A fixed one-minute window would admit 60 at 0:59.999 and 60 more at 1:00.001.
    advance(Duration::from_millis(59_999)).await;
    assert_eq!(admitted(&limiter, &who, Charge::Request, 100).await, 60);
    advance(Duration::from_millis(2)).await;
    assert_eq!(admitted(&limiter, &who, Charge::Request, 100).await, 0, "no second burst across the boundary");
    // In any minute from here, at most 60 (one per second), wherever the minute starts.
    let mut per_second = Vec::new();
    for _ in 0..120 {
        advance(Duration::from_secs(1)).await;
        per_second.push(admitted(&limiter, &who, Charge::Request, 100).await);
    }
    assert!(per_second.iter().all(|&n| n <= 1), "{per_second:?}");
    assert!(per_second.windows(60).all(|w| w.iter().sum::<usize>() <= 60));
    assert_eq!(per_second.iter().sum::<usize>(), 120);
}

const THREE_SCOPES: &str = r#"
rules:
  - { name: client-rpm, scope: client, each: true, requests: 100, per: minute }
  - { name: acme-daily, scope: tenant, match: acme, tokens: 100000, per: day }
  - { name: bot-rpm, scope: group, match: support-bot, requests: 2, per: minute }
  - { name: openai-rpm, scope: provider, match: openai, requests: 3, per: minute }
"#;

/// `(rule, key) -> used` from the busiest keys.
fn used(limiter: &switchyard_ratelimit::Limiter, rule: &str, key: &str) -> u64 {
    limiter.busiest_keys(1_000).iter().find(|u| u.rule == rule && u.key == key).map_or(0, |u| u.used)
}

#[tokio::test(start_paused = true)]
async fn one_rule_over_charges_nothing_on_the_others() {
    let (limiter, registry) = limiter(THREE_SCOPES);
    let who = everyone("web-app");
    for _ in 0..2 {
        let grant = granted(limiter.acquire(&who, Charge::Request, 1_000).await);
        assert_eq!(grant.reservation.tokens(), 1_000);
    }
    let limited = refused(limiter.acquire(&who, Charge::Request, 1_000).await);
    assert_eq!(limited.rule.as_deref(), Some("bot-rpm"));
    assert_eq!(limited.quotas.requests.as_ref().map(|q| (&*q.rule, q.remaining)), Some(("bot-rpm", 0)));
    assert_eq!(limited.quotas.tokens.as_ref().map(|q| q.remaining), Some(98_000));
    // The refused request charged neither the client's requests nor the tenant's tokens.
    assert_eq!(used(&limiter, "client-rpm", "web-app"), 2);
    assert_eq!(used(&limiter, "acme-daily", ""), 2_000);
    assert_eq!(used(&limiter, "bot-rpm", ""), 2);

    // One call for a request's first attempt: the provider rule refuses the fourth, and
    // then the request-scope rules are not charged either.
    let elsewhere = Subject { group: Some("other-group"), ..who };
    for _ in 0..3 {
        granted(limiter.acquire(&elsewhere, Charge::RequestAndAttempt, 0).await);
    }
    let limited = refused(limiter.acquire(&elsewhere, Charge::RequestAndAttempt, 0).await);
    assert_eq!((limited.rule.as_deref(), limited.scope), (Some("openai-rpm"), Some(Scope::Provider)));
    assert_eq!(used(&limiter, "client-rpm", "web-app"), 5);
    assert_eq!(used(&limiter, "openai-rpm", ""), 3);
    // Request-only checks are not subject to provider rules, attempt-only ones not to client rules.
    granted(limiter.acquire(&elsewhere, Charge::Request, 0).await);
    refused(limiter.acquire(&elsewhere, Charge::Attempt, 0).await);
    assert_eq!(used(&limiter, "client-rpm", "web-app"), 6);
    assert_eq!(metric(&registry, r#"switchyard_rate_limited_total{rule="bot-rpm"}"#), Some(1.0));
    assert_eq!(metric(&registry, r#"switchyard_rate_limited_total{rule="openai-rpm"}"#), Some(2.0));
    assert_eq!(metric(&registry, r#"switchyard_rate_limited_total{rule="client-rpm"}"#), Some(0.0));
}

#[tokio::test(start_paused = true)]
async fn tokens_are_reserved_then_settled_refunded_or_charged_the_excess() {
    let (limiter, _) = limiter("rules:\n  - { name: tpd, scope: tenant, tokens: 1000, per: day }\n");
    let who = everyone("web-app");
    let grant = granted(limiter.acquire(&who, Charge::Request, 400).await);
    assert_eq!(grant.quotas.tokens.as_ref().map(|q| (q.limit, q.remaining)), Some((1_000, 600)));
    assert_eq!(tokens_remaining(&limiter, &who).await, 600, "the estimate is held while the call runs");
    grant.reservation.settle(100).await;
    assert_eq!(tokens_remaining(&limiter, &who).await, 900, "settled at the actual usage");

    let grant = granted(limiter.acquire(&who, Charge::Request, 900).await);
    let limited = refused(limiter.acquire(&who, Charge::Request, 1).await);
    assert_eq!(limited.unit, Some(Unit::Tokens));
    grant.reservation.refund().await;
    assert_eq!(tokens_remaining(&limiter, &who).await, 900, "a failed call is refunded in full");

    // A call that used more than its estimate is charged the excess: the debt refuses
    // everything, even a zero estimate, until it drains.
    let grant = granted(limiter.acquire(&who, Charge::Request, 100).await);
    grant.reservation.settle(1_500).await;
    let limited = refused(limiter.acquire(&who, Charge::Request, 0).await);
    // Level 1,600 of 1,000: 600 tokens at 1,000 per day drain in 0.6 days.
    assert!((limited.retry_after.as_secs_f64() - 51_840.0).abs() < 1.0, "{:?}", limited.retry_after);
    advance(limited.retry_after).await;
    assert_eq!(tokens_remaining(&limiter, &who).await, 0);

    // An estimate above the whole burst can never be admitted, and says so.
    let limited = refused(limiter.acquire(&who, Charge::Request, 1_001).await);
    assert!(limited.never && !limited.retryable());
}

#[tokio::test(start_paused = true)]
async fn an_edited_limit_keeps_its_usage_and_a_new_name_starts_afresh() {
    let (limiter, registry) = limiter("rules:\n  - { name: rpm, scope: client, requests: 600, per: minute }\n");
    let who = everyone("web-app");
    assert_eq!(admitted(&limiter, &who, Charge::Request, 100).await, 100);
    limiter.update(&section("rules:\n  - { name: rpm, scope: client, requests: 1000, per: minute }\n"), None).unwrap();
    let grant = granted(limiter.acquire(&who, Charge::Request, 0).await);
    assert_eq!(grant.quotas.requests.as_ref().map(|q| (q.limit, q.remaining)), Some((1_000, 899)));
    limiter.update(&section("rules:\n  - { name: rpm, scope: client, requests: 50, per: minute }\n"), None).unwrap();
    assert_eq!(admitted(&limiter, &who, Charge::Request, 10).await, 0, "101 used is over the new 50");
    limiter.update(&section("rules:\n  - { name: rpm-v2, scope: client, requests: 50, per: minute }\n"), None).unwrap();
    assert_eq!(admitted(&limiter, &who, Charge::Request, 100).await, 50);
    // Metrics follow the rules: the new one at 0 from the start, the removed one gone.
    assert_eq!(metric(&registry, r#"switchyard_rate_limited_total{rule="rpm-v2"}"#), Some(50.0));
    assert_eq!(metric(&registry, r#"switchyard_rate_limited_total{rule="rpm"}"#), None);
    // An invalid edit is refused and the last good rules keep working.
    let err = limiter.update(&section("rules:\n  - { name: x, scope: client, requests: 0, per: minute }\n"), None);
    assert_eq!(err.unwrap_err().to_string(), "rate_limits.rules[0].requests: must be between 1 and 1099511627776");
    assert_eq!(limiter.rule_names(), ["rpm-v2"]);
}

#[tokio::test(start_paused = true)]
async fn each_keeps_a_bucket_per_key_and_a_match_narrows_the_rule() {
    let yaml = r#"
rules:
  - { name: per-client, scope: client, each: true, requests: 2, per: minute }
  - { name: all-clients, scope: client, requests: 5, per: minute }
  - { name: one-member, scope: member, match: support-bot/gpt4o, requests: 1, per: minute }
"#;
    let (limiter, _) = limiter(yaml);
    for client in ["a", "b"] {
        assert_eq!(admitted(&limiter, &everyone(client), Charge::Request, 10).await, 2, "{client}");
    }
    // The shared bucket has 1 left after 4; the third client gets that one.
    assert_eq!(admitted(&limiter, &everyone("c"), Charge::Request, 10).await, 1);
    // No client key: no client rule applies.
    assert_eq!(admitted(&limiter, &Subject::default(), Charge::Request, 10).await, 10);
    // Member keys are group/member; only the matched member is limited.
    assert_eq!(admitted(&limiter, &everyone("a"), Charge::Attempt, 5).await, 1);
    let other = Subject { member: Some("llama-ft"), ..everyone("a") };
    assert_eq!(admitted(&limiter, &other, Charge::Attempt, 5).await, 5);
}

#[tokio::test(start_paused = true)]
async fn idle_keys_are_evicted_so_memory_stays_bounded() {
    let (limiter, _) = limiter(CLIENT_10_PER_S_BURST_5);
    let names: Vec<String> = (0..20_000).map(|i| format!("client-{i}")).collect();
    for name in &names[..10_000] {
        granted(limiter.acquire(&everyone(name), Charge::Request, 0).await);
    }
    assert_eq!(limiter.buckets_held(), 10_000);
    // A bucket drains 100 ms after one request; the next 10,000 keys sweep the old ones out.
    advance(Duration::from_millis(150)).await;
    for name in &names[10_000..] {
        granted(limiter.acquire(&everyone(name), Charge::Request, 0).await);
    }
    assert!(limiter.buckets_held() <= 10_000 + 16 * 1_024, "held {}", limiter.buckets_held());
    advance(Duration::from_millis(150)).await;
    limiter.sweep();
    assert_eq!(limiter.buckets_held(), 0);
}

#[tokio::test(start_paused = true)]
async fn busiest_keys_rank_by_share_of_the_limit_and_metrics_start_at_zero() {
    let (limiter, registry) = limiter(THREE_SCOPES);
    for _ in 0..3 {
        advance(Duration::from_secs(30)).await; // keep bot-rpm (2/min) from refusing
        granted(limiter.acquire(&everyone("heavy"), Charge::Request, 0).await);
    }
    for _ in 0..10 {
        let light = Subject { group: Some("other-group"), ..everyone("light") };
        granted(limiter.acquire(&light, Charge::Request, 0).await);
        advance(Duration::from_millis(1)).await;
    }
    // bot-rpm holds 1 of 2 (50 %), client-rpm "light" 10 of 100, "heavy" 1 of 100 (its
    // earlier requests have drained): ranked by share of the limit.
    let rows: Vec<_> = limiter.busiest_keys(10).into_iter().map(|r| (r.rule, r.key, r.used, r.limit)).collect();
    let row = |rule: &str, key: &str, used, limit| (rule.to_owned(), key.to_owned(), used, limit);
    assert_eq!(
        rows,
        [row("bot-rpm", "", 1, 2), row("client-rpm", "light", 10, 100), row("client-rpm", "heavy", 1, 100)]
    );
    assert_eq!(limiter.busiest_keys(1).len(), 1);
    for rule in ["client-rpm", "acme-daily", "bot-rpm", "openai-rpm"] {
        assert_eq!(
            metric(&registry, &format!("switchyard_rate_limited_total{{rule=\"{rule}\"}}")),
            Some(0.0),
            "{rule}"
        );
    }
    for outcome in ["allowed", "denied", "settle_lost"] {
        let series = format!("switchyard_rate_limit_backend_errors_total{{outcome=\"{outcome}\"}}");
        assert_eq!(metric(&registry, &series), Some(0.0), "{outcome}");
    }
    assert_eq!(metric(&registry, "switchyard_rate_limit_backend_up"), Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_streaming_reservations_never_overspend_by_more_than_one_estimate() {
    let (limiter, _) = limiter("rules:\n  - { name: tpd, scope: tenant, tokens: 100000, per: day }\n");
    let report = common::streaming::hammer(&limiter, 8, 1_000).await;
    report.check(100_000, 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_checks_over_two_rules_admit_exactly_the_tighter_total() {
    // 4 clients × 30 would be 120, but the shared rule allows 100: exactly 100 are admitted,
    // and the per-client buckets hold exactly those 100 (no charge from a refused check).
    let yaml = "rules:\n  - { name: per-client, scope: client, each: true, requests: 30, per: day }\n  - { name: shared, scope: tenant, requests: 100, per: day }\n";
    let (limiter, _) = limiter(yaml);
    let mut tasks = Vec::new();
    for task in 0..16 {
        let limiter = limiter.clone();
        tasks.push(tokio::spawn(async move {
            let client = format!("client-{}", task % 4);
            admitted(&limiter, &everyone(&client), Charge::Request, 200).await
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    assert_eq!(total, 100);
    let rows = limiter.busiest_keys(10);
    let per_client: u64 = rows.iter().filter(|r| r.rule == "per-client").map(|r| r.used).sum();
    assert_eq!(per_client, 100, "{rows:?}");
    assert!(rows.iter().filter(|r| r.rule == "per-client").all(|r| r.used <= 30), "{rows:?}");
}

#[tokio::test(start_paused = true)]
async fn a_burst_above_the_rate_is_the_limit_the_headers_show() {
    let (limiter, _) =
        limiter("rules:\n  - { name: bot-burst, scope: group, requests: 100, per: second, burst: 200 }\n");
    let who = everyone("web-app");
    let grant = granted(limiter.acquire(&who, Charge::Request, 0).await);
    let mut headers = http::HeaderMap::new();
    grant.quotas.write_headers(&mut headers);
    let get = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
    assert_eq!(
        (get("x-ratelimit-limit-requests"), get("x-ratelimit-remaining-requests")),
        ("200".into(), "199".into())
    );
    assert_eq!(get("x-ratelimit-reset-requests"), "10ms");
    assert_eq!(admitted(&limiter, &who, Charge::Request, 300).await, 199);
    advance(Duration::from_secs(1)).await;
    assert_eq!(admitted(&limiter, &who, Charge::Request, 300).await, 100);
}

#[tokio::test]
async fn counts_tokens_says_whether_a_tokens_rule_applies_to_a_subject() {
    let (limiter, _) = limiter(
        "rules:\n  - { name: rpm, scope: client, requests: 60, per: minute }\n  - { name: acme-tpd, scope: tenant, match: acme, tokens: 1000, per: day }\n  - { name: m-tpm, scope: member, match: support-bot/gpt4o, tokens: 1000, per: minute }\n",
    );
    let acme = everyone("web-app");
    let other = Subject { tenant: Some("globex"), ..acme };
    assert!(limiter.counts_tokens(&acme, Charge::Request));
    assert!(!limiter.counts_tokens(&other, Charge::Request), "the tenant rule matches acme only");
    assert!(limiter.counts_tokens(&other, Charge::Attempt), "the member rule matches gpt4o");
    assert!(limiter.counts_tokens(&other, Charge::RequestAndAttempt));
    let elsewhere = Subject { member: Some("llama"), ..other };
    assert!(!limiter.counts_tokens(&elsewhere, Charge::RequestAndAttempt));
}

#[tokio::test(start_paused = true)]
async fn a_combined_reservation_splits_so_a_failed_attempt_is_refunded_alone() {
    let (limiter, _) = limiter(
        "rules:\n  - { name: tenant-tpd, scope: tenant, tokens: 1000, per: day }\n  - { name: openai-tpd, scope: provider, tokens: 1000, per: day }\n",
    );
    let who = everyone("web-app");
    let mut grant = granted(limiter.acquire(&who, Charge::RequestAndAttempt, 300).await);
    let attempt = grant.reservation.split_attempt();
    assert_eq!((attempt.tokens(), grant.reservation.tokens()), (300, 300));
    attempt.refund().await;
    let remaining = |charge| {
        let limiter = limiter.clone();
        async move { granted(limiter.acquire(&who, charge, 0).await).quotas.tokens.map(|q| q.remaining) }
    };
    assert_eq!(remaining(Charge::Attempt).await, Some(1_000), "the failed attempt's provider is refunded");
    assert_eq!(remaining(Charge::Request).await, Some(700), "the request keeps its reservation");
    grant.reservation.settle(120).await;
    assert_eq!(remaining(Charge::Request).await, Some(880));
    // Nothing per attempt in a request-only reservation: the split is empty.
    let mut grant = granted(limiter.acquire(&who, Charge::Request, 10).await);
    assert!(grant.reservation.split_attempt().is_empty());
    grant.reservation.refund().await;
}
