//! OIP requests as the data plane takes them: the path through `proxy::route::route`
//! (which parses `/v2…` with `OipRoute::parse`), the body through resolve's JSON-object
//! check, and an answer's body through `explain::normalise::from_answer`.
//!
//! Invariants: nothing panics; an error echoes at most 64 printable ASCII characters of
//! the path (no CR/LF into a log line or a response); the body check accepts exactly the
//! bodies that are JSON objects (numbers beyond f64's range included); every attribution
//! set has as many names as values (and confidences, when given), at most `MAX_FEATURES`,
//! and all sets together hold at most `MAX_VALUES`.
//!
//! Input: `[method selector][path]\n[body]`.
#![no_main]

use http::Method;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchyard_gateway::explain::normalise::{from_answer, MAX_FEATURES, MAX_VALUES};
use switchyard_gateway::providers::{Endpoint, WireFormat};
use switchyard_gateway::proxy::resolve::check_json_object;
use switchyard_gateway::proxy::route::{route, Route};

fuzz_target!(|data: &[u8]| {
    let Some((&m, rest)) = data.split_first() else { return };
    let method = [Method::GET, Method::POST, Method::PUT, Method::DELETE][usize::from(m % 4)].clone();
    let (path, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    if let Ok(path) = std::str::from_utf8(path) {
        let oip = path.starts_with("/v2");
        let (format, route) = route(&method, path);
        assert_eq!(format == WireFormat::Oip, oip);
        match route {
            Route::Infer(ingress) => {
                assert_eq!(ingress.path_group.is_some(), oip);
                if oip {
                    assert!(ingress.endpoint == Endpoint::OipInfer && method == Method::POST);
                    assert!(path.trim_end_matches('/').ends_with("/infer"));
                }
            }
            Route::Refused(e) => {
                let shown = e.to_string();
                assert!(!shown.contains(['\r', '\n', '\0']), "an error echoes control characters: {shown:?}");
            }
            Route::Models | Route::Feedback | Route::Oip(_) => {}
        }
    }
    let parsed = serde_json::from_slice::<Value>(body);
    let is_object = matches!(parsed, Ok(Value::Object(_)));
    if check_json_object(body).is_ok() != is_object {
        // The check is lexical. Two differences are allowed: a number beyond f64's range is
        // valid JSON (RFC 8259 §6) that a `Value` cannot hold; and an object whose key is
        // serde_json's reserved `$serde_json::private::RawValue` is valid JSON that serde_json
        // (its `raw_value` feature, on in this workspace) reads as a raw value and refuses.
        let e = parsed.expect_err("the body check refused a JSON object");
        let shown = e.to_string();
        assert!(
            shown.starts_with("number out of range") || shown.contains("expected raw value"),
            "the body check accepted bad JSON: {e}"
        );
    }
    let found = from_answer(body);
    let mut total = 0;
    for set in &found.sets {
        assert!(set.names.len() == set.values.len() && set.names.len() <= MAX_FEATURES);
        assert!(set.confidences.is_empty() || set.confidences.len() == set.values.len());
        total += set.values.len();
    }
    assert!(total <= MAX_VALUES);
});
