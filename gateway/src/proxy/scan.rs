//! Request scanning: the few fields routing needs, without building a JSON tree.
//!
//! [`RequestProbe::scan`] runs serde_json over the body once, borrowing `model` and `user`
//! as raw slices and skipping every other value with `IgnoredAny` (which validates but
//! allocates nothing). Malformed JSON, a non-object body, or a wrongly typed field is a
//! client error that says which field is wrong. The `model` value's byte range is kept so
//! adapters can rewrite it in place.

use std::borrow::Cow;
use std::ops::Range;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::GatewayError;

/// What the data plane reads from a request body.
#[derive(Debug)]
pub struct RequestProbe<'a> {
    /// The group name from `model`.
    pub model: Cow<'a, str>,
    /// Byte range of the `model` value (with its quotes) within the body.
    pub model_span: Range<usize>,
    /// `stream: true`.
    pub stream: bool,
    /// The body's `user` string, when present.
    pub user: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow, default)]
    model: Option<&'a RawValue>,
    #[serde(default)]
    stream: Option<serde_json::Value>,
    #[serde(borrow, default)]
    user: Option<&'a RawValue>,
}

// === impl RequestProbe ===

impl<'a> RequestProbe<'a> {
    /// Scans `body`; needs `model` (a string) unless `model_optional`.
    pub fn scan(body: &'a [u8]) -> Result<Self, GatewayError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(GatewayError::BadJson("the body is empty".into()));
        }
        // JSON text is UTF-8 (RFC 8259); skipped strings are not checked by the scan below.
        let text = std::str::from_utf8(body).map_err(|e| {
            GatewayError::BadJson(format!("the body is not UTF-8 (invalid byte at offset {})", e.valid_up_to()))
        })?;
        if !text.trim_start().starts_with('{') {
            return Err(GatewayError::BadJson("the body must be a JSON object".into()));
        }
        let fields: Fields<'a> = serde_json::from_str(text).map_err(|e| {
            if e.is_data() && e.to_string().starts_with("invalid type") {
                GatewayError::BadJson("the body must be a JSON object".into())
            } else {
                GatewayError::BadJson(e.to_string())
            }
        })?;
        let raw =
            fields.model.ok_or_else(|| GatewayError::BadField("`model` is required: name a model group".into()))?;
        let model = string_of(raw).ok_or_else(|| GatewayError::BadField("`model` must be a string".into()))?;
        if model.is_empty() {
            return Err(GatewayError::BadField("`model` must not be empty".into()));
        }
        let start = raw.get().as_ptr() as usize - body.as_ptr() as usize;
        let model_span = start..start + raw.get().len();
        let stream = match fields.stream {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Bool(b)) => b,
            Some(_) => return Err(GatewayError::BadField("`stream` must be a boolean".into())),
        };
        let user = match fields.user {
            None => None,
            Some(raw) if raw.get() == "null" => None,
            Some(raw) => Some(string_of(raw).ok_or_else(|| GatewayError::BadField("`user` must be a string".into()))?),
        };
        Ok(Self { model, model_span, stream, user })
    }
}

/// The string a raw JSON value holds, unescaped only when it has escapes.
fn string_of(raw: &RawValue) -> Option<Cow<'_, str>> {
    let s = raw.get();
    if !s.starts_with('"') {
        return None;
    }
    if !s.contains('\\') {
        return Some(Cow::Borrowed(&s[1..s.len() - 1]));
    }
    serde_json::from_str::<String>(s).ok().map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_fields_and_span() {
        let body =
            br#"{"messages":[{"role":"user","content":"hi \"model\""}],"model":"demo","stream":true,"user":"u1"}"#;
        let p = RequestProbe::scan(body).expect("valid");
        assert_eq!(p.model, "demo");
        assert_eq!(&body[p.model_span.clone()], br#""demo""#);
        assert!(p.stream);
        assert_eq!(p.user.as_deref(), Some("u1"));
    }

    #[test]
    fn escaped_model_is_unescaped() {
        let p = RequestProbe::scan(br#"{"model":"a\u0062c"}"#).expect("valid");
        assert_eq!(p.model, "abc");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let msg = |b: &[u8]| RequestProbe::scan(b).expect_err("invalid").to_string();
        assert!(msg(b"{").contains("not valid JSON"));
        assert!(msg(b"[1]").contains("JSON object"));
        assert!(msg(b"").contains("empty"));
        assert_eq!(msg(b"{}"), "`model` is required: name a model group");
        assert_eq!(msg(br#"{"model":3}"#), "`model` must be a string");
        assert_eq!(msg(br#"{"model":"g","stream":"yes"}"#), "`stream` must be a boolean");
        assert_eq!(msg(br#"{"model":"g","user":5}"#), "`user` must be a string");
    }
}
