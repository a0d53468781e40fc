//! Bad input on the data plane (issue 2, "Bad input (each with a test)"): every case gets
//! the right status and an OpenAI-shaped error body, the gateway keeps serving afterwards,
//! and what is recorded (or deliberately not recorded) is checked. Connection-level abuse
//! (body limits, slow clients) is in `bad_input_connection.rs`.
//!
//! Requests rejected before a group and member are chosen (bad JSON, unknown group, auth,
//! limits, unknown member) produce no inference record: records live in per-group tables
//! and carry a member. The follow-up request that proves the gateway still serves *is*
//! recorded, so "no record" is never asserted on an empty spool by accident.

use switchyard_testkit::errors::*;
use switchyard_testkit::{chat, client, TestGateway};

#[tokio::test]
async fn malformed_json_is_400() {
    let gw = TestGateway::start(BASE).await;
    let cases: [&[u8]; 5] =
        [b"{", br#"{"model":"g""#, b"{model: g}", br#"{"model":"g"} trailing"#, br#"{"model":"g","model":"h"}"#];
    for body in cases {
        let resp = post(&gw, body.to_vec()).await;
        assert_eq!(resp.status(), 400, "{}", String::from_utf8_lossy(body));
        let msg = expect_error(resp, 400, "invalid_request_error", "bad_json").await;
        assert!(msg.starts_with("request body is not valid JSON"), "{msg}");
        still_serves(&gw).await;
    }
    only_followups_recorded(gw, cases.len()).await;
}

#[tokio::test]
async fn empty_body_is_400() {
    let gw = TestGateway::start(BASE).await;
    for body in ["", "  \n\t "] {
        let msg = expect_error(post(&gw, body).await, 400, "invalid_request_error", "bad_json").await;
        assert!(msg.contains("empty"), "{msg}");
        still_serves(&gw).await;
    }
    only_followups_recorded(gw, 2).await;
}

#[tokio::test]
async fn invalid_utf8_is_400() {
    // RFC 8259 §8.1: JSON text is UTF-8. Bytes that are not must not be forwarded upstream,
    // including inside a field the gateway does not otherwise look at.
    let gw = TestGateway::start(BASE).await;
    let cases: [&[u8]; 3] = [
        b"{\"model\":\"g\",\"x\":\"\xff\xfe\"}",
        b"{\"model\":\"g\xc3\"}",
        b"{\"model\":\"g\",\"messages\":[{\"content\":\"\xed\xa0\x80\"}]}",
    ];
    let mut outcomes = Vec::new();
    for body in cases {
        let resp = post(&gw, body.to_vec()).await;
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        outcomes.push((String::from_utf8_lossy(body).into_owned(), status, text));
        still_serves(&gw).await;
    }
    for (body, status, text) in &outcomes {
        assert_eq!(*status, 400, "{body} -> {status} {text}; all: {outcomes:#?}");
        let msg = error_shape(text, "invalid_request_error", "bad_json");
        assert!(msg.starts_with("request body is not valid JSON"), "{msg}");
    }
    only_followups_recorded(gw, cases.len()).await;
}

#[tokio::test]
async fn non_object_json_is_400() {
    let gw = TestGateway::start(BASE).await;
    let cases = ["42", r#""g""#, "null", "true", "1.5e3"];
    for body in cases {
        let resp = post(&gw, body).await;
        assert_eq!(resp.status(), 400, "{body}");
        let text = resp.text().await.expect("body");
        let msg = error_shape(&text, "invalid_request_error", "bad_json");
        assert!(msg.contains("must be a JSON object"), "{body}: {msg}");
        still_serves(&gw).await;
    }
    only_followups_recorded(gw, cases.len()).await;
}

#[tokio::test]
async fn json_array_is_not_a_request() {
    // An array is not an object, even when its elements fit the request's fields in
    // order (`["g", true]` would otherwise read as model `g`, stream `true`).
    let gw = TestGateway::start(BASE).await;
    let cases = ["[1,2]", r#"[{"model":"g"}]"#, r#"["g"]"#, r#"["g",true]"#, "[]"];
    let mut outcomes = Vec::new();
    for body in cases {
        let resp = post(&gw, body).await;
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        outcomes.push((body, status, text));
        still_serves(&gw).await;
    }
    let wrong: Vec<_> =
        outcomes.iter().filter(|(_, status, text)| *status != 400 || !text.contains(r#""code":"bad_json""#)).collect();
    assert!(wrong.is_empty(), "not refused as a non-object: {wrong:#?}");
    for (_, _, text) in &outcomes {
        let msg = error_shape(text, "invalid_request_error", "bad_json");
        assert!(msg.contains("must be a JSON object"), "{msg}");
    }
    only_followups_recorded(gw, cases.len()).await;
}

#[tokio::test]
async fn missing_model_is_400() {
    let gw = TestGateway::start(BASE).await;
    for body in [r#"{}"#, r#"{"messages":[{"role":"user","content":"hi"}]}"#, r#"{"Model":"g"}"#, r#"{"model":null}"#] {
        let msg = expect_error(post(&gw, body).await, 400, "invalid_request_error", "bad_request").await;
        assert_eq!(msg, "`model` is required: name a model group");
        still_serves(&gw).await;
    }
    only_followups_recorded(gw, 4).await;
}

#[tokio::test]
async fn non_string_model_is_400() {
    let gw = TestGateway::start(BASE).await;
    let cases = [r#"{"model":3}"#, r#"{"model":["g"]}"#, r#"{"model":{"name":"g"}}"#, r#"{"model":true}"#];
    for body in cases {
        let msg = expect_error(post(&gw, body).await, 400, "invalid_request_error", "bad_request").await;
        assert_eq!(msg, "`model` must be a string", "{body}");
        still_serves(&gw).await;
    }
    let msg = expect_error(post(&gw, r#"{"model":""}"#).await, 400, "invalid_request_error", "bad_request").await;
    assert_eq!(msg, "`model` must not be empty");
    still_serves(&gw).await;
    only_followups_recorded(gw, cases.len() + 1).await;
}

#[tokio::test]
async fn non_boolean_stream_is_400() {
    let gw = TestGateway::start(BASE).await;
    let cases = [r#"{"model":"g","stream":"yes"}"#, r#"{"model":"g","stream":1}"#, r#"{"model":"g","stream":"true"}"#];
    for body in cases {
        let msg = expect_error(post(&gw, body).await, 400, "invalid_request_error", "bad_request").await;
        assert_eq!(msg, "`stream` must be a boolean", "{body}");
        still_serves(&gw).await;
    }
    only_followups_recorded(gw, cases.len()).await;
}

#[tokio::test]
async fn unknown_group_is_404_and_not_echoed_raw() {
    let gw = TestGateway::start(BASE).await;
    let msg = expect_error(post(&gw, chat("nope")).await, 404, "not_found_error", "unknown_group").await;
    assert_eq!(msg, "model group `nope` does not exist");
    still_serves(&gw).await;

    // Control characters, spaces, markup, non-ASCII and sheer length from the client.
    let nasty = format!("evil\u{0}\r\nX-Injected: 1 <script>alert(1)</script>\u{202e}grüppe{}", "A".repeat(300));
    let body = serde_json::json!({"model": nasty, "messages": []}).to_string();
    let resp = post(&gw, body).await;
    assert!(resp.headers().get("x-injected").is_none());
    let msg = expect_error(resp, 404, "not_found_error", "unknown_group").await;
    let echoed = msg
        .strip_prefix("model group `")
        .and_then(|m| m.strip_suffix("` does not exist"))
        .expect("fixed message shape");
    assert!(echoed.len() <= 64, "echo is bounded: {} chars", echoed.len());
    assert!(echoed.chars().all(|c| c.is_ascii_graphic()), "echo is printable ASCII only: {echoed:?}");
    assert!(echoed.starts_with("evilX-Injected:1<script>"), "{echoed:?}");
    assert!(!msg.contains(&nasty) && !msg.contains('\r') && !msg.contains('\n') && !msg.contains('\u{202e}'));
    still_serves(&gw).await;
    only_followups_recorded(gw, 2).await;
}

/// Sends `request` on a fresh connection and reads the whole response (the request asks
/// for `connection: close`). Returns (status, head, body).
#[tokio::test]
async fn client_keys_authenticate_and_authorize() {
    let gw = TestGateway::start(&with_clients()).await;
    let url = gw.url("/v1/chat/completions");

    // Missing key.
    let resp = client().post(&url).body(chat("g")).send().await.expect("send");
    let msg = expect_error(resp, 401, "authentication_error", "unauthenticated").await;
    assert!(msg.starts_with("missing API key"), "{msg}");
    // Wrong keys: unknown, empty, a hash instead of the key, the right key with a typo.
    let web_hash = sha256_hex(WEB_KEY);
    for bad in ["sk-wrong", "", web_hash.as_str(), &WEB_KEY[..WEB_KEY.len() - 1]] {
        let resp = client()
            .post(&url)
            .header("authorization", format!("Bearer {bad}"))
            .body(chat("g"))
            .send()
            .await
            .expect("send");
        let msg = expect_error(resp, 401, "authentication_error", "unauthenticated").await;
        if !bad.is_empty() {
            // (`Bearer ` with nothing after it arrives as `Bearer`: optional whitespace
            // at the end of a header value is not part of it, so that one is "missing".)
            assert_eq!(msg, "invalid API key");
            assert!(!msg.contains(bad), "the presented key is not echoed");
        }
    }
    // Not a bearer scheme at all.
    let resp = client()
        .post(&url)
        .header("authorization", format!("Basic {WEB_KEY}"))
        .body(chat("g"))
        .send()
        .await
        .expect("send");
    expect_error(resp, 401, "authentication_error", "unauthenticated").await;
    still_serves_with(&gw, Some(WEB_KEY)).await;

    // A valid key for another group.
    let resp = client().post(&url).bearer_auth(BATCH_KEY).body(chat("g")).send().await.expect("send");
    let msg = expect_error(resp, 403, "permission_error", "forbidden").await;
    assert_eq!(msg, "this key may not use model group `g`");
    let resp = client().post(&url).bearer_auth(WEB_KEY).body(chat("h")).send().await.expect("send");
    expect_error(resp, 403, "permission_error", "forbidden").await;

    // Valid keys.
    let resp = client().post(&url).bearer_auth(WEB_KEY).body(chat("g")).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    let web_id = resp.headers()["x-switchyard-request-id"].to_str().expect("ascii").to_owned();
    let resp = client().post(&url).bearer_auth(BATCH_KEY).body(chat("h")).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    let batch_id = resp.headers()["x-switchyard-request-id"].to_str().expect("ascii").to_owned();

    let dir = gw.stop().await;
    let records = TestGateway::records(&dir);
    assert_eq!(records.len(), 3, "the two valid requests and the still-serves check: {records:?}");
    let web = records.iter().find(|r| r.request_id == web_id).expect("web record");
    assert_eq!((web.tenant.as_str(), web.client.as_str(), web.group.as_str(), web.status), ("acme", "web", "g", 200));
    let batch = records.iter().find(|r| r.request_id == batch_id).expect("batch record");
    assert_eq!(
        (batch.tenant.as_str(), batch.client.as_str(), batch.group.as_str(), batch.status),
        ("batch", "batch", "h", 200),
        "tenant defaults to the client's name"
    );
    let text = serde_json::to_string(&records).expect("records serialize");
    assert!(!text.contains(WEB_KEY) && !text.contains(BATCH_KEY), "client keys never reach records");
}

#[tokio::test]
async fn unauthorized_answer_names_the_scheme() {
    // RFC 9110 §15.5.2: a 401 response MUST carry `WWW-Authenticate`.
    let gw = TestGateway::start(&with_clients()).await;
    let resp = client().post(gw.url("/v1/chat/completions")).body(chat("g")).send().await.expect("send");
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers().get("www-authenticate").map(|v| v.to_str().expect("ascii").to_ascii_lowercase());
    assert!(challenge.as_deref().is_some_and(|c| c.starts_with("bearer")), "www-authenticate: {challenge:?}");
    gw.stop().await;
}

#[tokio::test]
async fn unknown_member_pin_is_400() {
    let gw = TestGateway::start(BASE).await;
    let pinned = client()
        .post(gw.url("/v1/chat/completions"))
        .header("x-switchyard-member", "chall")
        .body(chat("g"))
        .send()
        .await
        .expect("send");
    assert_eq!(pinned.status(), 200);
    assert_eq!(pinned.headers()["x-switchyard-member"], "chall");
    assert_eq!(pinned.headers()["x-switchyard-assignment"], "pinned");

    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .header("x-switchyard-member", "nobody")
        .body(chat("g"))
        .send()
        .await
        .expect("send");
    let msg = expect_error(resp, 400, "invalid_request_error", "unknown_member").await;
    assert_eq!(msg, "group `g` has no member `nobody`");

    // A member of *another* group is not a member of this one.
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .header("x-switchyard-member", "only")
        .body(chat("g"))
        .send()
        .await
        .expect("send");
    expect_error(resp, 400, "invalid_request_error", "unknown_member").await;

    // Non-ASCII, spaces and length are not echoed.
    let nasty = http::HeaderValue::from_bytes(format!("no body <b>\u{e9}{}", "z".repeat(200)).as_bytes())
        .expect("obs-text is a valid header value");
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .header("x-switchyard-member", nasty)
        .body(chat("g"))
        .send()
        .await
        .expect("send");
    let msg = expect_error(resp, 400, "invalid_request_error", "unknown_member").await;
    let echoed = msg.strip_prefix("group `g` has no member `").and_then(|m| m.strip_suffix('`')).expect("shape");
    assert!(echoed.len() <= 64 && echoed.chars().all(|c| c.is_ascii_graphic()), "{echoed:?}");
    assert!(!msg.contains("no body"), "{msg}");
    still_serves(&gw).await;

    let dir = gw.stop().await;
    let records = TestGateway::records(&dir);
    assert_eq!(records.len(), 2, "the pinned and the still-serves requests: {records:?}");
    assert!(records.iter().any(|r| r.member == "chall" && r.assignment.as_str() == "pinned"));
}

#[tokio::test]
async fn wrong_method_is_405_and_unknown_path_is_404() {
    let gw = TestGateway::start(BASE).await;
    let c = client();
    for (method, path) in [
        (reqwest::Method::GET, "/v1/chat/completions"),
        (reqwest::Method::PUT, "/v1/completions"),
        (reqwest::Method::DELETE, "/v1/embeddings"),
        (reqwest::Method::POST, "/v1/models"),
    ] {
        let resp = c.request(method.clone(), gw.url(path)).body(chat("g")).send().await.expect("send");
        let msg = expect_error(resp, 405, "invalid_request_error", "method_not_allowed").await;
        assert_eq!(msg, "method not allowed", "{method} {path}");
    }
    for path in ["/", "/v1/nope", "/v1/chat/completions/", "/v1/chat", "/metrics"] {
        let resp = c.post(gw.url(path)).body(chat("g")).send().await.expect("send");
        let msg = expect_error(resp, 404, "not_found_error", "not_found").await;
        assert_eq!(msg, format!("no route for {path}"));
    }
    // A path full of escapes and junk is echoed bounded and printable.
    let junk = format!("/v1/%0d%0aSet-Cookie:%20x=1/{}", "p".repeat(300));
    let resp = c.get(gw.url(&junk)).send().await.expect("send");
    assert!(resp.headers().get("set-cookie").is_none());
    let msg = expect_error(resp, 404, "not_found_error", "not_found").await;
    let echoed = msg.strip_prefix("no route for ").expect("shape");
    assert!(echoed.len() <= 64 && echoed.chars().all(|ch| ch.is_ascii_graphic()), "{echoed:?}");
    still_serves(&gw).await;
    only_followups_recorded(gw, 1).await;
}

#[tokio::test]
async fn method_not_allowed_names_the_allowed_method() {
    // RFC 9110 §15.5.6: a 405 response MUST carry `Allow`.
    let gw = TestGateway::start(BASE).await;
    let resp = client().get(gw.url("/v1/chat/completions")).send().await.expect("send");
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers().get("allow").map(|v| v.to_str().expect("ascii")), Some("POST"));
    let resp = client().post(gw.url("/v1/models")).send().await.expect("send");
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers().get("allow").map(|v| v.to_str().expect("ascii")), Some("GET"));
    gw.stop().await;
}

async fn model_ids(gw: &TestGateway, key: Option<&str>) -> (u16, serde_json::Value) {
    let mut req = client().get(gw.url("/v1/models"));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json"))
}

fn ids(list: &serde_json::Value) -> Vec<String> {
    assert_eq!(list["object"], "list");
    list["data"]
        .as_array()
        .expect("data array")
        .iter()
        .map(|m| {
            assert_eq!(m["object"], "model");
            m["id"].as_str().expect("id").to_owned()
        })
        .collect()
}

#[tokio::test]
async fn models_lists_only_the_groups_a_key_may_use() {
    let yaml = format!(
        "{}  - {{ name: all, key_sha256: \"{}\", groups: [\"*\"] }}\n",
        with_clients(),
        sha256_hex("sk-client-all-000")
    );
    let gw = TestGateway::start(&yaml).await;
    let (status, body) = model_ids(&gw, Some(WEB_KEY)).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&body), ["g"]);
    let (_, body) = model_ids(&gw, Some(BATCH_KEY)).await;
    assert_eq!(ids(&body), ["h"]);
    let (_, body) = model_ids(&gw, Some("sk-client-all-000")).await;
    assert_eq!(ids(&body), ["g", "h"]);
    let (status, body) = model_ids(&gw, None).await;
    assert_eq!(status, 401);
    error_shape(&body.to_string(), "authentication_error", "unauthenticated");
    let (status, body) = model_ids(&gw, Some("sk-nope")).await;
    assert_eq!(status, 401);
    error_shape(&body.to_string(), "authentication_error", "unauthenticated");
    still_serves_with(&gw, Some(WEB_KEY)).await;
    gw.stop().await;

    // Without `clients:`, every group is listed to everyone.
    let gw = TestGateway::start(BASE).await;
    let (status, body) = model_ids(&gw, None).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&body), ["g", "h"]);
    gw.stop().await;
}
