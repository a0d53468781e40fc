//! Three replicas of the real binary sharing one PostgreSQL (SPEC §7,
//! `state.shared_config: true`): an edit through one is served by the others within 2 s;
//! two racing `If-Match` edits through different replicas → exactly one wins; 100 edits
//! spread over the replicas under continuous load → no failed request and every replica
//! on the same version; the lease holder killed with SIGKILL → another replica holds the
//! lease within 15 s.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_state::test_support::{drop_postgres, fresh_postgres, POSTGRES_PASSWORD_ENV};
use switchyard_state::StoreOptions;
use switchyard_testkit::control::{admin_yaml, etag, ADMIN};
use switchyard_testkit::process::Served;
use switchyard_testkit::{chat, client, eventually};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// One replica: its process and its data-plane and admin base URLs.
struct Replica {
    served: Served,
    data: String,
    admin: String,
    _dir: tempfile::TempDir,
}

const GROUPS: &str = r#"providers:
  m: { kind: mock }
groups:
  g:
    members:
      - { name: champ, role: champion, provider: m, weight: 90 }
      - { name: chall, role: challenger, provider: m, weight: 10 }
"#;

fn config(store: &StoreOptions, routing_and_records: &str) -> String {
    format!(
        r#"listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
state: {{ url: "{}", password: "env:{POSTGRES_PASSWORD_ENV}", shared_config: true }}
{routing_and_records}{}"#,
        store.url,
        admin_yaml()
    )
}

async fn replica(store: &StoreOptions) -> Replica {
    replica_with(store, GROUPS).await
}

async fn replica_with(store: &StoreOptions, routing_and_records: &str) -> Replica {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("switchyard.yaml");
    std::fs::write(&path, config(store, routing_and_records)).expect("write config");
    let password = std::env::var(POSTGRES_PASSWORD_ENV).unwrap_or_default();
    let mut served = Served::spawn(
        BIN,
        &["serve", "--config", path.to_str().expect("utf-8")],
        dir.path(),
        &[(POSTGRES_PASSWORD_ENV, &password), ("RUST_LOG", "info")],
    );
    let (data, admin) = served.serving().await;
    Replica { served, data: format!("http://{data}"), admin: format!("http://{admin}/api/v1"), _dir: dir }
}

async fn three(test: &str) -> (StoreOptions, Vec<Replica>) {
    let store = fresh_postgres(test).await;
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(replica(&store).await);
    }
    (store, replicas)
}

/// The config version a replica's control API reports (`ETag` of the groups).
async fn version_of(r: &Replica) -> u64 {
    let resp = client().get(format!("{}/groups", r.admin)).bearer_auth(ADMIN).send().await.expect("send");
    etag(&resp)
}

async fn set_weight(r: &Replica, expected: u64, weight: u32) -> reqwest::Response {
    client()
        .put(format!("{}/groups/g/weights", r.admin))
        .bearer_auth(ADMIN)
        .header("if-match", format!("\"{expected}\""))
        .json(&serde_json::json!({"weights": {"chall": weight}}))
        .send()
        .await
        .expect("send")
}

async fn stop(replicas: Vec<Replica>, store: &StoreOptions) {
    for r in replicas {
        r.served.terminate().await;
    }
    drop_postgres(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_through_one_replica_is_served_by_the_others_within_2s() {
    let (store, rs) = three("edit_spreads").await;
    let v = version_of(&rs[0]).await;
    assert!(rs.iter().all(|_| true));
    for r in &rs[1..] {
        assert_eq!(version_of(r).await, v, "every replica starts on the seeded version");
    }
    let t0 = Instant::now();
    let r = set_weight(&rs[0], v, 30).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    for other in &rs[1..] {
        let seen = eventually(Duration::from_secs(2), async || {
            let resp = client().post(format!("{}/v1/chat/completions", other.data)).body(chat("g")).send().await;
            resp.is_ok_and(|r| r.headers()["x-switchyard-config-version"] == (v + 1).to_string().as_str())
        })
        .await;
        assert!(seen, "replica {} serves version {} within 2 s", other.data, v + 1);
    }
    eprintln!("an edit reached both other replicas' data planes in {:?}", t0.elapsed());
    stop(rs, &store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_if_match_edits_through_two_replicas_one_wins() {
    let (store, rs) = three("edit_race").await;
    let mut newest = version_of(&rs[0]).await;
    for round in 0..5 {
        // Both replicas serve the newest version before they race on it.
        let v = newest;
        let same =
            eventually(Duration::from_secs(3), async || version_of(&rs[0]).await == v && version_of(&rs[1]).await == v)
                .await;
        assert!(same, "round {round}: both replicas serve version {v}");
        let (a, b) = tokio::join!(set_weight(&rs[0], v, 20 + round), set_weight(&rs[1], v, 40 + round));
        let statuses = [a.status().as_u16(), b.status().as_u16()];
        let mut sorted = statuses;
        sorted.sort_unstable();
        let bodies = (a.text().await.unwrap_or_default(), b.text().await.unwrap_or_default());
        assert_eq!(sorted, [200, 412], "round {round}: exactly one wins, the other is told it is stale: {bodies:?}");
        newest = v + 1;
    }
    stop(rs, &store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_edits_over_three_replicas_under_load_fail_nothing_and_converge() {
    let (store, rs) = three("edit_load").await;
    let rs = Arc::new(rs);
    let failed = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for k in 0..3 {
        let (rs, failed, sent, done) = (rs.clone(), failed.clone(), sent.clone(), done.clone());
        load.push(tokio::spawn(async move {
            let c = client();
            while !done.load(Ordering::Relaxed) {
                let r = c.post(format!("{}/v1/chat/completions", rs[k].data)).body(chat("g")).send().await;
                sent.fetch_add(1, Ordering::Relaxed);
                if !r.is_ok_and(|r| r.status() == 200) {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let (mut applied, mut i, mut last) = (0, 0u32, 0);
    while applied < 100 {
        let r = &rs[(i % 3) as usize];
        let v = version_of(r).await;
        let resp = set_weight(r, v, 1 + i % 50).await;
        if resp.status() == 200 {
            last = etag(&resp);
            applied += 1;
        }
        i += 1;
        assert!(i < 1000, "edits keep being refused");
    }
    let converged = eventually(Duration::from_secs(3), async || {
        let mut all = true;
        for r in rs.iter() {
            all &= version_of(r).await == last;
        }
        all
    })
    .await;
    done.store(true, Ordering::Relaxed);
    for l in load {
        l.await.expect("load task");
    }
    assert!(converged, "all replicas end on version {last}");
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no request failed ({} sent)", sent.load(Ordering::Relaxed));
    eprintln!(
        "{applied} edits in {i} attempts, {} requests, all replicas on version {last}",
        sent.load(Ordering::Relaxed)
    );
    let rs = Arc::try_unwrap(rs).unwrap_or_else(|_| panic!("load tasks are done"));
    stop(rs, &store).await;
}

/// The holder of `lease` per the cluster view of the replica at `admin`.
async fn holder(admin: &str, lease: &str) -> Option<String> {
    let resp = client().get(format!("{admin}/cluster")).bearer_auth(ADMIN).send().await.ok()?;
    let view: serde_json::Value = resp.json().await.ok()?;
    view["leases"][lease]["holder"].as_str().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_holder_killed_is_replaced_within_15s() {
    let (store, mut rs) = three("lease_failover").await;
    let held = eventually(Duration::from_secs(15), async || holder(&rs[0].admin, "autopilot").await.is_some()).await;
    assert!(held, "someone holds the autopilot lease");
    let first = holder(&rs[0].admin, "autopilot").await.expect("holder");
    let view = async || -> serde_json::Value {
        let resp = client().get(format!("{}/cluster", rs[0].admin)).bearer_auth(ADMIN).send().await.expect("send");
        resp.json().await.expect("json")
    };
    // A lease can be taken before the last replica has registered: wait for all three.
    let registered =
        eventually(Duration::from_secs(15), async || view().await["replicas"].as_array().map(Vec::len) == Some(3))
            .await;
    assert!(registered, "three replicas registered: {}", view().await);
    // Which replica holds it? Its pid is in its id (`<host>-<pid>-<rand>`).
    let idx = rs.iter().position(|r| first.contains(&format!("-{}-", r.served.pid))).expect("a replica holds it");
    let victim = rs.remove(idx);
    victim.served.signal("-KILL");
    let t0 = Instant::now();
    let taken = eventually(Duration::from_secs(15), async || {
        holder(&rs[0].admin, "autopilot").await.is_some_and(|h| h != first)
    })
    .await;
    assert!(taken, "another replica holds the lease within 15 s");
    eprintln!("lease taken over {:?} after SIGKILL", t0.elapsed());
    stop(rs, &store).await;
}

/// A challenger that fails a quarter of its requests, evaluated every second, with
/// records in ClickHouse so the autopilot can judge it.
fn flaky_group(database: &str) -> String {
    format!(
        r#"providers:
  good: {{ kind: mock }}
  flaky: {{ kind: mock, error_rate: 0.25 }}
groups:
  g:
    members:
      - {{ name: champ, role: champion, provider: good, weight: 50 }}
      - {{ name: flaky, role: challenger, provider: flaky, weight: 50 }}
    breaker: {{ enabled: false }}
    promotion: {{ min_samples_per_arm: 150, min_duration_secs: 0, check_interval_secs: 1 }}
records:
  clickhouse: {{ url: "{}", database: {database} }}
  spool: {{ fsync_interval_ms: 10 }}
  batch: {{ max_delay_ms: 100 }}
"#,
        switchyard_testkit::clickhouse::ch_url()
    )
}

/// The audit entries of `action` as the replica at `admin` lists them.
async fn audited(admin: &str, action: &str) -> Vec<serde_json::Value> {
    let resp = client().get(format!("{admin}/audit?action={action}")).bearer_auth(ADMIN).send().await.expect("send");
    resp.json::<Vec<serde_json::Value>>().await.expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_autopilot_acts_once_per_decision_across_three_replicas() {
    let store = fresh_postgres("autopilot_once").await;
    let database = switchyard_testkit::clickhouse::unique_db("autopilot_once");
    let mut rs = Vec::new();
    for _ in 0..3 {
        rs.push(replica_with(&store, &flaky_group(&database)).await);
    }
    let c = client();
    for i in 0..600 {
        let r = &rs[i % 3];
        c.post(format!("{}/v1/chat/completions", r.data)).body(chat("g")).send().await.expect("send");
    }
    let rolled =
        eventually(Duration::from_secs(40), async || !audited(&rs[0].admin, "group.auto_rollback").await.is_empty())
            .await;
    assert!(rolled, "the flaky challenger is rolled back");
    // Several more evaluation periods pass; nobody acts again, on any replica.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let entries = audited(&rs[1].admin, "group.auto_rollback").await;
    assert_eq!(entries.len(), 1, "one decision, one action: {entries:?}");
    let mut actions = 0.0;
    for r in &rs {
        let metrics = c.get(format!("{}/metrics", r.admin.trim_end_matches("/api/v1"))).send().await.expect("send");
        let text = metrics.text().await.expect("text");
        actions += text
            .lines()
            .find(|l| l.starts_with(r#"switchyard_auto_actions_total{action="rollback",group="g"}"#))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0);
    }
    assert_eq!(actions, 1.0, "exactly one replica acted");
    stop(rs, &store).await;
}

/// The store at `url` reached through `proxy` instead (same database).
fn through(store: &StoreOptions, proxy: std::net::SocketAddr) -> StoreOptions {
    let mut via = store.clone();
    let rest = store.url.split_once('@').map_or("", |(_, r)| r);
    let path = rest.split_once('/').map_or("", |(_, p)| p);
    let user = store.url.split_once("://").and_then(|(_, r)| r.split_once('@')).map_or("", |(u, _)| u);
    via.url = format!("postgres://{user}@{proxy}/{path}");
    via
}

fn lease_held(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("switchyard_lease_held{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unreachable_keeps_serving_refuses_writes_and_lets_leases_lapse() {
    let store = fresh_postgres("pg_down").await;
    let target: std::net::SocketAddr = {
        let host_port = store.url.split_once('@').and_then(|(_, r)| r.split_once('/')).map(|(h, _)| h).expect("host");
        tokio::net::lookup_host(host_port).await.expect("resolve").next().expect("address")
    };
    let proxy = switchyard_testkit::proxy::TcpProxy::start(target).await;
    let r = replica(&through(&store, proxy.addr)).await;
    let metrics_url = format!("{}/metrics", r.admin.trim_end_matches("/api/v1"));
    let holds = eventually(Duration::from_secs(10), async || {
        lease_held(&client().get(&metrics_url).send().await.expect("m").text().await.expect("t")) == 3.0
    })
    .await;
    assert!(holds, "the only replica holds all three leases");
    let v = version_of(&r).await;

    proxy.cut();
    let c = client();
    for _ in 0..20 {
        let resp = c.post(format!("{}/v1/chat/completions", r.data)).body(chat("g")).send().await.expect("send");
        assert_eq!(resp.status(), 200, "the data plane keeps serving its last table");
    }
    let t0 = Instant::now();
    let write = set_weight(&r, v, 33).await;
    assert_eq!(
        write.status(),
        503,
        "a write is refused while the store is away: {}",
        write.text().await.unwrap_or_default()
    );
    assert!(t0.elapsed() < Duration::from_secs(10), "and refused in bounded time ({:?})", t0.elapsed());
    let lapsed = eventually(Duration::from_secs(15), async || {
        lease_held(&client().get(&metrics_url).send().await.expect("m").text().await.expect("t")) == 0.0
    })
    .await;
    assert!(lapsed, "leases lapse while the store is unreachable");

    proxy.restore();
    let back = eventually(Duration::from_secs(15), async || set_weight(&r, v, 34).await.status() == 200).await;
    assert!(back, "writes work again once the store is back");
    r.served.terminate().await;
    drop_postgres(&store).await;
}
