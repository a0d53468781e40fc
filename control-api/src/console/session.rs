//! Console sessions (SPEC §12): sign-in with an admin or viewer token, the session and
//! CSRF cookies, and the session → [`Operator`] step of authentication.
//!
//! - `sy_session`: the session's random value; `HttpOnly; SameSite=Strict; Path=/`, plus
//!   `Secure` when the admin listener has `admin_tls`. The state store keeps only its
//!   SHA-256 ([`switchyard_state::Sessions`]), so sessions work across replicas.
//! - `sy_csrf`: the session's CSRF token, readable by the console's script, which echoes
//!   it in `x-csrf-token` on every write; the server compares it with the stored digest
//!   (a forged cross-site request can neither read it nor set the header).
//! - Sessions end after `admin.session_idle_ms` unused (default [`IDLE`]; moved at most
//!   every [`TOUCH_EVERY`] or a quarter of that limit) or `admin.session_absolute_ms`
//!   after sign-in (default [`ABSOLUTE`]), on sign-out, and
//!   as soon as their token is no longer configured; they take the token's current role.

use std::time::{Duration, Instant};

use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use switchyard_config::schema::AdminRole;
use switchyard_state::{NewSession, SessionSecrets};

use crate::auth::Operator;
use crate::error::ApiError;
use crate::ControlState;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "sy_session";
/// The CSRF cookie's name.
pub const CSRF_COOKIE: &str = "sy_csrf";
/// The header a session's writes carry the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Idle expiry (SPEC default).
pub const IDLE: Duration = Duration::from_millis(switchyard_config::schema::SESSION_IDLE_MS);
/// Absolute expiry (SPEC default).
pub const ABSOLUTE: Duration = Duration::from_millis(switchyard_config::schema::SESSION_ABSOLUTE_MS);
/// How often a session in use has its idle expiry moved (so idle expiry is exact to
/// within this much).
pub const TOUCH_EVERY: Duration = Duration::from_secs(30);

/// Why a sign-in failed.
#[derive(Debug)]
pub enum SignInError {
    /// Too many failures from this address; seconds to wait.
    Throttled(u64),
    /// The token is not configured.
    BadToken,
    /// The store could not start the session.
    Store(ApiError),
}

/// The operator of a request's session cookie; writes need the CSRF header.
pub async fn operator(parts: &Parts, state: &ControlState) -> Result<Operator, ApiError> {
    let cookie = cookie(&parts.headers, SESSION_COOKIE).ok_or(ApiError::Unauthenticated)?;
    let sessions = state.plane.store().sessions();
    let unavailable = |e: switchyard_state::StateError| ApiError::Unavailable(format!("state store: {e}"));
    let mut session = sessions.get(cookie).await.map_err(unavailable)?.ok_or(ApiError::Unauthenticated)?;
    // A read per request; the idle expiry moves at most once per TOUCH_EVERY (a console
    // page makes a burst of requests, and each touch is a write).
    if switchyard_core::unix_ms().saturating_sub(session.last_seen_at_ms) >= touch_every(state).as_millis() as i64 {
        session = sessions.touch(cookie).await.map_err(unavailable)?.ok_or(ApiError::Unauthenticated)?;
    }
    let Some(op) = Operator::by_name(state, &session.token_name) else {
        // The token was removed or renamed: its sessions end with it.
        let _ = state.plane.store().sessions().delete(cookie).await;
        return Err(ApiError::Unauthenticated);
    };
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if sent.is_empty() || !session.csrf_matches(sent) {
            return Err(ApiError::CsrfRequired);
        }
    }
    Ok(op)
}

/// Signs in with `token` from `source`: the session's secrets and the operator.
pub async fn sign_in(
    state: &ControlState,
    token: &str,
    source: super::throttle::Source,
) -> Result<(SessionSecrets, Operator), SignInError> {
    let throttle = &state.console.throttle;
    throttle.check(source, Instant::now()).map_err(SignInError::Throttled)?;
    let Some(op) = Operator::by_token(state, token.trim()) else {
        throttle.failed(source, Instant::now());
        return Err(SignInError::BadToken);
    };
    throttle.succeeded(source);
    let role = match op.role {
        AdminRole::Admin => "admin",
        AdminRole::Viewer => "viewer",
    };
    let (idle, absolute) = limits(state);
    let new = NewSession { token_name: op.name.clone(), role: role.into(), tenant: op.tenant.clone(), idle, absolute };
    let (secrets, _) = state
        .plane
        .store()
        .sessions()
        .create(&new)
        .await
        .map_err(|e| SignInError::Store(ApiError::Unavailable(format!("state store: {e}"))))?;
    Ok((secrets, op))
}

/// `(idle, absolute)` of new sessions: `admin.session_idle_ms` and `session_absolute_ms`.
fn limits(state: &ControlState) -> (Duration, Duration) {
    let (idle, absolute) = state.editor.snapshot().0.admin.session_limits_ms();
    (Duration::from_millis(idle), Duration::from_millis(absolute))
}

/// How often a session in use moves its idle expiry: [`TOUCH_EVERY`], or a quarter of a
/// shorter idle limit (so a session in use never lapses).
fn touch_every(state: &ControlState) -> Duration {
    TOUCH_EVERY.min(limits(state).0 / 4)
}

/// Ends the session of `headers` when `csrf` is its CSRF token; `false` otherwise.
pub async fn sign_out(state: &ControlState, headers: &HeaderMap, csrf: &str) -> Result<bool, ApiError> {
    let Some(cookie) = cookie(headers, SESSION_COOKIE) else { return Ok(false) };
    let sessions = state.plane.store().sessions();
    let session = sessions.get(cookie).await.map_err(|e| ApiError::Unavailable(format!("state store: {e}")))?;
    match session {
        Some(s) if !csrf.is_empty() && s.csrf_matches(csrf) => {
            sessions.delete(cookie).await.map_err(|e| ApiError::Unavailable(format!("state store: {e}")))?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Whether `headers` carry a live session (without refreshing it).
pub async fn is_signed_in(state: &ControlState, headers: &HeaderMap) -> bool {
    let Some(cookie) = cookie(headers, SESSION_COOKIE) else { return false };
    match state.plane.store().sessions().get(cookie).await {
        Ok(Some(s)) => Operator::by_name(state, &s.token_name).is_some(),
        _ => false,
    }
}

/// The `Set-Cookie` values that start (`Some`) or clear (`None`) a session.
pub fn set_cookies(secrets: Option<&SessionSecrets>, secure: bool) -> [HeaderValue; 2] {
    let attrs = if secure { "; Path=/; SameSite=Strict; Secure" } else { "; Path=/; SameSite=Strict" };
    let (session, csrf, gone) = match secrets {
        Some(s) => (s.cookie.as_str(), s.csrf_token.as_str(), ""),
        None => ("", "", "; Max-Age=0"),
    };
    // Invariant: the values are hex digits and the attributes are ASCII, so both are
    // valid header values.
    let make = |s: String| HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static(""));
    [
        make(format!("{SESSION_COOKIE}={session}{attrs}; HttpOnly{gone}")),
        make(format!("{CSRF_COOKIE}={csrf}{attrs}{gone}")),
    ]
}

/// The value of cookie `name` in `headers`.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_http_only_strict_and_secure_with_tls() {
        let s = SessionSecrets { cookie: "ab".repeat(32), csrf_token: "cd".repeat(32) };
        let [session, csrf] = set_cookies(Some(&s), true);
        let session = session.to_str().expect("ascii");
        assert!(session.starts_with("sy_session=abab"));
        assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict") && session.contains("Secure"));
        let csrf = csrf.to_str().expect("ascii");
        assert!(csrf.starts_with("sy_csrf=cdcd") && !csrf.contains("HttpOnly"));
        let [gone, _] = set_cookies(None, false);
        assert!(
            gone.to_str().expect("ascii").contains("Max-Age=0") && !gone.to_str().expect("ascii").contains("Secure")
        );
    }

    #[test]
    fn cookie_reads_one_value_among_several_headers() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; sy_session=xyz"));
        h.append(header::COOKIE, HeaderValue::from_static("sy_csrf=q"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, CSRF_COOKIE), Some("q"));
        assert_eq!(cookie(&h, "none"), None);
    }
}
