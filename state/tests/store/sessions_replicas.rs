//! Console sessions and the cluster view.

use std::time::Duration;

use switchyard_state::{LeaseName, NewSession};

use crate::both_engines;
use crate::common::Harness;

fn new_session(idle_ms: u64, absolute_ms: u64) -> NewSession {
    NewSession {
        token_name: "ops".into(),
        role: "admin".into(),
        tenant: Some("acme".into()),
        idle: Duration::from_millis(idle_ms),
        absolute: Duration::from_millis(absolute_ms),
    }
}

async fn sessions_live_until_idle_or_absolute_expiry(h: &Harness) {
    let store = h.store().await;
    let sessions = store.sessions();
    let (secrets, session) = sessions.create(&new_session(60_000, 3_600_000)).await.unwrap();
    assert_eq!(secrets.cookie.len(), 64);
    assert_ne!(secrets.cookie, secrets.csrf_token);
    assert!(!format!("{secrets:?}").contains(&secrets.cookie), "secrets never print");
    // Only digests are stored.
    assert_ne!(session.id_sha256, secrets.cookie);
    assert_eq!(session.absolute_expires_at_ms - session.created_at_ms, 3_600_000);
    assert_eq!(session.idle_expires_at_ms - session.created_at_ms, 60_000);

    let got = sessions.get(&secrets.cookie).await.unwrap().unwrap();
    assert_eq!((got.token_name.as_str(), got.role.as_str(), got.tenant.as_deref()), ("ops", "admin", Some("acme")));
    assert!(got.csrf_matches(&secrets.csrf_token));
    assert!(!got.csrf_matches("forged"));
    assert_eq!(sessions.get("not-a-cookie").await.unwrap(), None);

    // Idle expiry: unused for longer than `idle` ends the session; touching extends it.
    let (short, _) = sessions.create(&new_session(1000, 60_000)).await.unwrap();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(sessions.touch(&short.cookie).await.unwrap().is_some(), "touched within idle: still live");
    }
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(sessions.touch(&short.cookie).await.unwrap(), None, "idle expired");
    assert_eq!(sessions.get(&short.cookie).await.unwrap(), None);

    // Absolute expiry caps touching: touched every 300 ms, a session with a 600 ms idle
    // and a 1.5 s absolute expiry outlives its idle time but not its absolute one.
    let (capped, _) = sessions.create(&new_session(600, 1500)).await.unwrap();
    let started = std::time::Instant::now();
    let mut ended = None;
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        match sessions.touch(&capped.cookie).await.unwrap() {
            Some(s) => assert!(s.idle_expires_at_ms <= s.absolute_expires_at_ms),
            None => {
                ended = Some(started.elapsed());
                break;
            }
        }
    }
    let ended = ended.expect("the absolute expiry ends the session");
    assert!(ended >= Duration::from_millis(1200) && ended < Duration::from_millis(3000), "{ended:?}");

    // Clean-up and sign-out.
    assert_eq!(sessions.delete_expired().await.unwrap(), 2);
    let (other, _) = sessions.create(&new_session(60_000, 60_000)).await.unwrap();
    assert!(sessions.delete(&secrets.cookie).await.unwrap());
    assert!(!sessions.delete(&secrets.cookie).await.unwrap());
    assert_eq!(sessions.delete_for_token("ops").await.unwrap(), 1);
    assert_eq!(sessions.get(&other.cookie).await.unwrap(), None);
}
both_engines!(sessions_live_until_idle_or_absolute_expiry);

async fn replicas_heartbeat_into_the_cluster_view(h: &Harness) {
    let store = h.store().await;
    let replicas = store.replicas();
    for (id, version) in [("r1", 3), ("r2", 3), ("r3", 2)] {
        replicas.heartbeat(id, &format!("{id}.internal:9090"), version).await.unwrap();
    }
    replicas.heartbeat("r3", "r3.internal:9090", 3).await.unwrap();
    let listed = replicas.list(Duration::from_secs(60)).await.unwrap();
    assert_eq!(
        listed.iter().map(|r| (r.id.as_str(), r.config_version)).collect::<Vec<_>>(),
        vec![("r1", 3), ("r2", 3), ("r3", 3)]
    );
    assert!(listed[2].last_seen_ms >= listed[2].started_at_ms);

    store.leases().try_acquire_or_renew(LeaseName::Autopilot, "r2", Duration::from_secs(30)).await.unwrap();
    store.leases().try_acquire_or_renew(LeaseName::Jobs, "r1", Duration::from_millis(1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let view = replicas.cluster("r1", Duration::from_secs(60), &store.leases()).await.unwrap();
    let json = serde_json::to_value(&view).unwrap();
    assert_eq!(json["self"], "r1");
    assert_eq!(json["replicas"][1]["id"], "r2");
    assert_eq!(json["replicas"][1]["address"], "r2.internal:9090");
    assert_eq!(json["replicas"][1]["config_version"], 3);
    assert!(json["replicas"][1]["last_seen"].as_i64().unwrap() > 1_600_000_000_000);
    assert_eq!(json["leases"]["autopilot"]["holder"], "r2");
    assert!(json["leases"]["autopilot"]["expires_at"].as_i64().is_some());
    assert!(json["leases"].get("jobs").is_none(), "an expired lease has no holder: {json}");

    // Old replicas drop out of the view, then get pruned; a clean shutdown removes itself.
    tokio::time::sleep(Duration::from_millis(300)).await;
    replicas.heartbeat("r1", "r1.internal:9090", 4).await.unwrap();
    assert_eq!(replicas.list(Duration::from_millis(200)).await.unwrap().len(), 1);
    assert_eq!(replicas.prune(Duration::from_millis(200)).await.unwrap(), 2);
    assert!(replicas.remove("r1").await.unwrap());
    assert!(replicas.list(Duration::from_secs(60)).await.unwrap().is_empty());
}
both_engines!(replicas_heartbeat_into_the_cluster_view);
