//! Console sessions over plain HTTP (the browser flows are in console_browser.rs): the
//! sign-in form's answers, the cookies' attributes, a session authenticating the control
//! API (reads without, writes only with the CSRF token), a token removed from the config
//! ending its sessions at once, sign-out needing the CSRF token, and the console's pages
//! being served only with their security headers.

use std::time::Duration;

use switchyard_testkit::control::{admin_yaml, ADMIN, VIEWER};
use switchyard_testkit::{eventually, TestGateway};

const YAML: &str = r#"
providers:
  mock: { kind: mock }
groups:
  g:
    members:
      - { name: a, role: champion, provider: mock, model: m, weight: 1 }
      - { name: b, role: challenger, provider: mock, model: m, weight: 1 }
"#;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// Signs in with `token`: (status, session cookie, csrf token, raw Set-Cookie values).
async fn sign_in(admin: &str, token: &str) -> (u16, String, String, Vec<String>) {
    let resp = no_redirects()
        .post(format!("{admin}/ui/signin"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .expect("sign in");
    let raw: Vec<String> =
        resp.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect();
    let value = |name: &str| {
        raw.iter()
            .find_map(|c| c.strip_prefix(&format!("{name}=")))
            .map(|v| v.split(';').next().unwrap_or_default().to_owned())
            .unwrap_or_default()
    };
    (resp.status().as_u16(), value("sy_session"), value("sy_csrf"), raw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_reads_writes_with_its_csrf_token_and_ends_with_its_token() {
    let gw = TestGateway::start_with_control(&format!("{YAML}{}", admin_yaml())).await;
    let http = no_redirects();
    let admin = gw.admin.clone();

    // The sign-in page: a password input named `token`, and the console's headers.
    let page = http.get(format!("{admin}/ui/")).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().expect("ascii").to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(page.text().await.expect("text").contains(r#"type="password" id="token" name="token""#));

    let cross = http
        .post(format!("{admin}/ui/signin"))
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={ADMIN}"))
        .send()
        .await
        .expect("cross-site sign-in");
    assert_eq!(cross.status(), 403, "a sign-in posted from another origin");
    let (status, _, _, raw) = sign_in(&admin, "not-a-token").await;
    assert_eq!((status, raw.len()), (401, 0));
    let (status, cookie, csrf, raw) = sign_in(&admin, ADMIN).await;
    assert_eq!(status, 303);
    let session = raw.iter().find(|c| c.starts_with("sy_session=")).expect("session cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict") && session.contains("Path=/"));
    assert!(!session.contains("Secure"), "no admin_tls, so no Secure: {session}");
    assert_eq!((cookie.len(), csrf.len()), (64, 64));

    let jar = format!("sy_session={cookie}");
    let who: serde_json::Value = http
        .get(format!("{admin}/ui/session"))
        .header("cookie", &jar)
        .send()
        .await
        .expect("who")
        .json()
        .await
        .expect("json");
    assert_eq!(who, serde_json::json!({"name": "alice", "role": "admin"}));
    let read = http.get(format!("{admin}/api/v1/groups/g")).header("cookie", &jar).send().await.expect("read");
    assert_eq!(read.status(), 200);
    let etag = read.headers()["etag"].to_str().expect("ascii").to_owned();
    let write = |csrf: Option<&str>| {
        let mut r = http
            .put(format!("{admin}/api/v1/groups/g/weights"))
            .header("cookie", &jar)
            .header("if-match", &etag)
            .header("content-type", "application/json")
            .body(r#"{"weights":{"a":3,"b":1}}"#);
        if let Some(c) = csrf {
            r = r.header("x-csrf-token", c);
        }
        r.send()
    };
    let refused = write(None).await.expect("send");
    assert_eq!(refused.status(), 403);
    let body: serde_json::Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "csrf_required", "{body}");
    assert_eq!(write(Some(&"0".repeat(64))).await.expect("send").status(), 403, "another CSRF token");
    assert_eq!(write(Some(&csrf)).await.expect("send").status(), 200);
    let audit: serde_json::Value = http
        .get(format!("{admin}/api/v1/audit?action=group.weights"))
        .header("cookie", &jar)
        .send()
        .await
        .expect("audit")
        .json()
        .await
        .expect("json");
    assert_eq!(audit[0]["actor"], "alice", "audited under the token's name: {audit}");

    // A viewer's session reads and may not write, CSRF token or not.
    let (_, vcookie, vcsrf, _) = sign_in(&admin, VIEWER).await;
    let forged = http
        .post(format!("{admin}/api/v1/groups/g/pause"))
        .header("cookie", format!("sy_session={vcookie}"))
        .header("x-csrf-token", &vcsrf)
        .header("if-match", "*")
        .send()
        .await
        .expect("forged");
    assert_eq!(forged.status(), 403);

    // Sign-out needs the CSRF token; afterwards the cookie is worthless.
    let out = |csrf: &str| {
        http.post(format!("{admin}/ui/signout"))
            .header("cookie", format!("sy_session={vcookie}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={csrf}"))
            .send()
    };
    assert_eq!(out("").await.expect("signout").status(), 403);
    assert_eq!(out(&vcsrf).await.expect("signout").status(), 303);
    let gone = http.get(format!("{admin}/ui/session")).header("cookie", format!("sy_session={vcookie}")).send().await;
    assert_eq!(gone.expect("who").status(), 401);

    // Removing the admin token from the config ends its session at once.
    gw.write_config(&format!(
        "{YAML}admin:\n  tokens:\n    - {{ name: val, token_sha256: \"{}\", role: viewer }}\n",
        switchyard_testkit::control::hash(VIEWER)
    ));
    let ended = eventually(Duration::from_secs(5), async || {
        http.get(format!("{admin}/api/v1/groups")).header("cookie", &jar).send().await.is_ok_and(|r| r.status() == 401)
    })
    .await;
    assert!(ended, "the session outlived its token");
    gw.stop().await;
}

#[tokio::test]
async fn session_lengths_come_from_the_config() {
    // Idle 1.5 s, absolute 4 s: a session in use outlives its idle limit until the absolute one.
    let admin_block =
        admin_yaml().replace("admin:\n", "admin:\n  session_idle_ms: 1500\n  session_absolute_ms: 4000\n");
    let gw = TestGateway::start_with_control(&format!("{YAML}{admin_block}")).await;
    let admin = gw.admin.clone();
    let http = no_redirects();
    let read = |cookie: String| {
        let (http, admin) = (http.clone(), admin.clone());
        async move {
            let resp = http.get(format!("{admin}/api/v1/groups")).header("cookie", cookie).send().await.expect("read");
            resp.status().as_u16()
        }
    };

    // In use every 500 ms for 3 s: past the idle limit, the session lives on.
    let (status, cookie, _, _) = sign_in(&admin, ADMIN).await;
    assert_eq!(status, 303, "signed in");
    let session = format!("sy_session={cookie}");
    let signed_in = std::time::Instant::now();
    while signed_in.elapsed() < Duration::from_secs(3) {
        assert_eq!(read(session.clone()).await, 200, "a session in use at {:?}", signed_in.elapsed());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Still in use, but 4 s after sign-in it has ended.
    tokio::time::sleep(Duration::from_millis(4200).saturating_sub(signed_in.elapsed())).await;
    assert_eq!(read(session).await, 401, "ended at session_absolute_ms");

    // A new session left unused for 2 s has ended at session_idle_ms.
    let (_, cookie, _, _) = sign_in(&admin, ADMIN).await;
    let session = format!("sy_session={cookie}");
    assert_eq!(read(session.clone()).await, 200);
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(read(session).await, 401, "ended at session_idle_ms");
}
