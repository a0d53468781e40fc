//! Console sessions (SPEC §12): a random cookie value maps to the signed-in token's name,
//! role and tenant, with a CSRF token, an idle expiry and an absolute expiry.
//!
//! Invariants:
//! - the cookie value and the CSRF token are 256-bit random values made here and handed
//!   out once ([`SessionSecrets`]); the store keeps only their SHA-256, so a copy of the
//!   database cannot be replayed as a sign-in;
//! - a session is live while the database server's clock is before both its idle and its
//!   absolute expiry; [`Sessions::get`] and [`Sessions::touch`] never return a dead one;
//! - `touch` moves the idle expiry to `now + idle`, never past the absolute expiry.

use std::time::Duration;

use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::config_versions::sha256_hex;
use crate::db::{on_pool, Pool};
use crate::error::StateError;

/// What a new session is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// The admin token's name that signed in.
    pub token_name: String,
    /// `admin` or `viewer`.
    pub role: String,
    /// The token's tenant, when it has one.
    pub tenant: Option<String>,
    /// Idle expiry: a session unused this long ends. SPEC default 30 min.
    pub idle: Duration,
    /// Absolute expiry: a session ends this long after sign-in however it is used.
    /// SPEC default 12 h.
    pub absolute: Duration,
}

/// The values handed to the browser once; never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionSecrets {
    /// The session cookie's value (64 hex digits).
    pub cookie: String,
    /// The CSRF token the console echoes on writes (64 hex digits).
    pub csrf_token: String,
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the cookie value (hex); the session's id in the store.
    pub id_sha256: String,
    /// The admin token's name.
    pub token_name: String,
    /// `admin` or `viewer`.
    pub role: String,
    /// The tenant, when any.
    pub tenant: Option<String>,
    /// Sign-in time, Unix ms (server clock).
    pub created_at_ms: i64,
    /// Last use, Unix ms (server clock).
    pub last_seen_at_ms: i64,
    /// Ends if unused until then, Unix ms.
    pub idle_expires_at_ms: i64,
    /// Ends then at the latest, Unix ms.
    pub absolute_expires_at_ms: i64,
    csrf_sha256: String,
}

/// The session repository of a [`crate::StateStore`].
#[derive(Debug, Clone)]
pub struct Sessions {
    pool: Pool,
}

type SessionRow = (String, String, String, Option<String>, String, i64, i64, i64, i64);

const COLUMNS: &str = "id_sha256, token_name, role, tenant, csrf_sha256, created_at_ms, last_seen_at_ms, \
     idle_expires_at_ms, absolute_expires_at_ms";
const LIVE: &str = "idle_expires_at_ms > {now_ms} AND absolute_expires_at_ms > {now_ms}";

// === impl Sessions ===

impl Sessions {
    pub(crate) fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// Starts a session; the secrets are returned once and only their digests stored.
    pub async fn create(&self, new: &NewSession) -> Result<(SessionSecrets, Session), StateError> {
        if new.token_name.is_empty() || new.role.is_empty() {
            return Err(StateError::invalid("session", "token_name and role must not be empty"));
        }
        let (idle, absolute) = (millis(new.idle, "session.idle")?, millis(new.absolute, "session.absolute")?);
        let secrets = SessionSecrets { cookie: random_hex(), csrf_token: random_hex() };
        let sql = format!(
            "INSERT INTO sessions ({COLUMNS}, idle_timeout_ms) \
             VALUES ($1, $2, $3, $4, $5, {{now_ms}}, {{now_ms}}, {{now_ms}} + $6, {{now_ms}} + $7, $6) \
             RETURNING {COLUMNS}"
        );
        let sql = self.pool.sql(&sql).into_owned();
        let row: SessionRow = on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(sha256_hex(&secrets.cookie))
            .bind(&new.token_name)
            .bind(&new.role)
            .bind(new.tenant.as_deref())
            .bind(sha256_hex(&secrets.csrf_token))
            .bind(idle.min(absolute))
            .bind(absolute)
            .fetch_one(p)
            .await)
        .map_err(|e| StateError::from_sqlx("sessions.create", e))?;
        Ok((secrets, from_row(row)))
    }

    /// The live session for `cookie`, without refreshing it.
    pub async fn get(&self, cookie: &str) -> Result<Option<Session>, StateError> {
        let sql = format!("SELECT {COLUMNS} FROM sessions WHERE id_sha256 = $1 AND {LIVE}");
        let sql = self.pool.sql(&sql).into_owned();
        let row: Option<SessionRow> =
            on_pool!(&self.pool, |p| sqlx::query_as(&sql).bind(sha256_hex(cookie)).fetch_optional(p).await)
                .map_err(|e| StateError::from_sqlx("sessions.get", e))?;
        Ok(row.map(from_row))
    }

    /// Marks the live session for `cookie` as used now and extends its idle expiry
    /// (capped by the absolute one); `None` when there is no live session.
    pub async fn touch(&self, cookie: &str) -> Result<Option<Session>, StateError> {
        let sql = format!(
            "UPDATE sessions SET last_seen_at_ms = {{now_ms}}, idle_expires_at_ms = \
             CASE WHEN {{now_ms}} + idle_timeout_ms < absolute_expires_at_ms \
             THEN {{now_ms}} + idle_timeout_ms ELSE absolute_expires_at_ms END \
             WHERE id_sha256 = $1 AND {LIVE} RETURNING {COLUMNS}"
        );
        let sql = self.pool.sql(&sql).into_owned();
        let row: Option<SessionRow> =
            on_pool!(&self.pool, |p| sqlx::query_as(&sql).bind(sha256_hex(cookie)).fetch_optional(p).await)
                .map_err(|e| StateError::from_sqlx("sessions.touch", e))?;
        Ok(row.map(from_row))
    }

    /// Ends the session for `cookie` (sign-out); `false` when there was none.
    pub async fn delete(&self, cookie: &str) -> Result<bool, StateError> {
        let done = on_pool!(&self.pool, |p| sqlx::query("DELETE FROM sessions WHERE id_sha256 = $1")
            .bind(sha256_hex(cookie))
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StateError::from_sqlx("sessions.delete", e))?;
        Ok(done == 1)
    }

    /// Ends every session signed in with `token_name` (a token removed or rotated).
    pub async fn delete_for_token(&self, token_name: &str) -> Result<u64, StateError> {
        let done = on_pool!(&self.pool, |p| sqlx::query("DELETE FROM sessions WHERE token_name = $1")
            .bind(token_name)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StateError::from_sqlx("sessions.delete_for_token", e))?;
        Ok(done)
    }

    /// Removes sessions past either expiry; returns how many.
    pub async fn delete_expired(&self) -> Result<u64, StateError> {
        let sql = self
            .pool
            .sql("DELETE FROM sessions WHERE idle_expires_at_ms <= {now_ms} OR absolute_expires_at_ms <= {now_ms}");
        let done = on_pool!(&self.pool, |p| sqlx::query(&sql).execute(p).await.map(|r| r.rows_affected()))
            .map_err(|e| StateError::from_sqlx("sessions.delete_expired", e))?;
        Ok(done)
    }
}

// === impl Session ===

impl Session {
    /// Whether `csrf_token` is this session's CSRF token (constant-time on the digests).
    pub fn csrf_matches(&self, csrf_token: &str) -> bool {
        sha256_hex(csrf_token).as_bytes().ct_eq(self.csrf_sha256.as_bytes()).into()
    }
}

impl std::fmt::Debug for SessionSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSecrets { <redacted> }")
    }
}

fn millis(d: Duration, field: &'static str) -> Result<i64, StateError> {
    if d.is_zero() || d > Duration::from_secs(366 * 86_400) {
        return Err(StateError::invalid(field, "must be between 1 ms and 366 days"));
    }
    Ok(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn from_row(row: SessionRow) -> Session {
    let (id_sha256, token_name, role, tenant, csrf_sha256, created_at_ms, last_seen_at_ms, idle, absolute) = row;
    Session {
        id_sha256,
        token_name,
        role,
        tenant,
        created_at_ms,
        last_seen_at_ms,
        idle_expires_at_ms: idle,
        absolute_expires_at_ms: absolute,
        csrf_sha256,
    }
}
