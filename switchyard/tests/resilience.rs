//! Resilience against switchable fakes on loopback: champion fallback, failures after
//! the first byte, retries (backoff, `Retry-After`, budget) and the circuit breaker.

use std::time::{Duration, Instant};

use switchyard_testkit::fake_server::{Fake, Mode};
use switchyard_testkit::{chat, chat_stream, client, openai_fake, TestGateway};

fn two_members(champ: &Fake, chal: &Fake, group_extra: &str, weights: (u32, u32)) -> String {
    format!(
        r#"
providers:
  a: {{ kind: openai, base_url: "{}" }}
  b: {{ kind: openai, base_url: "{}" }}
groups:
  g:
{group_extra}
    members:
      - {{ name: champ, role: champion, provider: a, model: m-a, weight: {} }}
      - {{ name: chal, role: challenger, provider: b, model: m-b, weight: {} }}
"#,
        openai_fake::base_url(champ),
        openai_fake::base_url(chal),
        weights.0,
        weights.1
    )
}

async fn fakes() -> (Fake, Fake) {
    (openai_fake::start().await, openai_fake::start().await)
}

#[tokio::test]
async fn fallback_hides_a_challenger_that_always_fails_before_the_first_byte() {
    let (champ, chal) = fakes().await;
    chal.set_mode(Mode::Fail(503));
    let extra = "    fallback: champion\n    retries: { max_retries: 1, backoff_ms: 1, max_backoff_ms: 2, budget_percent: 100 }\n    breaker: { enabled: false }";
    let gw = TestGateway::start(&two_members(&champ, &chal, extra, (50, 50))).await;
    let (mut errors, mut fallbacks) = (0, 0);
    for i in 0..40 {
        let body = if i % 2 == 0 { chat("g") } else { chat_stream("g") };
        let resp = client().post(gw.url("/v1/chat/completions")).body(body).send().await.expect("send");
        let fallback = resp.headers()["x-switchyard-assignment"] == "fallback";
        fallbacks += usize::from(fallback);
        if fallback {
            assert_eq!(resp.headers()["x-switchyard-member"], "champ");
        }
        let status = resp.status();
        let text = resp.text().await.expect("body");
        if status != 200 || text.contains("\"error\"") {
            errors += 1;
        }
    }
    assert_eq!(errors, 0, "clients see no errors");
    assert!(fallbacks >= 8, "about half the requests were the challenger's: {fallbacks}");
    assert_eq!(chal.hits(), fallbacks * 2, "each challenger request was tried twice (one retry) before falling back");
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains(r#"switchyard_upstream_errors_total{group="g",kind="status",member="chal"}"#),
        "{metrics}"
    );

    let dir = gw.stop().await;
    let records = TestGateway::records(&dir);
    assert_eq!(records.len(), 40, "one record per request");
    let fb: Vec<_> = records.iter().filter(|r| r.assignment.as_str() == "fallback").collect();
    assert_eq!(fb.len(), fallbacks);
    assert!(fb
        .iter()
        .all(|r| r.member == "champ" && r.role.as_str() == "champion" && r.status == 200 && r.error_class.is_none()));
}

#[tokio::test]
async fn a_failure_after_the_first_byte_is_a_well_formed_stream_error() {
    let (champ, chal) = fakes().await;
    chal.set_mode(Mode::CutAfterFirst);
    let gw = TestGateway::start(&two_members(&champ, &chal, "    fallback: champion", (0, 1))).await;
    let resp = client().post(gw.url("/v1/chat/completions")).body(chat_stream("g")).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-switchyard-member"], "chal", "no fallback once bytes flowed");
    let text = resp.text().await.expect("text");
    let events: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
    assert!(events.len() >= 2, "{text}");
    let first: serde_json::Value = serde_json::from_str(events[0]).expect("first chunk");
    assert_eq!(first["object"], "chat.completion.chunk");
    let last: serde_json::Value = serde_json::from_str(events[events.len() - 1]).expect("error event");
    assert_eq!(last["error"]["code"], "upstream_reset", "{text}");
    assert_eq!(champ.hits(), 0);

    let dir = gw.stop().await;
    let r = &TestGateway::records(&dir)[0];
    assert_eq!((r.member.as_str(), r.assignment.as_str()), ("chal", "random"));
    assert_eq!((r.status, r.error_class.as_str()), (200, "upstream_reset"));
}

#[tokio::test]
async fn retries_transient_failures_and_honours_retry_after() {
    let (champ, _) = fakes().await;
    let single = |extra: &str| {
        format!(
            "providers:\n  a: {{ kind: openai, base_url: \"{}\" }}\ngroups:\n  g:\n{extra}\n    members:\n      - {{ name: champ, role: champion, provider: a, model: m, weight: 1 }}\n",
            openai_fake::base_url(&champ)
        )
    };
    let gw = TestGateway::start(&single("    retries: { max_retries: 2, backoff_ms: 5, max_backoff_ms: 800 }")).await;

    // Two 503s, then success: the client sees one 200.
    champ.set_mode(Mode::FailNext { times: 2, status: 503, retry_after: None });
    let resp = client().post(gw.url("/v1/chat/completions")).body(chat("g")).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(champ.hits(), 3);

    // A streamed request is retried the same way (nothing has reached the client yet).
    champ.set_mode(Mode::FailNext { times: 1, status: 502, retry_after: None });
    let resp = client().post(gw.url("/v1/chat/completions")).body(chat_stream("g")).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.expect("text").ends_with("data: [DONE]\n\n"));
    assert_eq!(champ.hits(), 5);

    // Retry-After within max_backoff_ms is waited for …
    champ.set_mode(Mode::FailNext { times: 1, status: 429, retry_after: Some(0) });
    let resp = client().post(gw.url("/v1/chat/completions")).body(chat("g")).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(champ.hits(), 7);
    // … one longer than max_backoff_ms is not: the 429 reaches the client at once.
    champ.set_mode(Mode::FailNext { times: 1, status: 429, retry_after: Some(30) });
    let started = Instant::now();
    let resp = client().post(gw.url("/v1/chat/completions")).body(chat("g")).send().await.expect("send");
    assert_eq!(resp.status(), 429);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(champ.hits(), 8);
    // 400s are the client's fault: never retried.
    champ.set_mode(Mode::Fail(400));
    let resp = client().post(gw.url("/v1/chat/completions")).body(chat("g")).send().await.expect("send");
    assert_eq!(resp.status(), 400);
    assert_eq!(champ.hits(), 9);

    let metrics = gw.metrics().await;
    assert!(metrics.contains(r#"switchyard_retries_total{group="g",member="champ"} 4"#), "{metrics}");
    gw.stop().await;
}

#[tokio::test]
async fn retry_budget_stops_retries_from_multiplying_load() {
    let (champ, chal) = fakes().await;
    champ.set_mode(Mode::Fail(503));
    let extra =
        "    retries: { max_retries: 3, backoff_ms: 1, max_backoff_ms: 2, budget_percent: 0, budget_reserve: 2 }";
    let gw = TestGateway::start(&two_members(&champ, &chal, extra, (1, 0))).await;
    for _ in 0..10 {
        let resp = client().post(gw.url("/v1/chat/completions")).body(chat("g")).send().await.expect("send");
        assert_eq!(resp.status(), 502);
    }
    assert_eq!(champ.hits(), 12, "10 requests + the 2 retries the reserve allows");
    gw.stop().await;
}

async fn circuit_open(gw: &TestGateway) -> bool {
    gw.metrics().await.contains(r#"switchyard_circuit_open{group="g",member="chal"} 1"#)
}

#[tokio::test]
async fn breaker_opens_within_its_window_stops_traffic_and_closes_after_healing() {
    let (champ, chal) = fakes().await;
    chal.set_mode(Mode::Fail(500));
    let extra = "    retries: { max_retries: 0 }\n    breaker: { window_ms: 10000, min_requests: 4, failure_percent: 50, open_ms: 300 }";
    let gw = TestGateway::start(&two_members(&champ, &chal, extra, (1, 1))).await;
    let send = || async {
        let resp = client().post(gw.url("/v1/chat/completions")).body(chat("g")).send().await.expect("send");
        (resp.status().as_u16(), resp.headers()["x-switchyard-assignment"].to_str().expect("ascii").to_owned())
    };

    // Closed: the challenger gets its share and fails; after 4 failures it opens.
    let started = Instant::now();
    let mut sent = 0;
    while !circuit_open(&gw).await {
        send().await;
        sent += 1;
        assert!(sent < 100, "the breaker never opened");
    }
    let opened_after = started.elapsed();
    assert_eq!(chal.hits(), 4, "opened on the 4th failure (min_requests 4, all failing)");
    eprintln!("breaker opened after {} challenger failures, {sent} requests, {opened_after:?}", chal.hits());

    // Open: nothing goes to the challenger; its share is served by the champion.
    let (mut ok, mut fallback) = (0, 0);
    for _ in 0..30 {
        let (status, assignment) = send().await;
        ok += usize::from(status == 200);
        fallback += usize::from(assignment == "fallback");
    }
    assert_eq!(chal.hits(), 4, "no request reached the open member");
    assert_eq!(ok, 30);
    assert!(fallback >= 5, "the challenger's share went to the champion as `fallback`: {fallback}");

    // Healed: after open_ms one probe goes through, succeeds and closes the breaker.
    chal.set_mode(Mode::Normal);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let mut tries = 0;
    while chal.hits() == 4 {
        send().await;
        tries += 1;
        assert!(tries < 100, "no probe reached the challenger");
    }
    assert!(!circuit_open(&gw).await, "closed after a successful probe");
    for _ in 0..30 {
        assert_eq!(send().await.0, 200);
    }
    assert!(chal.hits() >= 10, "the challenger has its share again: {}", chal.hits());
    let dir = gw.stop().await;
    let records = TestGateway::records(&dir);
    assert!(records.iter().filter(|r| r.member == "chal").all(|r| r.assignment.as_str() != "fallback"));
}

#[tokio::test]
async fn unreachable_challenger_falls_back_and_pinned_requests_do_not() {
    let champ = openai_fake::start().await;
    // A port nothing listens on: connection refused.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let yaml = format!(
        r#"
providers:
  a: {{ kind: openai, base_url: "{}" }}
  dead: {{ kind: openai, base_url: "http://{dead}/v1" }}
groups:
  g:
    fallback: champion
    retries: {{ max_retries: 0 }}
    timeouts: {{ connect_ms: 200 }}
    members:
      - {{ name: champ, role: champion, provider: a, model: m, weight: 0 }}
      - {{ name: chal, role: challenger, provider: dead, model: m, weight: 1 }}
"#,
        openai_fake::base_url(&champ)
    );
    let gw = TestGateway::start(&yaml).await;
    let resp = client().post(gw.url("/v1/chat/completions")).body(chat("g")).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-switchyard-assignment"], "fallback");
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .header("x-switchyard-member", "chal")
        .body(chat("g"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 502, "a pinned member is not replaced");
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["code"], "upstream_connect");
    gw.stop().await;
}
