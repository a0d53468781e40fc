//! Hot reload under load: a stream of config changes (valid and invalid) never fails a
//! request, invalid changes are refused and counted, and the split follows a saved change
//! within a second.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_testkit::{client, TestGateway};

fn yaml(champion: i64, challenger: i64) -> String {
    format!(
        r#"
providers:
  mock: {{ kind: mock }}
groups:
  g:
    members:
      - {{ name: champ, role: champion, provider: mock, weight: {champion} }}
      - {{ name: chall, role: challenger, provider: mock, weight: {challenger} }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_reloads_under_load_fail_no_request() {
    let gw = TestGateway::start(&yaml(90, 10)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (stop, ok, failed, url) = (stop.clone(), ok.clone(), failed.clone(), gw.url("/v1/chat/completions"));
        load.push(tokio::spawn(async move {
            let c = client();
            while !stop.load(Ordering::Relaxed) {
                match c.post(&url).body(switchyard_testkit::chat("g")).send().await {
                    Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    let store = gw.gw().store().clone();
    let mut rejected = 0;
    for i in 0..100 {
        if i % 3 == 2 {
            gw.write_config(&yaml(90, -5));
            assert!(store.reload(false).await.is_err(), "negative weight refused");
            rejected += 1;
        } else {
            gw.write_config(&yaml(100 - i, i));
            let _ = store.reload(false).await.expect("valid config applies");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The last saved change is picked up by the file watcher alone, within a second.
    let saved = Instant::now();
    gw.write_config(&yaml(0, 100));
    let c = client();
    let mut followed = None;
    while saved.elapsed() < Duration::from_secs(3) {
        let r = c.post(gw.url("/v1/chat/completions")).body(switchyard_testkit::chat("g")).send().await.expect("send");
        if r.headers()["x-switchyard-member"] == "chall"
            && store.current().config.groups["g"].members[0].weight == Some(0.0)
        {
            followed = Some(saved.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let followed = followed.expect("the watcher applied the saved change");
    assert!(followed < Duration::from_secs(1), "took {followed:?}");
    for _ in 0..200 {
        let r = c.post(gw.url("/v1/chat/completions")).body(switchyard_testkit::chat("g")).send().await.expect("send");
        assert_eq!(r.headers()["x-switchyard-member"], "chall", "all traffic follows the new weights");
    }
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.expect("load task");
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no request failed during reloads");
    assert!(ok.load(Ordering::Relaxed) > 100, "load actually ran");
    let metrics = gw.metrics().await;
    let line = metrics
        .lines()
        .find(|l| l.starts_with("switchyard_config_reloads_total{result=\"rejected\"}"))
        .expect("rejected counter");
    let count: u64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).expect("value");
    assert!(count >= rejected, "{line}");
    gw.stop().await;
}

#[tokio::test]
async fn invalid_saved_change_keeps_the_last_good_table() {
    let gw = TestGateway::start(&yaml(50, 50)).await;
    gw.write_config("groups: [this is not valid");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let table = gw.gw().store().current();
    assert_eq!(table.version, 1, "invalid file not applied");
    let r =
        client().post(gw.url("/v1/chat/completions")).body(switchyard_testkit::chat("g")).send().await.expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-switchyard-config-version"], "1");
    let metrics = gw.metrics().await;
    assert!(metrics.contains("switchyard_config_reloads_total{result=\"rejected\"} 1"), "{metrics}");
    gw.stop().await;
}

#[tokio::test]
async fn requests_in_flight_finish_on_their_snapshot() {
    let yaml_slow = r#"
providers:
  slow: { kind: mock, latency_ms: 300 }
groups:
  g:
    members:
      - { name: old, role: champion, provider: slow, weight: 1 }
"#;
    let gw = TestGateway::start(yaml_slow).await;
    let url = gw.url("/v1/chat/completions");
    let in_flight = tokio::spawn(async move { client().post(url).body(switchyard_testkit::chat("g")).send().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    gw.write_config(&yaml_slow.replace("name: old", "name: new"));
    gw.gw().store().reload(false).await.expect("valid");
    let r = in_flight.await.expect("task").expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-switchyard-member"], "old");
    assert_eq!(r.headers()["x-switchyard-config-version"], "1");
    let r =
        client().post(gw.url("/v1/chat/completions")).body(switchyard_testkit::chat("g")).send().await.expect("send");
    assert_eq!(r.headers()["x-switchyard-member"], "new");
    gw.stop().await;
}
