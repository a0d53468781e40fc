//! Phases 2–6 for the inference endpoints: authenticate, resolve, assign, forward, and
//! either stream the answer back or send the collected one.
//!
//! Errors before a member is chosen are returned as `Err` (counted without group labels
//! by the caller). From the moment a member is chosen a [`Recorder`] exists, and every
//! outcome — success, upstream failure, client disconnect — is finished through it,
//! exactly once. Resilience around phase 5: a challenger whose breaker is open is
//! replaced by the champion before sending (`fallback`); with `fallback: champion` a
//! challenger that fails before the first byte is retried on the champion, and the one
//! record then names the champion with assignment `fallback`. Shadows get a copy off the
//! hot path ([`super::shadow`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use switchyard_config::schema::{Fallback, Role};
use switchyard_config::Member;
use switchyard_records::{AssignmentReason, InferenceRecord};

use super::assign::assign;
use super::attempt::{self, Answer, Budget};
use super::body::{read_request, GatewayBody};
use super::recorder::{Outcome, Recorder};
use super::scan::RequestProbe;
use super::stream::ObservedBody;
use super::usage::usage_of_json;
use super::{authenticate, declared_length, error_response_for, sanitize, shadow, unix_ms, Shared};
use crate::error::GatewayError;
use crate::providers::{explain, Endpoint, SharedAdapter, UpstreamCall, WireFormat};

/// What the route said about the request.
pub(super) struct Ingress {
    /// The operation (and wire format).
    pub endpoint: Endpoint,
    /// The group named by the path (OIP), when the body does not name one.
    pub path_group: Option<String>,
}

/// Serves one inference request.
pub(super) async fn infer(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    ingress: Ingress,
    accepted: Instant,
    request_id: &str,
    client_request_id: Option<&HeaderValue>,
) -> Result<Response<GatewayBody>, GatewayError> {
    let endpoint = ingress.endpoint;
    let format = endpoint.format();
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
    let (group_name, model_span, stream, user) = match &ingress.path_group {
        Some(g) => {
            check_json_object(&body)?;
            (g.clone(), 0..0, false, None)
        }
        None => {
            let probe = RequestProbe::scan(&body)?;
            (probe.model.into_owned(), probe.model_span, probe.stream, probe.user.map(|u| u.into_owned()))
        }
    };
    let group = table.group(&group_name).ok_or_else(|| GatewayError::UnknownGroup(sanitize(&group_name)))?.clone();
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

    // Phase 4: assign; an open breaker sends a challenger's share to the champion.
    let decision = assign(&group, &parts.headers, user.as_deref())?;
    let (mut index, mut reason) = (decision.index, decision.reason);
    let res = &shared.metrics.resilience;
    if group.breaker.enabled && reason != AssignmentReason::Pinned && group.members[index].role == Role::Challenger {
        let m = &group.members[index];
        if !res.breaker(&group.name, &m.name).admit(&group.breaker) {
            tracing::debug!(group = %group.name, member = %m.name, "breaker open; serving on the champion");
            (index, reason) = (0, AssignmentReason::Fallback);
        }
    }
    res.budget(&group.name, &group.retries).deposit(&group.retries);
    let member = &group.members[index];

    // Phase 7 starts here: from now on every outcome is recorded.
    let log_cap =
        if group.records.log_bodies { usize::try_from(group.records.max_body_bytes).unwrap_or(usize::MAX) } else { 0 };
    let mut record = InferenceRecord {
        request_id: request_id.to_owned(),
        client_request_id: client_request_id.and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned(),
        timestamp_ms: unix_ms(),
        tenant: client.map(|c| c.tenant.clone()).unwrap_or_default(),
        client: client.map(|c| c.name.clone()).unwrap_or_default(),
        group: group.name.clone(),
        config_version: table.version,
        endpoint: endpoint.as_str().to_owned(),
        stream,
        sticky_key_hash: decision.sticky_hash,
        request_body: (log_cap > 0).then(|| capped(&body, log_cap)),
        ..InferenceRecord::default()
    };
    attribute(&mut record, member, reason);

    let call = UpstreamCall {
        endpoint,
        body,
        model_span,
        model: member.model.clone(),
        stream,
        // Propagated: the upstream sees the client's id when it sent one.
        request_id: client_request_id
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_str(request_id).unwrap_or(HeaderValue::from_static("-"))),
        traceparent: parts.headers.get("traceparent").cloned(),
        timeouts: group.timeouts,
    };
    shadow::mirror(shared, &group, &call, &record);
    let mut recorder = Recorder::start(shared.clone(), record, accepted);

    // Phase 5: translate & forward (retries inside, fallback here).
    let budget = Budget {
        deadline: tokio::time::Instant::now() + group.timeouts.total,
        max_bytes: limits.max_response_bytes,
        idle: group.timeouts.idle,
    };
    recorder.upstream_started();
    let mut served_by = member;
    let mut answer = attempt::serve(shared, &group, member, &call, budget).await;
    let may_fall_back = group.fallback == Fallback::Champion
        && member.role == Role::Challenger
        && reason != AssignmentReason::Pinned
        && attempt::may_fall_back(&answer);
    if may_fall_back {
        let champion = group.champion();
        tracing::debug!(group = %group.name, member = %member.name, "challenger failed; retrying on the champion");
        let kind = match &answer {
            Err(e) => upstream_kind(e),
            Ok(_) => Some("status"),
        };
        if let Some(kind) = kind {
            shared.metrics.upstream_errors.with_label_values(&[&group.name, &member.name, kind]).inc();
        }
        reason = AssignmentReason::Fallback;
        attribute(recorder.record_mut(), champion, reason);
        served_by = champion;
        answer = attempt::serve(shared, &group, champion, &call, budget).await;
    }
    let mut headers = attribution_headers(served_by, reason.as_str(), &group.name, table.version);

    match answer {
        Err(e) => Ok(failed(recorder, &e, headers, format)),
        // Phase 6: stream back.
        Ok(Answer::Stream(upstream)) => {
            recorder.set_streaming();
            server_timing(&mut headers, &recorder);
            let content_type = upstream.content_type.unwrap_or(HeaderValue::from_static("text/event-stream"));
            let body =
                ObservedBody::new(upstream.body, recorder, group.timeouts.idle, budget.deadline, log_cap, format);
            let mut resp = Response::new(GatewayBody::Stream(Box::pin(body)));
            headers.insert(CONTENT_TYPE, content_type);
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            resp.headers_mut().extend(headers);
            Ok(resp)
        }
        Ok(Answer::Full { status, bytes }) => {
            recorder.upstream_finished();
            server_timing(&mut headers, &recorder);
            let usage = usage_of_json(&bytes).unwrap_or_default();
            let ok = status == 200;
            let err = GatewayError::UpstreamStatus { member: served_by.name.clone(), status };
            recorder.finish(Outcome {
                status,
                error_class: if ok { "" } else { err.class() },
                upstream_error: (!ok).then_some("status"),
                input_tokens: usage.prompt_tokens,
                output_tokens: usage.completion_tokens,
                response_body: (log_cap > 0).then(|| capped(&bytes, log_cap)),
                attributions: if ok && served_by.provider.runtime.explains() {
                    explain::attributions(&bytes)
                } else {
                    None
                },
            });
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            Ok(respond(status, bytes, headers))
        }
    }
}

/// Fills the member-dependent fields of `record`.
fn attribute(record: &mut InferenceRecord, member: &Member<SharedAdapter>, reason: AssignmentReason) {
    record.member = member.name.clone();
    record.role = member.role.as_str().to_owned();
    record.provider = member.provider.spec.name.clone();
    record.provider_kind = member.provider.spec.kind.as_str().to_owned();
    record.upstream_model = member.model.clone();
    record.assignment = reason.as_str().to_owned();
    record.weight = member.share;
}

/// An OIP body must be a JSON object.
fn check_json_object(body: &[u8]) -> Result<(), GatewayError> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        Ok(_) => Err(GatewayError::BadJson("the body must be a JSON object".into())),
        Err(e) => Err(GatewayError::BadJson(e.to_string())),
    }
}

/// Finishes `recorder` with `err` and builds the error response.
fn failed(
    mut recorder: Recorder,
    err: &GatewayError,
    mut headers: HeaderMap,
    format: WireFormat,
) -> Response<GatewayBody> {
    recorder.upstream_finished();
    server_timing(&mut headers, &recorder);
    let mut resp = error_response_for(err, format);
    recorder.finish(Outcome {
        status: resp.status().as_u16(),
        error_class: err.class(),
        upstream_error: upstream_kind(err),
        ..Outcome::default()
    });
    resp.headers_mut().extend(headers);
    resp
}

/// The `upstream_errors_total{kind}` label of an upstream failure.
pub(super) fn upstream_kind(err: &GatewayError) -> Option<&'static str> {
    match err {
        GatewayError::UpstreamConnect { .. } => Some("connect"),
        GatewayError::UpstreamTimeout { .. } => Some("timeout"),
        GatewayError::UpstreamStatus { .. } => Some("status"),
        GatewayError::UpstreamInvalid { .. } => Some("invalid"),
        GatewayError::UpstreamReset { .. } => Some("reset"),
        _ => None,
    }
}

fn respond(status: StatusCode, body: Bytes, headers: HeaderMap) -> Response<GatewayBody> {
    let mut resp = Response::new(GatewayBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.headers_mut().extend(headers);
    resp
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

/// At most `cap` bytes of `bytes` as text.
pub(super) fn capped(bytes: &[u8], cap: usize) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(cap)]).into_owned()
}
