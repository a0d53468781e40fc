//! The operator console's routes (SPEC §12) on the admin listener, under `/ui/`.
//!
//! - `GET /ui/` — the app shell for a signed-in operator, else the sign-in form (a
//!   password input named `token`); `GET /ui` redirects there.
//! - `POST /ui/signin` (form `token`) — a session ([`session`]) and a 303 to `/ui/`;
//!   a wrong token is 401, too many failures from one address 429 ([`throttle`]).
//! - `POST /ui/signout` (form `csrf`) — ends the session.
//! - Both forms are refused (403) when the browser says they come from another origin.
//! - `GET /ui/session` — who is signed in (`name`, `role`) for the app's write controls.
//! - `GET /ui/assets/<file>` — the embedded assets ([`switchyard_console`]).
//!
//! Everything else the console shows or changes goes through the control API's own
//! routes (`/api/v1`), which accept the session cookie in place of a bearer token
//! ([`crate::auth`]); there is no second write path.

pub mod session;
pub mod throttle;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Json, Router};
use serde::Deserialize;
use switchyard_config::schema::AdminRole;
use switchyard_core::PeerAddr;

use crate::auth::Operator;
use crate::error::ApiError;
use crate::ControlState;

/// The console's own state (per process).
#[derive(Debug, Default)]
pub struct ConsoleState {
    /// Failed sign-ins per address.
    pub throttle: throttle::Throttle,
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct SignInForm {
    token: String,
}

/// The sign-out form.
#[derive(Deserialize)]
pub struct SignOutForm {
    #[serde(default)]
    csrf: String,
}

/// The console's routes (merged into the control API's router).
pub fn router() -> Router<ControlState> {
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(index))
        .route("/ui/signin", post(sign_in))
        .route("/ui/signout", post(sign_out))
        .route("/ui/session", get(whoami))
        .route("/ui/assets/{file}", get(asset))
}

async fn index(State(state): State<ControlState>, headers: HeaderMap) -> Response {
    if session::is_signed_in(&state, &headers).await {
        page(StatusCode::OK, switchyard_console::APP_HTML.to_owned())
    } else {
        signin_page(StatusCode::OK, "")
    }
}

async fn sign_in(
    State(state): State<ControlState>,
    peer: Option<Extension<PeerAddr>>,
    uri: Uri,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    if !same_origin(&headers, &uri) {
        return ApiError::CrossOrigin.into_response();
    }
    let source = peer.map(|Extension(PeerAddr(a))| a.ip());
    match session::sign_in(&state, &form.token, source).await {
        Ok((secrets, op)) => {
            tracing::info!(operator = %op.name, "console sign-in");
            let mut resp = (StatusCode::SEE_OTHER, [(header::LOCATION, "/ui/")]).into_response();
            for c in session::set_cookies(Some(&secrets), secure(&state)) {
                resp.headers_mut().append(header::SET_COOKIE, c);
            }
            resp
        }
        Err(session::SignInError::BadToken) => {
            signin_page(StatusCode::UNAUTHORIZED, "That token is not valid. Paste an admin or viewer token.")
        }
        Err(session::SignInError::Throttled(secs)) => {
            let mut resp = signin_page(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("Too many failed sign-ins from your address; try again in {secs} s."),
            );
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            resp
        }
        Err(session::SignInError::Store(e)) => e.into_response(),
    }
}

async fn sign_out(
    State(state): State<ControlState>,
    uri: Uri,
    headers: HeaderMap,
    Form(form): Form<SignOutForm>,
) -> Response {
    if !same_origin(&headers, &uri) {
        return ApiError::CrossOrigin.into_response();
    }
    match session::sign_out(&state, &headers, &form.csrf).await {
        Ok(true) => {
            let mut resp = (StatusCode::SEE_OTHER, [(header::LOCATION, "/ui/")]).into_response();
            for c in session::set_cookies(None, secure(&state)) {
                resp.headers_mut().append(header::SET_COOKIE, c);
            }
            resp
        }
        Ok(false) => ApiError::CsrfRequired.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn whoami(op: Operator) -> Json<serde_json::Value> {
    let role = if op.role == AdminRole::Admin { "admin" } else { "viewer" };
    let mut who = serde_json::json!({ "name": op.name, "role": role });
    // A tenant-scoped session says its tenant (absent: every tenant).
    if let Some(tenant) = op.tenant {
        who["tenant"] = tenant.into();
    }
    Json(who)
}

async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    let a = switchyard_console::asset(&file).ok_or_else(|| ApiError::NotFound(format!("no console asset `{file}`")))?;
    let mut resp = a.bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(a.content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(resp)
}

/// Whether a form post comes from the console's own origin: a browser sends `Origin` with
/// every POST, and a page elsewhere must not sign someone in (or out) here. Clients that
/// send no `Origin` (curl, scripts) are not browsers carrying someone else's cookies.
/// The host is HTTP/1's `Host`, or HTTP/2's `:authority` (in the URI; a browser speaks h2
/// to the admin listener when it has `admin_tls`).
fn same_origin(headers: &HeaderMap, uri: &Uri) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or_default();
    let authority = origin.split_once("://").map_or("", |(_, rest)| rest);
    !host.is_empty() && authority.eq_ignore_ascii_case(host)
}

/// Whether cookies get `Secure` (the admin listener serves TLS).
fn secure(state: &ControlState) -> bool {
    state.editor.snapshot().0.admin_tls.is_some()
}

fn signin_page(status: StatusCode, message: &str) -> Response {
    page(status, switchyard_console::SIGNIN_HTML.replace("{{message}}", &escape(message)))
}

/// An HTML page with the console's security headers (only same-origin scripts; no
/// framing; no referrer).
fn page(status: StatusCode, html: String) -> Response {
    let mut resp = (status, html).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
             connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // `same-origin`, not `no-referrer`: with the latter a browser sends `Origin: null` on
    // the page's own form posts, which the sign-in check could not tell from a foreign one.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (k.clone(), HeaderValue::from_str(v).expect("value"))).collect()
    }

    #[test]
    fn a_form_post_is_same_origin_by_host_or_h2_authority() {
        let h1 = Uri::from_static("/ui/signin");
        let h2 = Uri::from_static("https://localhost:8443/ui/signin");
        let origin = (header::ORIGIN, "https://localhost:8443");
        assert!(same_origin(&headers(&[origin.clone(), (header::HOST, "localhost:8443")]), &h1));
        assert!(same_origin(&headers(std::slice::from_ref(&origin)), &h2), "HTTP/2 has :authority, no Host");
        assert!(same_origin(&headers(&[]), &h1), "no Origin: not a browser");
        let foreign = (header::ORIGIN, "https://evil.example:8443");
        assert!(!same_origin(&headers(&[foreign.clone(), (header::HOST, "localhost:8443")]), &h1));
        assert!(!same_origin(&headers(&[foreign]), &h2));
        assert!(!same_origin(&headers(&[origin]), &h1), "neither Host nor :authority");
    }
}
