//! Phase 6, **stream back** (respond): the served answer becomes the client's response.
//!
//! A stream's frames pass straight through an [`ObservedBody`] that finishes the record
//! when the stream ends; a complete body is sent in one go and recorded now; a failure is
//! rendered in the client's wire format ([`crate::error::render`]) and recorded with its
//! class. A stored response body never holds the member's provider secret
//! ([`super::scrub`]). Every answer carries the SPEC §3 attribution headers and
//! `server-timing`.

use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use super::forward::{Answer, Budget, Served};
use super::record::{capped, Ending, Recorder};
use super::scrub::stored;
use super::stream::ObservedBody;
use super::{GatewayBody, Group, Member, RequestCtx};
use crate::error::GatewayError;
use crate::explain::{logprobs, normalise};
use crate::headers::{
    SERVER_TIMING, X_SWITCHYARD_ASSIGNMENT, X_SWITCHYARD_CONFIG_VERSION, X_SWITCHYARD_GROUP, X_SWITCHYARD_MEMBER,
    X_SWITCHYARD_ROLE,
};
use switchyard_records::AssignmentReason;

/// Builds the response for `served` and finishes (or hands on) the recorder.
pub fn respond(
    ctx: &RequestCtx,
    group: &Group,
    served: Served<'_>,
    mut recorder: Recorder,
    budget: Budget,
) -> Response<GatewayBody> {
    let log_cap = group.log_cap();
    let (member, reason) = (served.member, served.reason);
    let attribute = |resp: &mut Response<GatewayBody>, timing| {
        attribution_headers(resp.headers_mut(), group, member, reason, ctx.table.version, timing);
    };
    match served.answer {
        Err(err) => {
            recorder.upstream_finished();
            let timing = server_timing(&recorder);
            let mut resp = err.to_response(ctx.format);
            let mut ending = Ending::failed(&err, resp.status().as_u16());
            if let GatewayError::UpstreamRejected { body, .. } = &err {
                // Already without the provider secret (scrubbed where it was collected).
                ending.response_body = (log_cap > 0).then(|| capped(body, log_cap));
            }
            recorder.finish(ending);
            attribute(&mut resp, timing);
            resp
        }
        Ok(Answer::Stream(upstream)) => {
            recorder.set_streaming();
            let timing = server_timing(&recorder);
            let content_type = upstream.content_type.unwrap_or(HeaderValue::from_static("text/event-stream"));
            let secret = (log_cap > 0).then(|| member.provider.spec.api_key.clone()).flatten();
            let body = ObservedBody::new(upstream.body, recorder, budget, log_cap, secret, ctx.format);
            let mut resp = Response::new(GatewayBody::Stream(Box::pin(body)));
            attribute(&mut resp, timing);
            resp.headers_mut().insert(CONTENT_TYPE, content_type);
            resp.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            resp
        }
        Ok(Answer::Full(bytes, usage)) => {
            recorder.upstream_finished();
            let timing = server_timing(&recorder);
            let explains = member.provider.runtime.explains();
            let inline = if explains { normalise::from_answer(&bytes) } else { normalise::Normalised::default() };
            let secret = member.provider.spec.api_key.as_ref();
            recorder.finish(Ending {
                status: 200,
                input_tokens: usage.prompt_tokens,
                output_tokens: usage.completion_tokens,
                response_body: (log_cap > 0).then(|| stored(&bytes, log_cap, false, secret)),
                attributions: inline.sets,
                attributions_cut: inline.cut,
                logprobs: if explains { None } else { logprobs::of_answer(&bytes) },
                ..Ending::default()
            });
            let mut resp = GatewayBody::json(StatusCode::OK, bytes);
            attribute(&mut resp, timing);
            resp
        }
    }
}

/// `server-timing: overhead;dur=<ms>, upstream;dur=<ms>` as of now (milliseconds with
/// three decimals, written without float formatting).
fn server_timing(recorder: &Recorder) -> Option<HeaderValue> {
    let upstream = recorder.upstream_elapsed();
    let overhead = recorder.elapsed().saturating_sub(upstream);
    let mut value = String::with_capacity(64);
    value.push_str("overhead;dur=");
    push_ms(&mut value, overhead);
    value.push_str(", upstream;dur=");
    push_ms(&mut value, upstream);
    HeaderValue::from_str(&value).ok()
}

/// Appends `d` in milliseconds with three decimals (rounded to the microsecond).
fn push_ms(out: &mut String, d: std::time::Duration) {
    use std::fmt::Write;
    let micros = (d.as_nanos() + 500) / 1000;
    let _ = write!(out, "{}.{:03}", micros / 1000, micros % 1000);
}

/// The SPEC §3 attribution headers of a served request, and its `server-timing`.
fn attribution_headers(
    h: &mut HeaderMap,
    group: &Group,
    member: &Member,
    reason: AssignmentReason,
    version: u64,
    timing: Option<HeaderValue>,
) {
    h.reserve(8);
    let val = |s: &str| HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static("-"));
    h.insert(X_SWITCHYARD_GROUP, val(&group.name));
    h.insert(X_SWITCHYARD_MEMBER, val(&member.name));
    h.insert(X_SWITCHYARD_ROLE, HeaderValue::from_static(member.role.as_str()));
    h.insert(X_SWITCHYARD_ASSIGNMENT, HeaderValue::from_static(reason.as_str()));
    h.insert(X_SWITCHYARD_CONFIG_VERSION, HeaderValue::from(version));
    if let Some(timing) = timing {
        h.insert(SERVER_TIMING, timing);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_have_three_decimals() {
        let ms = |nanos| {
            let mut s = String::new();
            push_ms(&mut s, std::time::Duration::from_nanos(nanos));
            s
        };
        assert_eq!(ms(0), "0.000");
        assert_eq!(ms(1_234_567), "1.235");
        assert_eq!(ms(42_000), "0.042");
        assert_eq!(ms(12_345_678_901), "12345.679");
    }
}
