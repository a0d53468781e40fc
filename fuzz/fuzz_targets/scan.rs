//! `RequestProbe::scan` (phase 3, resolve) on any bytes: it never panics, and on a body it
//! accepts, `model_span` is exactly the `model` value (rewriting it in place, as adapters
//! do, gives a body whose scan finds the new name and everything else unchanged). A JSON
//! object with a non-empty string `model` and well-typed `stream`/`user` is accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchyard_gateway::proxy::resolve::RequestProbe;

fuzz_target!(|data: &[u8]| {
    let parsed: Option<Value> = serde_json::from_slice(data).ok();
    let probe = match RequestProbe::scan(data) {
        Ok(p) => p,
        Err(e) => {
            assert!(!e.to_string().is_empty(), "an error says what is wrong");
            if let Some(Value::Object(obj)) = &parsed {
                let model_ok = matches!(obj.get("model"), Some(Value::String(s)) if !s.is_empty());
                let stream_ok = matches!(obj.get("stream"), None | Some(Value::Null | Value::Bool(_)));
                let user_ok = matches!(obj.get("user"), None | Some(Value::Null | Value::String(_)));
                assert!(!(model_ok && stream_ok && user_ok && !has_duplicate_keys(data)), "refused a valid body: {e}");
            }
            return;
        }
    };
    let v = match parsed {
        Some(v) => v,
        None => {
            // The scan is lexical. Two differences from serde_json are allowed: a number
            // beyond f64's range is valid JSON (RFC 8259 §6) that a `Value` cannot hold
            // (found by a 30-minute run), and serde_json's reserved key
            // `$serde_json::private::RawValue` (its `raw_value` feature) is refused by it.
            let e = serde_json::from_slice::<Value>(data).expect_err("parsed before");
            let shown = e.to_string();
            assert!(
                shown.starts_with("number out of range") || shown.contains("expected raw value"),
                "a body the scan accepts is JSON: {e}"
            );
            return;
        }
    };
    assert_eq!(v["model"].as_str(), Some(&*probe.model));
    assert!(!probe.model.is_empty());
    assert_eq!(v["stream"].as_bool().unwrap_or(false), probe.stream);
    assert_eq!(v["user"].as_str(), probe.user.as_deref());
    let span = probe.model_span.clone();
    let raw = data.get(span.clone()).expect("model_span lies inside the body");
    let unescaped: String = serde_json::from_slice(raw).expect("model_span holds one JSON string");
    assert_eq!(unescaped, probe.model);
    // Rewrite the value in place, as an adapter does.
    let mut rewritten = data[..span.start].to_vec();
    rewritten.extend_from_slice(br#""renamed""#);
    rewritten.extend_from_slice(&data[span.end..]);
    let again = RequestProbe::scan(&rewritten).expect("a rewritten model keeps the body valid");
    assert_eq!(again.model, "renamed");
    assert_eq!((again.stream, again.user.as_deref()), (probe.stream, probe.user.as_deref()));
    assert_eq!(&rewritten[again.model_span], br#""renamed""#);
});

/// Whether the top-level object repeats a key (serde's struct derive refuses that; a
/// `Value` keeps the last one).
fn has_duplicate_keys(data: &[u8]) -> bool {
    struct Keys(bool);
    impl<'de> serde::de::Visitor<'de> for Keys {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut seen = std::collections::HashSet::new();
            let mut dup = self.0;
            while let Some(k) = map.next_key::<String>()? {
                dup |= !seen.insert(k);
                map.next_value::<serde::de::IgnoredAny>()?;
            }
            Ok(dup)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(data);
    serde::Deserializer::deserialize_map(&mut de, Keys(false)).unwrap_or(true)
}
