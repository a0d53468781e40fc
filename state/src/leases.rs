//! Leases for work that must run on one replica at a time.
//!
//! Invariants:
//! - the names are fixed ([`LeaseName`]), so a metric label or a row can never be a name
//!   from outside;
//! - [`Leases::try_acquire_or_renew`] is one atomic upsert: it succeeds when the lease is
//!   free, expired, or already the caller's, and otherwise changes nothing. Expiry is
//!   computed and compared on the **database server's clock** (`now + ttl`), never a
//!   replica's, so skewed replica clocks cannot make two holders;
//! - the fencing `token` grows by one each time the holder changes; work that writes can
//!   check it to refuse a former holder that has not noticed it lost the lease;
//! - a replica must treat a lease as lost at its *own* estimate of the expiry (see
//!   `lease_keeper.rs`, which counts the remaining time from before the request was sent).

use std::time::Duration;

use crate::db::{on_pool, to_u64, Pool};
use crate::error::StateError;

/// The fixed leases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaseName {
    /// Auto-promotion decisions.
    Autopilot,
    /// Retention (partition drops, audit and session clean-up).
    Retention,
    /// The fine-tuning job worker.
    Jobs,
}

/// The outcome of one acquire-or-renew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseState {
    /// The lease.
    pub name: LeaseName,
    /// Whether the caller holds it now.
    pub held: bool,
    /// Who holds it: the caller when `held`, else the replica whose unexpired lease
    /// stopped the caller (a free or expired lease is always taken).
    pub holder: String,
    /// When the holder's lease ends, Unix ms on the server's clock.
    pub expires_at_ms: i64,
    /// The server's clock when the statement ran, Unix ms.
    pub server_now_ms: i64,
    /// The fencing token of the current holder.
    pub token: u64,
}

/// A lease row, for listings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeaseInfo {
    /// The lease's name.
    pub name: String,
    /// The last holder (still the holder while not `expired`).
    pub holder: String,
    /// When the holder took it, Unix ms (server clock).
    pub acquired_at_ms: i64,
    /// When it ends, Unix ms (server clock).
    pub expires_at_ms: i64,
    /// The fencing token.
    pub token: u64,
    /// Whether it had ended when listed.
    pub expired: bool,
}

/// The lease repository of a [`crate::StateStore`].
#[derive(Debug, Clone)]
pub struct Leases {
    pool: Pool,
}

const ACQUIRE: &str = "INSERT INTO leases (name, holder, acquired_at_ms, expires_at_ms, token) \
     VALUES ($1, $2, {now_ms}, {now_ms} + $3, 1) \
     ON CONFLICT (name) DO UPDATE SET \
       holder = excluded.holder, \
       expires_at_ms = excluded.expires_at_ms, \
       acquired_at_ms = CASE WHEN leases.holder = excluded.holder AND leases.expires_at_ms > excluded.acquired_at_ms \
                        THEN leases.acquired_at_ms ELSE excluded.acquired_at_ms END, \
       token = CASE WHEN leases.holder = excluded.holder THEN leases.token ELSE leases.token + 1 END \
     WHERE leases.holder = excluded.holder OR leases.expires_at_ms <= excluded.acquired_at_ms \
     RETURNING holder, expires_at_ms, token, {now_ms}";
const CURRENT: &str = "SELECT holder, expires_at_ms, token, {now_ms} FROM leases WHERE name = $1";
const RELEASE: &str =
    "UPDATE leases SET expires_at_ms = {now_ms} WHERE name = $1 AND holder = $2 AND expires_at_ms > {now_ms}";
const LIST: &str = "SELECT name, holder, acquired_at_ms, expires_at_ms, token, \
     CAST(CASE WHEN expires_at_ms <= {now_ms} THEN 1 ELSE 0 END AS BIGINT) FROM leases ORDER BY name";

/// Longest lease a caller may ask for.
const MAX_TTL: Duration = Duration::from_secs(3600);

// === impl LeaseName ===

impl LeaseName {
    /// Every lease, in a fixed order.
    pub const ALL: [LeaseName; 3] = [LeaseName::Autopilot, LeaseName::Retention, LeaseName::Jobs];

    /// The stored name and metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Autopilot => "autopilot",
            Self::Retention => "retention",
            Self::Jobs => "jobs",
        }
    }

    /// The lease called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == name)
    }
}

// === impl Leases ===

impl Leases {
    pub(crate) fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// Takes `name` for `holder` until server-now + `ttl` when it is free, expired or
    /// already `holder`'s (renewing it); otherwise reports the other holder.
    pub async fn try_acquire_or_renew(
        &self,
        name: LeaseName,
        holder: &str,
        ttl: Duration,
    ) -> Result<LeaseState, StateError> {
        if holder.is_empty() {
            return Err(StateError::invalid("holder", "must not be empty"));
        }
        if ttl < Duration::from_millis(1) || ttl > MAX_TTL {
            return Err(StateError::invalid("ttl", "must be between 1 ms and 1 h"));
        }
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let err = |e| StateError::from_sqlx("leases.try_acquire_or_renew", e);
        let acquire = self.pool.sql(ACQUIRE);
        let row: Option<(String, i64, i64, i64)> = on_pool!(&self.pool, |p| sqlx::query_as(&acquire)
            .bind(name.as_str())
            .bind(holder)
            .bind(ttl_ms)
            .fetch_optional(p)
            .await)
        .map_err(err)?;
        let (row, held) = match row {
            Some(row) => (row, true),
            None => {
                let current = self.pool.sql(CURRENT);
                let row: (String, i64, i64, i64) =
                    on_pool!(&self.pool, |p| sqlx::query_as(&current).bind(name.as_str()).fetch_one(p).await)
                        .map_err(err)?;
                (row, false)
            }
        };
        let (holder, expires_at_ms, token, server_now_ms) = row;
        Ok(LeaseState { name, held, holder, expires_at_ms, server_now_ms, token: to_u64(token, "lease token")? })
    }

    /// Ends `holder`'s lease on `name` now; `false` when `holder` did not hold it.
    pub async fn release(&self, name: LeaseName, holder: &str) -> Result<bool, StateError> {
        let sql = self.pool.sql(RELEASE);
        let done = on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(name.as_str())
            .bind(holder)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StateError::from_sqlx("leases.release", e))?;
        Ok(done == 1)
    }

    /// Every lease that was ever taken, by name.
    pub async fn list(&self) -> Result<Vec<LeaseInfo>, StateError> {
        let sql = self.pool.sql(LIST);
        let rows: Vec<(String, String, i64, i64, i64, i64)> =
            on_pool!(&self.pool, |p| sqlx::query_as(&sql).fetch_all(p).await)
                .map_err(|e| StateError::from_sqlx("leases.list", e))?;
        rows.into_iter()
            .map(|(name, holder, acquired_at_ms, expires_at_ms, token, expired)| {
                Ok(LeaseInfo {
                    name,
                    holder,
                    acquired_at_ms,
                    expires_at_ms,
                    token: to_u64(token, "lease token")?,
                    expired: expired != 0,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in LeaseName::ALL {
            assert_eq!(LeaseName::parse(name.as_str()), Some(name));
        }
        assert_eq!(LeaseName::parse("other"), None);
    }
}
