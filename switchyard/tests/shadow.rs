//! Shadow members: mirrored copies are recorded with role `shadow`, never reach the
//! client, and a shadow that hangs does not slow the real path.

use std::time::{Duration, Instant};

use switchyard_testkit::fake_server::{Fake, Mode};
use switchyard_testkit::{anthropic_fake, chat, chat_stream, client, openai_fake, TestGateway};

fn config(champ: &Fake, shadow: &Fake) -> String {
    format!(
        r#"
providers:
  a: {{ kind: openai, base_url: "{}" }}
  s: {{ kind: anthropic, base_url: "{}", api_key: "env:SWITCHYARD_TEST_SHADOW_KEY" }}
groups:
  plain:
    members:
      - {{ name: champ, role: champion, provider: a, model: m, weight: 1 }}
  shadowed:
    mirror_concurrency: 4
    timeouts: {{ total_ms: 2000 }}
    members:
      - {{ name: champ, role: champion, provider: a, model: m, weight: 1 }}
      - {{ name: shade, role: shadow, provider: s, model: claude-shadow, mirror_percent: 100 }}
"#,
        openai_fake::base_url(champ),
        shadow.url()
    )
}

async fn setup() -> (Fake, Fake, TestGateway) {
    std::env::set_var("SWITCHYARD_TEST_SHADOW_KEY", "k");
    let (champ, shadow) = (openai_fake::start().await, anthropic_fake::start().await);
    let gw = TestGateway::start(&config(&champ, &shadow)).await;
    (champ, shadow, gw)
}

#[tokio::test]
async fn shadow_gets_a_copy_recorded_as_shadow() {
    let (_champ, shadow, gw) = setup().await;
    for body in [chat("shadowed"), chat_stream("shadowed")] {
        let resp = client().post(gw.url("/v1/chat/completions")).body(body).send().await.expect("send");
        assert_eq!(resp.headers()["x-switchyard-member"], "champ");
        let text = resp.text().await.expect("text");
        assert!(text.contains("Hello") && !text.contains("How can I help"), "only the champion's answer: {text}");
    }
    assert!(switchyard_testkit::eventually(Duration::from_secs(2), async || shadow.hits() == 2).await);
    assert_eq!(shadow.seen()[0].body["model"], "claude-shadow");
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains(r#"switchyard_mirrored_total{group="shadowed",member="shade",outcome="sent"} 2"#),
        "{metrics}"
    );
    // Let the shadow tasks finish their records before stopping.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let dir = gw.stop().await;
    let records = TestGateway::records(&dir);
    let (shadows, primary): (Vec<_>, Vec<_>) = records.iter().partition(|r| r.role.as_str() == "shadow");
    assert_eq!((primary.len(), shadows.len()), (2, 2), "{records:?}");
    for s in &shadows {
        assert_eq!(
            (s.member.as_str(), s.assignment.as_str(), s.provider_kind.as_str()),
            ("shade", "shadow", "anthropic")
        );
        assert_eq!((s.status, s.input_tokens, s.output_tokens), (200, Some(12), Some(15)), "{s:?}");
        let of = primary.iter().find(|p| s.request_id == format!("{}:shade", p.request_id));
        assert!(of.is_some_and(|p| p.stream == s.stream), "each shadow record names its request: {s:?}");
    }
    assert!(primary.iter().all(|p| p.role.as_str() == "champion" && p.input_tokens == Some(3)));
}

fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

#[tokio::test]
async fn a_hanging_shadow_does_not_change_the_real_p99() {
    let (_champ, shadow, gw) = setup().await;
    shadow.set_mode(Mode::Hang);
    let http = client();
    // Warm the pool for both groups.
    for g in ["plain", "shadowed"] {
        http.post(gw.url("/v1/chat/completions")).body(chat(g)).send().await.expect("send");
    }
    let (mut plain, mut shadowed) = (Vec::new(), Vec::new());
    for i in 0..300 {
        // Interleaved, so drift on a shared machine hits both alike.
        let group = if i % 2 == 0 { "plain" } else { "shadowed" };
        let started = Instant::now();
        let resp = http.post(gw.url("/v1/chat/completions")).body(chat(group)).send().await.expect("send");
        assert_eq!(resp.status(), 200);
        resp.bytes().await.expect("body");
        if i % 2 == 0 { &mut plain } else { &mut shadowed }.push(started.elapsed());
    }
    let (p_plain, p_shadow) = (p99(plain.clone()), p99(shadowed.clone()));
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    eprintln!(
        "p99 plain {p_plain:?} vs with hanging shadow {p_shadow:?}; medians {:?} vs {:?}",
        median(plain),
        median(shadowed)
    );
    assert!(p_shadow <= p_plain * 2 + Duration::from_millis(5), "p99 {p_shadow:?} vs {p_plain:?}");
    assert!(p_shadow < Duration::from_millis(500), "never waits on the shadow (total_ms 2000)");
    // Only `mirror_concurrency` copies are in flight; the rest were skipped, not queued.
    assert_eq!(shadow.hits(), 4);
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains(r#"switchyard_mirrored_total{group="shadowed",member="shade",outcome="skipped"} 147"#),
        "{metrics}"
    );
    gw.stop().await;
}
