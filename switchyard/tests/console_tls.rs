//! The console over the admin listener's own TLS (`admin_tls`, SPEC §12) in a real browser
//! (`tests/console/console_tls.py`, headless Chromium): the session cookie the browser
//! stores is `Secure`, `HttpOnly` and `SameSite=Strict` (scripts cannot read it), the CSRF
//! cookie is `Secure` and readable by the page, the overview renders with data, a weight
//! saved in the group page reaches the data plane, and sign-out clears the session. The
//! admin port speaks no plaintext HTTP. Fails — never skips — without the browser.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use switchyard_testkit::clickhouse::{ch_url, records_yaml, unique_db, Ch};
use switchyard_testkit::control::{admin_yaml, ADMIN};
use switchyard_testkit::{browser, client, eventually, TestGateway};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/console/console_tls.py");

/// The config, and the admin listener's certificate (PEM).
fn yaml(dir: &Path, database: &str) -> (String, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("self-signed cert");
    let (cert, key) = (dir.join("admin.crt"), dir.join("admin.key"));
    std::fs::write(&cert, certified.cert.pem()).expect("cert");
    std::fs::write(&key, certified.key_pair.serialize_pem()).expect("key");
    let yaml = format!(
        r#"
admin_tls: {{ cert: "{cert}", key: "{key}" }}
providers:
  mock: {{ kind: mock }}
groups:
  tls-ab:
    members:
      - {{ name: champ, role: champion, provider: mock, model: a, weight: 50 }}
      - {{ name: chall, role: challenger, provider: mock, model: b, weight: 50 }}
{records}{admin}"#,
        cert = cert.display(),
        key = key.display(),
        records = records_yaml(&ch_url(), database, &dir.join("spool"), ""),
        admin = admin_yaml(),
    );
    (yaml, certified.cert.pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_over_admin_tls_keeps_its_cookies_secure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = unique_db("console_tls");
    let (yaml, cert) = yaml(dir.path(), &database);
    let gw = TestGateway::start_in(dir, &yaml).await;
    let port = gw.gw().admin_addr.port();

    // Some traffic so the overview's card has numbers.
    let chat = json!({"model": "tls-ab", "messages": [{"role": "user", "content": "hi"}]});
    for _ in 0..20 {
        let r = client().post(gw.url("/v1/chat/completions")).json(&chat).send().await.expect("send");
        assert_eq!(r.status(), 200);
    }
    let ch = Ch::new(&ch_url());
    let shipped = eventually(Duration::from_secs(30), async || {
        ch.try_query(&database, "SELECT count() FROM inferences").await.is_ok_and(|c| c.trim() == "20")
    })
    .await;
    assert!(shipped, "the records did not reach ClickHouse");

    // No plaintext on the admin port: a TLS listener answers HTTP with nothing.
    let plain = client().get(format!("http://127.0.0.1:{port}/ui/")).timeout(Duration::from_secs(5)).send().await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");

    let admin = format!("https://localhost:{port}");
    let envs = [("ADMIN_URL", admin.clone()), ("ADMIN_TOKEN", ADMIN.to_owned()), ("GROUP", "tls-ab".to_owned())];
    let out =
        tokio::task::spawn_blocking(move || browser::run_script(Path::new(SCRIPT), &envs)).await.expect("browser");
    let show = serde_json::to_string_pretty(&out).unwrap_or_default();
    assert!(out.get("failed").is_none(), "the browser run stopped:\n{show}");
    for (page, errors) in out["errors"].as_object().expect("errors") {
        assert_eq!(errors, &json!([]), "console errors on {page}: {show}");
    }

    // Signed in over https, in a secure context; the cookies as the browser keeps them.
    assert!(out["who"].as_str().is_some_and(|w| w.contains("(admin)")), "{show}");
    assert!(out["url"].as_str().is_some_and(|u| u.starts_with(&format!("{admin}/ui/"))), "{show}");
    assert_eq!(out["secure_context"], true, "{show}");
    assert_eq!(
        out["cookies"]["sy_session"],
        json!({"secure": true, "httpOnly": true, "sameSite": "Strict", "path": "/"}),
        "{show}"
    );
    assert_eq!(
        out["cookies"]["sy_csrf"],
        json!({"secure": true, "httpOnly": false, "sameSite": "Strict", "path": "/"}),
        "{show}"
    );
    let script_sees = out["script_sees"].as_str().unwrap_or_default();
    assert!(script_sees.contains("sy_csrf=") && !script_sees.contains("sy_session"), "{show}");
    assert!(out["card"].as_str().is_some_and(|c| c.contains("tls-ab")), "{show}");

    // The weights saved over TLS are the config's now, saved as the session's operator.
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.as_bytes()).expect("cert"))
        .build()
        .expect("client");
    let api = async |path: &str| -> Value {
        let r = https.get(format!("{admin}/api/v1{path}")).bearer_auth(ADMIN).send().await.expect("the API over TLS");
        r.json().await.expect("json")
    };
    let group = api("/groups/tls-ab").await;
    let weights: Vec<(&str, f64)> = group["config"]["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| (m["name"].as_str().unwrap_or_default(), m["weight"].as_f64().unwrap_or_default()))
        .collect();
    assert_eq!(weights, [("champ", 70.0), ("chall", 30.0)], "{group}");
    let audit = api("/audit?limit=1").await;
    assert_eq!(
        (audit[0]["actor"].as_str(), audit[0]["action"].as_str()),
        (Some("alice"), Some("group.weights")),
        "{audit}"
    );

    // Signed out: the session cookie is gone.
    assert!(out["after_signout"].get("sy_session").is_none(), "{show}");
    gw.stop().await;
}
