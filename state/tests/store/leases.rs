//! Leases: one holder at a time on the server's clock, take-over when a holder stops,
//! and the keeper's view and gauge.

use std::time::{Duration, Instant};

use prometheus::Registry;
use switchyard_state::{LeaseKeeper, LeaseKeeperOptions, LeaseName};

use crate::both_engines;
use crate::common::{within, Harness};

async fn one_holder_at_a_time_on_the_server_clock(h: &Harness) {
    let (a, b) = (h.store().await, h.store().await);
    let ttl = Duration::from_millis(1500);
    let got = a.leases().try_acquire_or_renew(LeaseName::Autopilot, "replica-a", ttl).await.unwrap();
    assert!(got.held);
    assert_eq!(got.holder, "replica-a");
    // Expiry is the server's now plus the ttl, both read in the same statement.
    assert_eq!(got.expires_at_ms - got.server_now_ms, 1500);
    let server_now = a.server_now_ms().await.unwrap();
    assert!((server_now - got.server_now_ms).abs() < 1000);
    let first_token = got.token;

    let refused = b.leases().try_acquire_or_renew(LeaseName::Autopilot, "replica-b", ttl).await.unwrap();
    assert!(!refused.held);
    assert_eq!((refused.holder.as_str(), refused.expires_at_ms), ("replica-a", got.expires_at_ms));
    // Another lease is independent.
    assert!(b.leases().try_acquire_or_renew(LeaseName::Jobs, "replica-b", ttl * 20).await.unwrap().held);

    // Renewing keeps the token and moves the expiry.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let renewed = a.leases().try_acquire_or_renew(LeaseName::Autopilot, "replica-a", ttl).await.unwrap();
    assert!(renewed.held && renewed.token == first_token && renewed.expires_at_ms > got.expires_at_ms);

    // Once the server's clock passes the expiry, the other replica takes it, with a new token.
    let took = within(Duration::from_secs(4), || async {
        b.leases().try_acquire_or_renew(LeaseName::Autopilot, "replica-b", ttl).await.unwrap().held
    })
    .await
    .expect("replica-b takes the expired lease");
    assert!(took >= Duration::from_millis(1200), "taken only after the expiry: {took:?}");
    let now_b = b.leases().try_acquire_or_renew(LeaseName::Autopilot, "replica-b", ttl).await.unwrap();
    assert_eq!(now_b.token, first_token + 1);
    assert!(!a.leases().try_acquire_or_renew(LeaseName::Autopilot, "replica-a", ttl).await.unwrap().held);

    // Release frees it at once; only the holder can release.
    assert!(!a.leases().release(LeaseName::Autopilot, "replica-a").await.unwrap());
    assert!(b.leases().release(LeaseName::Autopilot, "replica-b").await.unwrap());
    assert!(a.leases().try_acquire_or_renew(LeaseName::Autopilot, "replica-a", ttl).await.unwrap().held);

    let list = a.leases().list().await.unwrap();
    let names: Vec<_> = list.iter().map(|l| (l.name.as_str(), l.holder.as_str(), l.expired)).collect();
    assert_eq!(names, vec![("autopilot", "replica-a", false), ("jobs", "replica-b", false)]);
}
both_engines!(one_holder_at_a_time_on_the_server_clock);

fn gauge(registry: &Registry, lease: &str) -> i64 {
    let families = registry.gather();
    let family = families.iter().find(|f| f.name() == "switchyard_lease_held").expect("gauge registered");
    let metric = family
        .get_metric()
        .iter()
        .find(|m| m.get_label().iter().any(|l| l.name() == "lease" && l.value() == lease))
        .expect("label present from start-up");
    metric.get_gauge().get_value() as i64
}

async fn another_replica_takes_over_when_the_holder_stops(h: &Harness) {
    let ttl = Duration::from_millis(1500);
    let (store_a, store_b) = (h.store().await, h.store().await);
    let (reg_a, reg_b) = (Registry::new(), Registry::new());
    let a = LeaseKeeper::start(
        store_a.leases(),
        LeaseKeeperOptions { ttl, ..LeaseKeeperOptions::new("replica-a") },
        &reg_a,
    )
    .unwrap();
    within(Duration::from_secs(3), || async { LeaseName::ALL.iter().all(|l| a.is_held(*l)) })
        .await
        .expect("the first replica takes every free lease at start-up");
    let b = LeaseKeeper::start(
        store_b.leases(),
        LeaseKeeperOptions { ttl, ..LeaseKeeperOptions::new("replica-b") },
        &reg_b,
    )
    .unwrap();
    let handle_b = b.handle();
    assert_eq!(gauge(&reg_b, "autopilot"), 0);

    // While A heartbeats, B never holds anything (several ttls).
    let start = Instant::now();
    while start.elapsed() < ttl * 2 {
        assert!(LeaseName::ALL.iter().all(|l| !handle_b.is_held(*l) && a.is_held(*l)));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(gauge(&reg_a, "jobs"), 1);
    let token_a = a.handle().token(LeaseName::Jobs).unwrap();

    // A dies without releasing (its task stops; nothing more is sent).
    drop(a);
    let took = within(ttl * 3, || async { LeaseName::ALL.iter().all(|l| handle_b.is_held(*l)) })
        .await
        .expect("B holds every lease after A stopped");
    eprintln!("{:?}: take-over after {took:?} (ttl {ttl:?})", h.engine);
    assert!(took <= ttl + ttl / 3 + Duration::from_millis(500), "take-over within ttl + one tick: {took:?}");
    assert!(handle_b.token(LeaseName::Jobs).unwrap() > token_a);
    within(Duration::from_secs(1), || async { gauge(&reg_b, "retention") == 1 }).await.expect("gauge follows");

    // A clean shutdown releases at once: a third replica takes over within a tick.
    let reg_c = Registry::new();
    let store_c = h.store().await;
    let c = LeaseKeeper::start(
        store_c.leases(),
        LeaseKeeperOptions { ttl, ..LeaseKeeperOptions::new("replica-c") },
        &reg_c,
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!c.is_held(LeaseName::Autopilot));
    b.shutdown().await;
    let took = within(ttl, || async { c.is_held(LeaseName::Autopilot) }).await.expect("C takes the released lease");
    assert!(took <= ttl / 3 + Duration::from_millis(300), "{took:?}");
    c.shutdown().await;
}
both_engines!(another_replica_takes_over_when_the_holder_stops);

async fn a_keeper_refuses_a_second_registration_and_bad_options(h: &Harness) {
    let store = h.store().await;
    let registry = Registry::new();
    let keeper = LeaseKeeper::start(store.leases(), LeaseKeeperOptions::new("r"), &registry).unwrap();
    assert!(LeaseKeeper::start(store.leases(), LeaseKeeperOptions::new("r2"), &registry).is_err());
    let e = LeaseKeeper::start(store.leases(), LeaseKeeperOptions::new(""), &Registry::new()).unwrap_err();
    assert_eq!(e.to_string(), "holder: must not be empty");
    keeper.shutdown().await;
}
both_engines!(a_keeper_refuses_a_second_registration_and_bad_options);
