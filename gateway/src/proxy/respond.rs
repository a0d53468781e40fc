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
use super::usage::usage_of_json;
use super::{GatewayBody, Group, RequestCtx};
use crate::error::GatewayError;
use crate::explain::{logprobs, normalise};

/// Builds the response for `served` and finishes (or hands on) the recorder.
pub fn respond(
    ctx: &RequestCtx,
    group: &Group,
    served: Served<'_>,
    mut recorder: Recorder,
    budget: Budget,
) -> Response<GatewayBody> {
    let mut headers = attribution_headers(&served, &group.name, ctx.table.version);
    let log_cap = group.log_cap();
    match served.answer {
        Err(err) => {
            recorder.upstream_finished();
            server_timing(&mut headers, &recorder);
            let resp = err.to_response(ctx.format);
            let mut ending = Ending::failed(&err, resp.status().as_u16());
            if let GatewayError::UpstreamRejected { body, .. } = &err {
                // Already without the provider secret (scrubbed where it was collected).
                ending.response_body = (log_cap > 0).then(|| capped(body, log_cap));
            }
            recorder.finish(ending);
            with_headers(resp, headers)
        }
        Ok(Answer::Stream(upstream)) => {
            recorder.set_streaming();
            server_timing(&mut headers, &recorder);
            let content_type = upstream.content_type.unwrap_or(HeaderValue::from_static("text/event-stream"));
            headers.insert(CONTENT_TYPE, content_type);
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            let secret = (log_cap > 0).then(|| served.member.provider.spec.api_key.clone()).flatten();
            let body = ObservedBody::new(upstream.body, recorder, budget, log_cap, secret, ctx.format);
            with_headers(Response::new(GatewayBody::Stream(Box::pin(body))), headers)
        }
        Ok(Answer::Full(bytes)) => {
            recorder.upstream_finished();
            server_timing(&mut headers, &recorder);
            let usage = usage_of_json(&bytes).unwrap_or_default();
            let explains = served.member.provider.runtime.explains();
            let inline = if explains { normalise::from_answer(&bytes) } else { normalise::Normalised::default() };
            let secret = served.member.provider.spec.api_key.as_ref();
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
            resp.headers_mut().extend(headers);
            resp
        }
    }
}

fn with_headers(mut resp: Response<GatewayBody>, headers: HeaderMap) -> Response<GatewayBody> {
    resp.headers_mut().extend(headers);
    resp
}

/// `server-timing: overhead;dur=<ms>, upstream;dur=<ms>` as of now.
fn server_timing(headers: &mut HeaderMap, recorder: &Recorder) {
    let upstream = recorder.upstream_elapsed();
    let overhead = recorder.elapsed().saturating_sub(upstream);
    let value =
        format!("overhead;dur={:.3}, upstream;dur={:.3}", overhead.as_secs_f64() * 1e3, upstream.as_secs_f64() * 1e3);
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert("server-timing", v);
    }
}

/// The SPEC §3 attribution headers of a served request.
fn attribution_headers(served: &Served<'_>, group: &str, version: u64) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(8);
    let val = |s: &str| HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static("-"));
    h.insert("x-switchyard-group", val(group));
    h.insert("x-switchyard-member", val(&served.member.name));
    h.insert("x-switchyard-role", HeaderValue::from_static(served.member.role.as_str()));
    h.insert("x-switchyard-assignment", HeaderValue::from_static(served.reason.as_str()));
    h.insert("x-switchyard-config-version", HeaderValue::from(version));
    h
}
