//! Phase 3, **resolve**: the request body → the model group, in the request's one
//! routing-table snapshot.
//!
//! [`RequestProbe::scan`] runs serde_json over the body once, borrowing `model` and `user`
//! as raw slices and skipping every other value with `IgnoredAny` (which validates but
//! allocates nothing). Malformed JSON, a non-object body, or a wrongly typed field is a
//! client error that says which field is wrong. The `model` value's byte range is kept so
//! adapters can rewrite it in place. OIP requests name the group in the path; their body
//! must still be a JSON object. A group the client may not use is 403; a group of another
//! tenant is a 404, the same answer as for a group that does not exist.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::route::{sanitize, Ingress};
use super::{Group, RequestCtx};
use crate::error::GatewayError;
use crate::providers::Endpoint;

/// A request that resolved to a group (also kept in `ctx.group`).
pub struct Resolved {
    /// The group.
    pub group: Arc<Group>,
    /// The operation.
    pub endpoint: Endpoint,
    /// The client's body.
    pub body: Bytes,
    /// Byte range of the `model` value in `body` (empty for OIP).
    pub model_span: Range<usize>,
    /// `stream: true`.
    pub stream: bool,
    /// The body's `user`, a possible sticky key.
    pub user: Option<String>,
}

/// Resolves the request's group into `ctx.group`.
pub fn resolve(ctx: &mut RequestCtx, ingress: &Ingress, body: Bytes) -> Result<Resolved, GatewayError> {
    // Another tenant's group is answered exactly like a group that does not exist.
    let client = ctx.client.as_deref();
    let lookup = |name: &str| {
        ctx.table
            .group(name)
            .filter(|g| client.is_none_or(|c| c.sees(g.tenant.as_deref())))
            .cloned()
            .ok_or_else(|| GatewayError::UnknownGroup(sanitize(name)))
    };
    let (group, model_span, stream, user) = match &ingress.path_group {
        Some(name) => {
            check_json_object(&body)?;
            (lookup(name)?, 0..0, false, None)
        }
        None => {
            let probe = RequestProbe::scan(&body)?;
            (lookup(&probe.model)?, probe.model_span, probe.stream, probe.user.map(Cow::into_owned))
        }
    };
    ctx.group = Some(group.clone());
    if !ctx.client.as_ref().is_none_or(|c| c.may_use(&group.name, group.tenant.as_deref())) {
        return Err(GatewayError::GroupForbidden(group.name.clone()));
    }
    Ok(Resolved { group, endpoint: ingress.endpoint, body, model_span, stream, user })
}

/// An OIP body must be a JSON object (validated without building it). Public for the
/// fuzz targets.
#[doc(hidden)]
pub fn check_json_object(body: &[u8]) -> Result<(), GatewayError> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(GatewayError::BadJson("the body must be a JSON object".into()));
    }
    // `IgnoredAny` skips strings without checking them: check UTF-8 first, as the scan does.
    let text = utf8(body)?;
    serde_json::from_str::<serde::de::IgnoredAny>(text).map(drop).map_err(|e| GatewayError::BadJson(e.to_string()))
}

/// The body as text; JSON text is UTF-8 (RFC 8259).
fn utf8(body: &[u8]) -> Result<&str, GatewayError> {
    std::str::from_utf8(body).map_err(|e| {
        GatewayError::BadJson(format!("the body is not UTF-8 (invalid byte at offset {})", e.valid_up_to()))
    })
}

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
    /// Scans `body`; `model` must be a non-empty string.
    pub fn scan(body: &'a [u8]) -> Result<Self, GatewayError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(GatewayError::BadJson("the body is empty".into()));
        }
        // Skipped strings are not checked by the scan below.
        let text = utf8(body)?;
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

    /// Found by `fuzz/fuzz_targets/oip.rs`: an OIP body with a non-UTF-8 byte inside a
    /// skipped string was accepted as a JSON object and forwarded upstream.
    #[test]
    fn oip_body_with_invalid_utf8_in_a_skipped_string_is_refused() {
        let body = b"{\"inputs\":[{\"name\":\"x\",\"s\xc7ape\":[1,3]}]}";
        let err = check_json_object(body).expect_err("not JSON");
        assert_eq!(
            err.to_string(),
            "request body is not valid JSON: the body is not UTF-8 (invalid byte at offset 25)"
        );
        check_json_object(br#" {"inputs":[{"name":"x","shape":[1,3]}]}"#).expect("a JSON object");
        assert!(check_json_object(b"[1]").is_err());
        assert!(check_json_object(b"{\"a\":1} x").is_err());
    }
}
