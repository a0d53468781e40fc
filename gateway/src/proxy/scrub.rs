//! Removing the member's own provider secret from upstream bodies.
//!
//! An upstream that quotes the request back — `{"error": "bad key: Bearer sk-…"}` — would
//! hand the provider key the gateway sent it to the client, or into a record with
//! `log_bodies`. Every upstream body the gateway passes on for an error (the
//! [`GatewayError::UpstreamRejected`](crate::error::GatewayError::UpstreamRejected) body,
//! before any translation) and every body it stores (a record's response body, streamed
//! or not) goes through [`scrub`] / [`stored`]: each occurrence of the secret — as sent,
//! and JSON-escaped when that differs — becomes [`REDACTED`] (so `Bearer <secret>` becomes
//! `Bearer [redacted]`).
//!
//! Cost: one SIMD substring search ([`memchr::memmem`]) of the secret's bytes per form,
//! only on those paths; a body without the secret is returned as it came (no copy). A
//! successful answer that is not stored — the hot path, streamed or not — is never
//! searched.

use std::borrow::Cow;

use bytes::Bytes;
use memchr::memmem;
use switchyard_config::Secret;

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// `body` without `secret` (the same bytes when it does not occur).
pub fn scrub(body: Bytes, secret: Option<&Secret>) -> Bytes {
    let Some(secret) = secret.filter(|s| !s.expose().is_empty()) else { return body };
    match replace_all(&body, secret.expose()) {
        Cow::Borrowed(_) => body,
        Cow::Owned(clean) => Bytes::from(clean),
    }
}

/// A body to store: at most `cap` bytes of `body` (`cut`: `body` was already cut at the
/// cap while streaming) without `secret`, as text. A secret cut in two by the cap loses
/// its first part too.
pub fn stored(body: &[u8], cap: usize, cut: bool, secret: Option<&Secret>) -> String {
    let secret = secret.map(Secret::expose).filter(|s| !s.is_empty());
    let Some(secret) = secret else {
        return String::from_utf8_lossy(&body[..body.len().min(cap)]).into_owned();
    };
    let clean = replace_all(body, secret);
    let cut = cut || clean.len() > cap;
    let mut kept = &clean[..clean.len().min(cap)];
    if cut {
        // The cap may have split a secret: drop a tail that is the start of it.
        let s = secret.as_bytes();
        if let Some(k) = (1..s.len().min(kept.len() + 1)).rev().find(|&k| kept.ends_with(&s[..k])) {
            kept = &kept[..kept.len() - k];
        }
    }
    String::from_utf8_lossy(kept).into_owned()
}

/// Every occurrence of the secret `raw`'s forms in `body` replaced.
fn replace_all<'b>(body: &'b [u8], raw: &str) -> Cow<'b, [u8]> {
    let escaped = serde_json::to_string(raw).ok().map(|q| q[1..q.len() - 1].to_owned()).filter(|e| e != raw);
    let mut out = Cow::Borrowed(body);
    for needle in std::iter::once(raw).chain(escaped.as_deref()) {
        let finder = memmem::Finder::new(needle.as_bytes());
        if finder.find(&out).is_none() {
            continue;
        }
        let mut clean = Vec::with_capacity(out.len());
        let mut at = 0;
        for hit in finder.find_iter(&out) {
            clean.extend_from_slice(&out[at..hit]);
            clean.extend_from_slice(REDACTED.as_bytes());
            at = hit + needle.len();
        }
        clean.extend_from_slice(&out[at..]);
        out = Cow::Owned(clean);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Secret {
        Secret::new(s.to_owned())
    }

    #[test]
    fn every_occurrence_goes_and_clean_bodies_are_not_copied() {
        let k = key("sk-abc");
        let body = Bytes::from_static(br#"{"e":"Bearer sk-abc and sk-abcsk-abc"}"#);
        assert_eq!(&scrub(body, Some(&k))[..], br#"{"e":"Bearer [redacted] and [redacted][redacted]"}"#);
        let clean = Bytes::from_static(b"{\"ok\":1}");
        let out = scrub(clean.clone(), Some(&k));
        assert_eq!(out.as_ptr(), clean.as_ptr(), "no copy when the secret is absent");
        assert_eq!(scrub(clean.clone(), None), clean);
        assert_eq!(scrub(clean.clone(), Some(&key(""))), clean);
    }

    #[test]
    fn the_json_escaped_form_goes_too() {
        let k = key(r#"a"b\c"#);
        let body = Bytes::from(serde_json::json!({ "echo": r#"a"b\c"# }).to_string());
        let out = scrub(body, Some(&k));
        assert_eq!(&out[..], br#"{"echo":"[redacted]"}"#);
    }

    #[test]
    fn a_stored_body_is_capped_and_a_split_secret_loses_its_head() {
        let k = key("sk-secret");
        assert_eq!(stored(b"xx sk-secret yy", 100, false, Some(&k)), "xx [redacted] yy");
        assert_eq!(stored(b"0123 sk-sec", 11, true, Some(&k)), "0123 ", "cut while streaming");
        assert_eq!(stored(b"0123 sk-secret", 9, false, Some(&k)), "0123 [red", "cut after scrubbing");
        assert_eq!(stored(b"0123456789", 4, false, None), "0123");
    }
}
