//! The per-process settings: listen addresses, limits, records and the state store.

use std::net::SocketAddr;

use super::check_url;
use crate::error::Problem;
use crate::schema::Config;

pub(super) fn check_state(cfg: &Config, problems: &mut Vec<Problem>) {
    let url = cfg.state.url.as_str();
    let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if !postgres && !url.starts_with("sqlite://") {
        problems.push(Problem::new("state.url", format!("`{url}` must be sqlite://<path> or postgres://user@host/db")));
    }
    if url.split_once("://").and_then(|(_, rest)| rest.split_once('@')).is_some_and(|(auth, _)| auth.contains(':')) {
        problems
            .push(Problem::new("state.url", "must not contain a password; use state.password: env:NAME or file:/path"));
    }
    if cfg.state.shared_config && !postgres {
        problems.push(Problem::new("state.shared_config", "needs a postgres:// state.url (replicas share it)"));
    }
    if cfg.state.password.is_some() && !postgres {
        problems.push(Problem::new("state.password", "only a postgres:// state.url takes a password"));
    }
}

pub(super) fn check_addr(problems: &mut Vec<Problem>, path: &str, addr: &str) {
    if addr.parse::<SocketAddr>().is_err() {
        problems.push(Problem::new(path, format!("`{addr}` is not an address like 127.0.0.1:8080")));
    }
}

pub(super) fn check_limits(cfg: &Config, problems: &mut Vec<Problem>) {
    let l = &cfg.limits;
    for (key, v) in [
        ("max_body_bytes", l.max_body_bytes),
        ("header_timeout_ms", l.header_timeout_ms),
        ("body_timeout_ms", l.body_timeout_ms),
        ("keepalive_timeout_ms", l.keepalive_timeout_ms),
        ("max_response_bytes", l.max_response_bytes),
        ("max_translated_elements", l.max_translated_elements),
        ("h2_max_concurrent_streams", l.h2_max_concurrent_streams.into()),
        ("h2_max_pending_accept_reset_streams", l.h2_max_pending_accept_reset_streams.into()),
        ("h2_max_local_error_reset_streams", l.h2_max_local_error_reset_streams.into()),
        ("h2_max_header_list_bytes", l.h2_max_header_list_bytes.into()),
        ("h2_keepalive_timeout_ms", l.h2_keepalive_timeout_ms),
    ] {
        if v == 0 {
            problems.push(Problem::new(format!("limits.{key}"), "must be > 0"));
        }
    }
    // RFC 9113 §6.5.2: SETTINGS_MAX_FRAME_SIZE lies between 2^14 and 2^24 - 1.
    if !(16_384..=16_777_215).contains(&l.h2_max_frame_bytes) {
        problems.push(Problem::new("limits.h2_max_frame_bytes", "must be between 16384 and 16777215"));
    }
}

pub(super) fn check_records(cfg: &Config, problems: &mut Vec<Problem>) {
    let r = &cfg.records;
    if let Some(ch) = &r.clickhouse {
        check_url(problems, "records.clickhouse.url", &ch.url);
        if let Some(pw) = &ch.password {
            if let Err(msg) = pw.source() {
                problems.push(Problem::new("records.clickhouse.password", msg));
            }
        }
        let db_ok = !ch.database.is_empty() && ch.database.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !db_ok {
            problems.push(Problem::new("records.clickhouse.database", "must be letters, digits and _"));
        }
        if let Some(cluster) = &ch.cluster {
            let ok = !cluster.is_empty()
                && cluster.len() <= 64
                && cluster.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !ok {
                problems.push(Problem::new("records.clickhouse.cluster", "must be 1-64 letters, digits, _ and -"));
            }
        }
    }
    if r.spool.dir.is_empty() {
        problems.push(Problem::new("records.spool.dir", "must not be empty"));
    }
    if r.spool.max_bytes == 0 {
        problems.push(Problem::new("records.spool.max_bytes", "must be > 0"));
    }
    if r.batch.max_rows == 0 {
        problems.push(Problem::new("records.batch.max_rows", "must be > 0"));
    }
    if r.queue_capacity == 0 {
        problems.push(Problem::new("records.queue_capacity", "must be > 0"));
    }
    if r.retry.initial_backoff_ms == 0 {
        problems.push(Problem::new("records.retry.initial_backoff_ms", "must be > 0"));
    }
    if r.retry.isolate_after_ms == 0 {
        problems.push(Problem::new("records.retry.isolate_after_ms", "must be > 0"));
    }
    if r.retry.max_backoff_ms < r.retry.initial_backoff_ms {
        problems.push(Problem::new("records.retry.max_backoff_ms", "must be ≥ records.retry.initial_backoff_ms"));
    }
}

/// `admin.session_idle_ms` in 1000 ..= the absolute limit, which is at most 30 days.
pub(super) fn check_session_limits(problems: &mut Vec<Problem>, admin: &crate::schema::AdminConfig) {
    use crate::schema::SESSION_ABSOLUTE_MAX_MS;
    let (idle, absolute) = admin.session_limits_ms();
    if absolute == 0 || absolute > SESSION_ABSOLUTE_MAX_MS {
        problems.push(Problem::new(
            "admin.session_absolute_ms",
            format!("must be between 1 and {SESSION_ABSOLUTE_MAX_MS} (30 days)"),
        ));
    } else if idle < 1000 || idle > absolute {
        problems.push(Problem::new(
            "admin.session_idle_ms",
            format!("must be at least 1000 and at most admin.session_absolute_ms ({absolute})"),
        ));
    }
}
