//! Assignment as operators rely on it: the weighted split is statistically right, a
//! sticky key keeps its member across restarts, and raising a challenger's weight moves
//! only the keys in the added share.

use std::collections::HashMap;

use http::HeaderMap;
use switchyard_gateway::proxy::assign::decide;
use switchyard_testkit::{client, TestGateway};

/// χ² critical value for 1 degree of freedom at p = 0.001.
const CHI2_1DF_P001: f64 = 10.828;

fn two_member_yaml(champion: u32, challenger: u32, assignment: &str) -> String {
    format!(
        r#"
providers:
  mock: {{ kind: mock }}
groups:
  g:
    assignment: {assignment}
    members:
      - {{ name: champ, role: champion, provider: mock, weight: {champion} }}
      - {{ name: chall, role: challenger, provider: mock, weight: {challenger} }}
"#
    )
}

fn chi2(observed: &[f64], expected: &[f64]) -> f64 {
    observed.iter().zip(expected).map(|(o, e)| (o - e).powi(2) / e).sum()
}

#[test]
fn twenty_thousand_random_assignments_follow_90_10() {
    let factory = |_: &switchyard_config::ProviderSpec| Ok(());
    let table = switchyard_config::check::<()>(&two_member_yaml(90, 10, "{}"), &factory).expect("valid");
    let group = table.group("g").expect("group");
    let headers = HeaderMap::new();
    let n = 20_000;
    let mut counts = [0f64; 2];
    for _ in 0..n {
        let d = decide(group, &headers, None).expect("assign");
        counts[d.index] += 1.0;
    }
    let stat = chi2(&counts, &[0.9 * n as f64, 0.1 * n as f64]);
    assert!(stat < CHI2_1DF_P001, "chi2 = {stat} for counts {counts:?}");
}

#[tokio::test]
async fn split_over_http_follows_weights() {
    let gw = TestGateway::start(&two_member_yaml(90, 10, "{}")).await;
    let c = client();
    let n = 2_000;
    let mut counts: HashMap<String, f64> = HashMap::new();
    for _ in 0..n {
        let r = c.post(gw.url("/v1/chat/completions")).body(switchyard_testkit::chat("g")).send().await.expect("send");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-switchyard-assignment"], "random");
        *counts.entry(r.headers()["x-switchyard-member"].to_str().expect("ascii").to_owned()).or_default() += 1.0;
    }
    let observed = [counts["champ"], counts.get("chall").copied().unwrap_or(0.0)];
    let stat = chi2(&observed, &[0.9 * n as f64, 0.1 * n as f64]);
    assert!(stat < CHI2_1DF_P001, "chi2 = {stat} for {counts:?}");
    gw.stop().await;
}

async fn members_for_keys(gw: &TestGateway, keys: &[String]) -> Vec<String> {
    let c = client();
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        let r = c
            .post(gw.url("/v1/chat/completions"))
            .header("x-user-id", k)
            .body(switchyard_testkit::chat("g"))
            .send()
            .await
            .expect("send");
        assert_eq!(r.headers()["x-switchyard-assignment"], "sticky");
        out.push(r.headers()["x-switchyard-member"].to_str().expect("ascii").to_owned());
    }
    out
}

#[tokio::test]
async fn sticky_key_keeps_its_member_across_a_restart() {
    let yaml = two_member_yaml(50, 50, "{ sticky_key: header:x-user-id }");
    let keys: Vec<String> = (0..300).map(|i| format!("user-{i}")).collect();
    let gw = TestGateway::start(&yaml).await;
    let first = members_for_keys(&gw, &keys).await;
    let again = members_for_keys(&gw, &keys).await;
    assert_eq!(first, again, "same key, same member within a run");
    let dir = gw.stop().await;
    let gw = TestGateway::start_in(dir, &yaml).await;
    let after_restart = members_for_keys(&gw, &keys).await;
    assert_eq!(first, after_restart, "same key, same member after a restart");
    let challengers = first.iter().filter(|m| *m == "chall").count();
    assert!((100..200).contains(&challengers), "keys spread over both members: {challengers}/300");
    gw.stop().await;
}

#[tokio::test]
async fn sticky_sources_body_user_and_override_header() {
    let gw = TestGateway::start(&two_member_yaml(50, 50, "{ sticky_key: body:user }")).await;
    let c = client();
    let mut by_user = HashMap::new();
    for i in 0..40 {
        let body = format!(r#"{{"model":"g","user":"u{i}","messages":[]}}"#);
        for _ in 0..2 {
            let r = c.post(gw.url("/v1/chat/completions")).body(body.clone()).send().await.expect("send");
            assert_eq!(r.headers()["x-switchyard-assignment"], "sticky");
            let m = r.headers()["x-switchyard-member"].to_str().expect("ascii").to_owned();
            assert_eq!(by_user.entry(i).or_insert_with(|| m.clone()), &m, "user u{i} moved");
        }
    }
    // x-switchyard-sticky-key overrides the configured source.
    let r1 = c
        .post(gw.url("/v1/chat/completions"))
        .header("x-switchyard-sticky-key", "same")
        .body(r#"{"model":"g","user":"a"}"#)
        .send()
        .await
        .expect("send");
    let r2 = c
        .post(gw.url("/v1/chat/completions"))
        .header("x-switchyard-sticky-key", "same")
        .body(r#"{"model":"g","user":"b"}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(r1.headers()["x-switchyard-member"], r2.headers()["x-switchyard-member"]);
    // Pinning beats stickiness.
    let r = c
        .post(gw.url("/v1/chat/completions"))
        .header("x-switchyard-member", "chall")
        .body(r#"{"model":"g","user":"a"}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(r.headers()["x-switchyard-assignment"], "pinned");
    assert_eq!(r.headers()["x-switchyard-member"], "chall");
    let dir = gw.stop().await;
    let records = TestGateway::records(&dir);
    assert!(records.iter().filter(|r| r.assignment.as_str() == "sticky").all(|r| r.sticky_key_hash != 0));
    assert!(records.iter().filter(|r| r.assignment.as_str() == "pinned").all(|r| r.sticky_key_hash == 0));
}

#[tokio::test]
async fn raising_challenger_from_10_to_20_moves_only_the_added_share() {
    let gw = TestGateway::start(&two_member_yaml(90, 10, "{ sticky_key: header:x-user-id }")).await;
    let keys: Vec<String> = (0..2_000).map(|i| format!("key-{i}")).collect();
    let before = members_for_keys(&gw, &keys).await;
    gw.write_config(&two_member_yaml(80, 20, "{ sticky_key: header:x-user-id }"));
    gw.gw().store().reload(false).await.expect("valid config");
    assert_eq!(gw.gw().store().current().version, 2);
    let after = members_for_keys(&gw, &keys).await;
    let mut moved = 0;
    for (b, a) in before.iter().zip(&after) {
        if b != a {
            assert_eq!((b.as_str(), a.as_str()), ("champ", "chall"), "a key moved back to the champion");
            moved += 1;
        }
    }
    let share = moved as f64 / keys.len() as f64;
    assert!((0.07..0.13).contains(&share), "moved {share:.3} of keys, expected ≈ 0.10");
    gw.stop().await;
}
