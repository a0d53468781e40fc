//! The state store against both engines: every test body here runs on SQLite in a temp
//! dir and on the real PostgreSQL of `scripts/postgres.sh` (see `common`).
#![allow(clippy::unwrap_used)]

mod common;

mod audit;
mod catalog;
mod config_versions;
mod jobs;
mod leases;
mod migrate;
mod sessions_replicas;
mod unreachable;
mod watch;

/// Every public future is `Send`, so the binary can `tokio::spawn` any of them (a
/// compile-time check; never called).
#[allow(dead_code)]
fn public_futures_are_send(
    store: switchyard_state::StateStore,
    entry: switchyard_state::AuditEntry,
    session: switchyard_state::NewSession,
    keeper: switchyard_state::LeaseKeeper,
) {
    fn send<T: Send>(_: T) {}
    let name = switchyard_state::LeaseName::Jobs;
    let d = std::time::Duration::ZERO;
    let p = std::path::Path::new("");
    send(switchyard_state::StateStore::open(&switchyard_state::StoreOptions::default()));
    send(store.migrate());
    send(store.ping());
    send(store.server_now_ms());
    send(store.watch_versions(Default::default()));
    send(store.close());
    let v = store.config_versions();
    send(v.append(0, "", "", ""));
    send(v.append_audited(0, "", "", "", &entry));
    send(v.latest());
    send(v.latest_version());
    send(v.get(1));
    send(v.list(1, None));
    send(v.import(&[], ""));
    send(v.import_history_dir(p));
    let a = store.audit();
    send(a.append(&entry));
    send(a.append_batch(&[]));
    send(a.list(&Default::default()));
    send(a.delete_older_than(1));
    send(a.import_jsonl(&b""[..]));
    send(a.import_jsonl_file(p));
    let l = store.leases();
    send(l.try_acquire_or_renew(name, "", d));
    send(l.release(name, ""));
    send(l.list());
    let r = store.replicas();
    send(r.heartbeat("", "", 0));
    send(r.list(d));
    send(r.remove(""));
    send(r.prune(d));
    send(r.cluster("", d, &l));
    let s = store.sessions();
    send(s.create(&session));
    send(s.get(""));
    send(s.touch(""));
    send(s.delete(""));
    send(s.delete_for_token(""));
    send(s.delete_expired());
    send(keeper.shutdown());
}
