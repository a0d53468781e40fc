//! Phases 2–6 for the inference endpoints: authenticate, resolve, assign, forward, and
//! either stream the answer back or collect and check it.
//!
//! Errors before a member is chosen are returned as `Err` (counted without group labels
//! by the caller). From the moment a member is chosen a [`Recorder`] exists, and every
//! outcome — success, upstream failure, client disconnect — is finished through it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use switchyard_config::Member;
use switchyard_records::InferenceRecord;

use super::assign::assign;
use super::body::{collect_upstream, read_request, CollectError, GatewayBody};
use super::recorder::{Outcome, Recorder};
use super::scan::RequestProbe;
use super::stream::ObservedBody;
use super::usage::usage_of_json;
use super::{authenticate, declared_length, error_response, sanitize, unix_ms, Shared};
use crate::error::GatewayError;
use crate::providers::{Endpoint, SharedAdapter, UpstreamCall, UpstreamFailure};

/// Upstream statuses whose body is passed to the client: the client's own request was
/// at fault (or it is being rate limited), and the upstream says how.
const PASS_THROUGH: [u16; 5] = [400, 404, 413, 422, 429];

/// Serves one inference request.
pub(super) async fn infer(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    endpoint: Endpoint,
    accepted: Instant,
    request_id: &str,
) -> Result<Response<GatewayBody>, GatewayError> {
    let table = shared.store.current();
    let (parts, body) = req.into_parts();

    // Phase 2: authenticate.
    let client = authenticate(&table, &parts.headers)?;

    // Phase 1 (cont.): the body, within limits.
    let limits = &table.limits;
    let read_started = Instant::now();
    let body = read_request(
        body,
        declared_length(&parts.headers),
        limits.max_body_bytes,
        Duration::from_millis(limits.body_timeout_ms),
    )
    .await?;
    shared.metrics.body_read.observe(read_started.elapsed().as_secs_f64());

    // Phase 3: resolve.
    let probe = RequestProbe::scan(&body)?;
    let group = table.group(&probe.model).ok_or_else(|| GatewayError::UnknownGroup(sanitize(&probe.model)))?.clone();
    if let Some(c) = client {
        if !c.may_use(&group.name) {
            return Err(GatewayError::GroupForbidden(group.name.clone()));
        }
    }

    // The spool is full and the operator chose `when_full: reject`: refuse before any
    // upstream work is done, so the client can retry elsewhere or later.
    if !shared.records.accepting() {
        return Err(GatewayError::SpoolFull);
    }

    // Phase 4: assign.
    let decision = assign(&group, &parts.headers, probe.user.as_deref())?;
    let member = &group.members[decision.index];
    let (stream, model_span) = (probe.stream, probe.model_span.clone());
    drop(probe);

    // Phase 7 starts here: from now on every outcome is recorded.
    let log_cap =
        if group.records.log_bodies { usize::try_from(group.records.max_body_bytes).unwrap_or(usize::MAX) } else { 0 };
    let record = InferenceRecord {
        request_id: request_id.to_owned(),
        timestamp_ms: unix_ms(),
        tenant: client.map(|c| c.tenant.clone()).unwrap_or_default(),
        client: client.map(|c| c.name.clone()).unwrap_or_default(),
        group: group.name.clone(),
        member: member.name.clone(),
        role: member.role.as_str().to_owned(),
        provider: member.provider.spec.name.clone(),
        provider_kind: member.provider.spec.kind.as_str().to_owned(),
        upstream_model: member.model.clone(),
        assignment: decision.reason.as_str().to_owned(),
        sticky_key_hash: decision.sticky_hash,
        weight: member.share,
        config_version: table.version,
        endpoint: endpoint.as_str().to_owned(),
        stream,
        request_body: (log_cap > 0).then(|| capped(&body, log_cap)),
        ..InferenceRecord::default()
    };
    let mut recorder = Recorder::start(shared.clone(), record, accepted);
    let mut headers = attribution_headers(member, decision.reason.as_str(), &group.name, table.version);

    // Phase 5: translate & forward.
    let call = UpstreamCall {
        endpoint,
        body,
        model_span,
        model: member.model.clone(),
        stream,
        request_id: HeaderValue::from_str(request_id).unwrap_or(HeaderValue::from_static("-")),
        traceparent: parts.headers.get("traceparent").cloned(),
        timeouts: group.timeouts,
    };
    let deadline = tokio::time::Instant::now() + group.timeouts.total;
    let adapter: &SharedAdapter = &member.provider.runtime;
    recorder.upstream_started();
    let upstream = match tokio::time::timeout_at(deadline, adapter.call(call)).await {
        Err(_) => Err(GatewayError::UpstreamTimeout { member: member.name.clone(), phase: "total" }),
        Ok(Err(f)) => Err(upstream_error(f, &member.name)),
        Ok(Ok(resp)) => Ok(resp),
    };
    let upstream = match upstream {
        Ok(u) => u,
        Err(e) => return Ok(failed(recorder, &e, headers)),
    };

    // Phase 6: stream back.
    if stream && upstream.status.is_success() {
        recorder.set_streaming();
        server_timing(&mut headers, &recorder);
        let content_type = upstream.content_type.unwrap_or(HeaderValue::from_static("text/event-stream"));
        let body = ObservedBody::new(upstream.body, recorder, group.timeouts.idle, deadline, log_cap);
        let mut resp = Response::new(GatewayBody::Stream(Box::pin(body)));
        headers.insert(CONTENT_TYPE, content_type);
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        resp.headers_mut().extend(headers);
        return Ok(resp);
    }
    let collected = collect_upstream(upstream.body, limits.max_response_bytes, group.timeouts.idle, deadline).await;
    recorder.upstream_finished();
    let bytes = match collected {
        Ok(b) => b,
        Err(e) => {
            let err = match e {
                CollectError::Idle => GatewayError::UpstreamTimeout { member: member.name.clone(), phase: "idle" },
                CollectError::Total => GatewayError::UpstreamTimeout { member: member.name.clone(), phase: "total" },
                CollectError::Reset => GatewayError::UpstreamReset { member: member.name.clone() },
                CollectError::TooLarge => GatewayError::UpstreamInvalid { member: member.name.clone() },
            };
            return Ok(failed(recorder, &err, headers));
        }
    };
    let usage = usage_of_json(&bytes);
    let status = upstream.status.as_u16();
    if upstream.status.is_success() {
        let Some(usage) = usage else {
            return Ok(failed(recorder, &GatewayError::UpstreamInvalid { member: member.name.clone() }, headers));
        };
        server_timing(&mut headers, &recorder);
        recorder.finish(Outcome {
            status: 200,
            input_tokens: usage.prompt_tokens,
            output_tokens: usage.completion_tokens,
            response_body: (log_cap > 0).then(|| capped(&bytes, log_cap)),
            ..Outcome::default()
        });
        return Ok(respond(StatusCode::OK, bytes, headers));
    }
    let err = GatewayError::UpstreamStatus { member: member.name.clone(), status };
    if PASS_THROUGH.contains(&status) && usage.is_some() {
        server_timing(&mut headers, &recorder);
        recorder.finish(Outcome {
            status,
            error_class: err.class(),
            upstream_error: Some("status"),
            ..Outcome::default()
        });
        return Ok(respond(upstream.status, bytes, headers));
    }
    Ok(failed(recorder, &err, headers))
}

/// Finishes `recorder` with `err` and builds the error response.
fn failed(mut recorder: Recorder, err: &GatewayError, mut headers: HeaderMap) -> Response<GatewayBody> {
    recorder.upstream_finished();
    server_timing(&mut headers, &recorder);
    let mut resp = error_response(err);
    recorder.finish(Outcome {
        status: resp.status().as_u16(),
        error_class: err.class(),
        upstream_error: Some(match err {
            GatewayError::UpstreamConnect { .. } => "connect",
            GatewayError::UpstreamTimeout { .. } => "timeout",
            GatewayError::UpstreamStatus { .. } => "status",
            GatewayError::UpstreamInvalid { .. } => "invalid",
            _ => "reset",
        }),
        ..Outcome::default()
    });
    resp.headers_mut().extend(headers);
    resp
}

fn respond(status: StatusCode, body: Bytes, headers: HeaderMap) -> Response<GatewayBody> {
    let mut resp = Response::new(GatewayBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.headers_mut().extend(headers);
    resp
}

fn upstream_error(f: UpstreamFailure, member: &str) -> GatewayError {
    let member = member.to_owned();
    match f {
        UpstreamFailure::Connect => GatewayError::UpstreamConnect { member },
        UpstreamFailure::FirstByteTimeout => GatewayError::UpstreamTimeout { member, phase: "first_byte" },
        UpstreamFailure::Reset => GatewayError::UpstreamReset { member },
    }
}

/// SPEC §3 attribution headers.
fn attribution_headers(member: &Member<SharedAdapter>, reason: &str, group: &str, version: u64) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(8);
    let val = |s: &str| HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static("-"));
    h.insert("x-switchyard-group", val(group));
    h.insert("x-switchyard-member", val(&member.name));
    h.insert("x-switchyard-role", HeaderValue::from_static(member.role.as_str()));
    h.insert("x-switchyard-assignment", val(reason));
    h.insert("x-switchyard-config-version", HeaderValue::from(version));
    h
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

fn capped(bytes: &[u8], cap: usize) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(cap)]).into_owned()
}
