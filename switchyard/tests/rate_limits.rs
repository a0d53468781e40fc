//! Rate limits and quotas on a running gateway (SPEC §11, issue 16), in-process against
//! fake providers on loopback: a client over its limit gets a 429 in its own format (OpenAI,
//! Anthropic, OIP) with `retry-after` and the `x-ratelimit-*` headers, is recorded as
//! `rate_limited` and counted per rule; successful answers carry the quotas; a challenger
//! over its provider's limit is served by the champion; retries are charged per attempt;
//! tokens are reserved, settled with the streamed usage (the stream is asked for it) and
//! refunded on failure.

use reqwest::StatusCode;
use switchyard_records::ErrorClass;
use switchyard_testkit::control::hash;
use switchyard_testkit::fake_server::Mode;
use switchyard_testkit::{chat, client, openai_fake, TestGateway};

const KEY_A: &str = "sk-client-a";
const KEY_B: &str = "sk-client-b";

fn clients() -> String {
    format!(
        "clients:\n  - {{ name: a, key_sha256: \"{}\", groups: [\"*\"], tenant: acme }}\n  - {{ name: b, key_sha256: \"{}\", groups: [\"*\"], tenant: globex }}\n",
        hash(KEY_A),
        hash(KEY_B)
    )
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers().get(name).map(|v| v.to_str().expect("ascii").to_owned()).unwrap_or_default()
}

async fn post(url: &str, key: &str, body: String) -> reqwest::Response {
    client().post(url).bearer_auth(key).body(body).send().await.expect("send")
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' '))).and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_limit_gets_a_429_in_its_own_format_with_retry_after_and_quotas() {
    let fake = openai_fake::start().await;
    let yaml = format!(
        r#"
providers:
  fake: {{ kind: openai, base_url: "{}" }}
groups:
  chat:
    members: [ {{ name: champ, role: champion, provider: fake, model: m, weight: 1 }} ]
{}
rate_limits:
  rules:
    - {{ name: client-rpm, scope: client, each: true, requests: 2, per: minute }}
"#,
        openai_fake::base_url(&fake),
        clients()
    );
    let gw = TestGateway::start(&yaml).await;
    let chat_url = gw.url("/v1/chat/completions");
    // Two admitted, each telling what is left.
    for remaining in ["1", "0"] {
        let r = post(&chat_url, KEY_A, chat("chat")).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "x-ratelimit-limit-requests"), "2");
        assert_eq!(header(&r, "x-ratelimit-remaining-requests"), remaining);
        assert!(header(&r, "x-ratelimit-reset-requests").ends_with('s'), "{:?}", r.headers());
        assert_eq!(header(&r, "x-ratelimit-limit-tokens"), "", "no tokens rule applies");
    }
    // The third: OpenAI's shape, retry-after (one emission interval: 30 s), the quotas.
    let r = post(&chat_url, KEY_A, chat("chat")).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = header(&r, "retry-after").parse().expect("seconds");
    let retry_after_ms: u64 = header(&r, "retry-after-ms").parse().expect("ms");
    assert!(
        (29..=30).contains(&retry_after) && (28_000..=30_000).contains(&retry_after_ms),
        "{retry_after} {retry_after_ms}"
    );
    assert_eq!(header(&r, "x-ratelimit-remaining-requests"), "0");
    assert_eq!(header(&r, "x-ratelimit-limit-requests"), "2");
    assert!(!header(&r, "x-switchyard-request-id").is_empty());
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert!(body["error"]["message"].as_str().expect("message").contains("`client-rpm`"), "{body}");
    // Anthropic's shape on /v1/messages.
    let messages = r#"{"model":"chat","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#;
    let r = post(&gw.url("/v1/messages"), KEY_A, messages.to_owned()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(!header(&r, "retry-after").is_empty());
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!((body["type"].as_str(), body["error"]["type"].as_str()), (Some("error"), Some("rate_limit_error")));
    // OIP's shape on /v2.
    let r = post(&gw.url("/v2/models/chat/infer"), KEY_A, r#"{"inputs":[]}"#.to_owned()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: serde_json::Value = r.json().await.expect("json");
    assert!(body["error"].as_str().expect("OIP error string").contains("client-rpm"), "{body}");
    // `each: true`: another client has its own bucket.
    assert_eq!(post(&chat_url, KEY_B, chat("chat")).await.status(), StatusCode::OK);
    assert_eq!(fake.hits(), 3, "refused requests never reach the provider");
    let metrics = gw.metrics().await;
    assert_eq!(metric(&metrics, r#"switchyard_rate_limited_total{rule="client-rpm"}"#), Some(3.0), "{metrics}");

    let dir = gw.stop().await;
    let records = TestGateway::records(&dir);
    let limited: Vec<_> = records.iter().filter(|r| r.error_class == ErrorClass::RateLimited).collect();
    assert_eq!(limited.len(), 3, "{records:?}");
    assert!(limited.iter().all(|r| r.status == 429 && r.client == "a" && r.tenant == "acme" && r.upstream_us == 0));
    assert_eq!(records.iter().filter(|r| r.status == 200).count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenger_over_its_providers_limit_is_served_by_the_champion_and_retries_are_charged() {
    let (a, b) = (openai_fake::start().await, openai_fake::start().await);
    let yaml = format!(
        r#"
providers:
  pa: {{ kind: openai, base_url: "{}" }}
  pb: {{ kind: openai, base_url: "{}" }}
groups:
  fallback:
    fallback: champion
    members:
      - {{ name: champ, role: champion, provider: pa, model: m, weight: 0 }}
      - {{ name: chall, role: challenger, provider: pb, model: m, weight: 1 }}
  strict:
    retries: {{ max_retries: 2, backoff_ms: 1, max_backoff_ms: 2 }}
    members:
      - {{ name: only, role: champion, provider: pb, model: m, weight: 1 }}
rate_limits:
  rules:
    - {{ name: pb-rpm, scope: provider, match: pb, requests: 3, per: minute }}
"#,
        openai_fake::base_url(&a),
        openai_fake::base_url(&b)
    );
    let gw = TestGateway::start(&yaml).await;
    let url = gw.url("/v1/chat/completions");
    let c = client();
    // `strict`: one failure and one retry cost two attempts of pb's three.
    b.set_mode(Mode::FailNext { times: 1, status: 503, retry_after: None });
    let r = c.post(&url).body(chat("strict")).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!((b.hits(), header(&r, "x-ratelimit-remaining-requests").as_str()), (2, "1"));
    // `fallback`: the challenger takes pb's last attempt; then the champion serves.
    let r = c.post(&url).body(chat("fallback")).send().await.expect("send");
    assert_eq!((r.status(), header(&r, "x-switchyard-member").as_str()), (StatusCode::OK, "chall"));
    let r = c.post(&url).body(chat("fallback")).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "x-switchyard-member"), "champ");
    assert_eq!(header(&r, "x-switchyard-assignment"), "fallback");
    assert_eq!((a.hits(), b.hits()), (1, 3), "pb was not called over its limit");
    // `strict` has no champion to fall back to: 429, with the provider rule's quotas.
    let r = c.post(&url).body(chat("strict")).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&r, "x-ratelimit-limit-requests"), "3");
    assert_eq!(b.hits(), 3);
    let metrics = gw.metrics().await;
    assert_eq!(metric(&metrics, r#"switchyard_rate_limited_total{rule="pb-rpm"}"#), Some(2.0), "{metrics}");
    let dir = gw.stop().await;
    let records = TestGateway::records(&dir);
    let fell_back = records.iter().filter(|r| r.member == "champ").collect::<Vec<_>>();
    assert_eq!(fell_back.len(), 1);
    assert_eq!((fell_back[0].status, fell_back[0].assignment.as_str()), (200, "fallback"));
}

/// A streamed chat body with `max_tokens`.
fn stream_body(group: &str, max_tokens: u64) -> String {
    format!(
        r#"{{"model":"{group}","stream":true,"max_tokens":{max_tokens},"messages":[{{"role":"user","content":"hi"}}]}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_reserved_settled_with_the_streamed_usage_and_refunded_on_failure() {
    let fake = openai_fake::start().await;
    let yaml = format!(
        r#"
providers:
  fake: {{ kind: openai, base_url: "{}" }}
groups:
  metered:
    retries: {{ max_retries: 0 }}
    members: [ {{ name: m, role: champion, provider: fake, model: m, weight: 1 }} ]
  free:
    members: [ {{ name: f, role: champion, provider: fake, model: m, weight: 1 }} ]
{}
rate_limits:
  rules:
    - {{ name: metered-tpd, scope: group, match: metered, tokens: 100000, per: day }}
"#,
        openai_fake::base_url(&fake),
        clients()
    );
    let gw = TestGateway::start(&yaml).await;
    let url = gw.url("/v1/chat/completions");
    let body = stream_body("metered", 100);
    let estimate = (body.len() as u64).div_ceil(4) + 100;
    let remaining = |r: &reqwest::Response| header(r, "x-ratelimit-remaining-tokens").parse::<u64>().expect("number");
    // The bucket refills 100,000 tokens a day (~1.2 a second): allow for a second or two.
    let near = |got: u64, want: u64| assert!((want..=want + 2).contains(&got), "remaining {got}, expected {want}");

    let r = post(&url, KEY_A, body.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(remaining(&r), 100_000 - estimate, "the estimate is reserved while the call runs");
    let text = r.text().await.expect("stream");
    assert!(text.contains("\"usage\""), "{text}");
    let seen = fake.seen();
    assert_eq!(seen[0].body["stream_options"]["include_usage"], true, "the stream was asked for its usage");
    assert_eq!((seen[0].body["model"].as_str(), seen[0].body["max_tokens"].as_u64()), (Some("m"), Some(100)));
    // The stream reported 3 + 5 tokens: the next request sees 8 used plus its own estimate.
    let r = post(&url, KEY_A, body.clone()).await;
    near(remaining(&r), 100_000 - 8 - estimate); // settled at the streamed usage
    drop(r.text().await);
    // A failed call is refunded in full.
    fake.set_mode(Mode::Fail(500));
    assert_eq!(post(&url, KEY_A, body.clone()).await.status(), StatusCode::BAD_GATEWAY);
    fake.set_mode(Mode::Normal);
    let r = post(&url, KEY_A, body.clone()).await;
    near(remaining(&r), 100_000 - 16 - estimate); // the failure cost nothing
    drop(r.text().await);
    // A group no tokens rule covers: no estimate, and its stream is left as the client sent it.
    let r = post(&url, KEY_A, stream_body("free", 100)).await;
    assert_eq!((r.status(), header(&r, "x-ratelimit-limit-tokens").as_str()), (StatusCode::OK, ""));
    drop(r.text().await);
    let last = fake.seen().pop().expect("seen");
    assert!(last.body.get("stream_options").is_none(), "{}", last.body);
    // An estimate above the rule's whole budget can never be admitted: 429, said so.
    let r = post(&url, KEY_A, stream_body("metered", 200_000)).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let text = r.text().await.expect("body");
    assert!(text.contains("exceeds what rate-limit rule `metered-tpd` ever admits"), "{text}");
}
