//! Wiring the records pipeline into the gateway.
//!
//! Maps the config's `records:` block onto [`RecordsOptions`] (resolving the ClickHouse
//! password reference), and keeps ClickHouse's per-group tables in step with the routing
//! table: every published table's groups are handed to [`RecordQueue::provision_groups`],
//! which creates missing `inferences_<group>` tables off the hot path.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use switchyard_config::schema::{Config, WhenFull as ConfigWhenFull};
use switchyard_config::{ConfigError, Problem};
use switchyard_records::{
    BatchOptions, ClickHouseOptions, GroupSpec, RecordQueue, RecordsOptions, RetryOptions, SpoolOptions, WhenFull,
};

use tokio::sync::watch;

use crate::listen::Phase;
use crate::proxy::{Store, Table};

/// Grace the records pipeline gets at shutdown to ship what is spooled.
pub const SHIP_ON_SHUTDOWN: Duration = Duration::from_secs(5);

/// The pipeline options for `cfg`; a relative `records.spool.dir` resolves against `base`
/// (the config file's directory, SPEC part two).
pub fn options(cfg: &Config, base: &Path) -> Result<RecordsOptions, ConfigError> {
    let r = &cfg.records;
    let clickhouse = match &r.clickhouse {
        None => None,
        Some(ch) => {
            let password = match &ch.password {
                None => None,
                Some(secret) => Some(
                    secret
                        .resolve()
                        .map_err(|msg| ConfigError::from(vec![Problem::new("records.clickhouse.password", msg)]))?
                        .expose()
                        .to_owned(),
                ),
            };
            Some(ClickHouseOptions {
                url: ch.url.clone(),
                database: ch.database.clone(),
                user: ch.user.clone(),
                password,
                cluster: ch.cluster.clone(),
            })
        }
    };
    Ok(RecordsOptions {
        spool: SpoolOptions {
            dir: base.join(&r.spool.dir),
            max_bytes: r.spool.max_bytes,
            when_full: match r.spool.when_full {
                ConfigWhenFull::DropNew => WhenFull::DropNew,
                ConfigWhenFull::Reject => WhenFull::Reject,
            },
            fsync_interval_ms: r.spool.fsync_interval_ms,
            queue_capacity: r.queue_capacity,
            ..SpoolOptions::default()
        },
        migrate_on_start: r.clickhouse.as_ref().is_some_and(|c| c.auto_migrate),
        clickhouse,
        batch: BatchOptions {
            max_rows: r.batch.max_rows,
            max_bytes: r.batch.max_bytes,
            max_delay_ms: r.batch.max_delay_ms,
        },
        retry: RetryOptions {
            initial_backoff_ms: r.retry.initial_backoff_ms,
            max_backoff_ms: r.retry.max_backoff_ms,
            isolate_after_ms: r.retry.isolate_after_ms,
        },
        janitor_interval: std::time::Duration::from_secs(cfg.retention.interval_s),
        shared_retention: switchyard_records::SharedRetention {
            feedback_days: cfg.retention.feedback_days,
            explanations_days: cfg.retention.explanations_days,
            audit_days: cfg.retention.audit_days,
            dead_letter_days: cfg.retention.dead_letter_days,
        },
        ..RecordsOptions::default()
    })
}

/// The groups of `table` as the records pipeline needs them.
pub fn group_specs(table: &Table) -> Vec<GroupSpec> {
    table.groups().map(|g| GroupSpec { name: g.name.clone(), retention_days: Some(g.records.retention_days) }).collect()
}

/// Provisions the current groups now and after every table swap, until shutdown starts
/// (the task's queue clone must be gone before the record queue can close).
pub fn keep_groups_provisioned(store: &Arc<Store>, queue: RecordQueue, mut phase: watch::Receiver<Phase>) {
    let mut tables = store.subscribe();
    queue.provision_groups(&group_specs(&tables.borrow_and_update()));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = tables.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let specs = group_specs(&tables.borrow_and_update());
                    queue.provision_groups(&specs);
                }
                _ = phase.wait_for(|p| *p >= Phase::Draining) => break,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shippers_backoff_comes_from_records_retry() {
        let yaml = format!("{}records:\n  retry: {{ initial_backoff_ms: 50, max_backoff_ms: 2000 }}\n", QUICK);
        let cfg = switchyard_config::validate::parse(&yaml).expect("parses");
        let retry = options(&cfg, Path::new(".")).expect("options").retry;
        assert_eq!((retry.initial_backoff_ms, retry.max_backoff_ms), (50, 2000));
        let defaults = options(&switchyard_config::validate::parse(QUICK).expect("parses"), Path::new("."))
            .expect("options")
            .retry;
        assert_eq!((defaults.initial_backoff_ms, defaults.max_backoff_ms), (200, 30_000));
    }

    #[test]
    fn a_relative_spool_dir_resolves_against_the_config_files_directory() {
        let at = |dir: &str| {
            let yaml = format!("{QUICK}records:\n  spool: {{ dir: \"{dir}\" }}\n");
            let cfg = switchyard_config::validate::parse(&yaml).expect("parses");
            options(&cfg, Path::new("/etc/switchyard")).expect("options").spool.dir
        };
        assert_eq!(at("spool"), Path::new("/etc/switchyard/spool"));
        assert_eq!(at("./data/spool"), Path::new("/etc/switchyard/./data/spool"));
        assert_eq!(at("/var/lib/switchyard/spool"), Path::new("/var/lib/switchyard/spool"), "absolute stays");
    }

    const QUICK: &str = "providers:\n  m: { kind: mock }\ngroups:\n  g:\n    members:\n      - { name: a, role: champion, provider: m }\n";
}
