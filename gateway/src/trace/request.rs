//! One request's trace: the W3C context it came with, and — when it is sampled — the
//! gateway's server span.
//!
//! [`RequestTrace::accept`] runs in phase 1. A valid `traceparent` is the request's trace;
//! without one a trace is started when the sampler picks the request. The server span is
//! created then (its parent is the client's span), collects the phases as events, and is
//! ended by the recorder when the response is complete — streams included — or at the
//! one exit for requests that end before a recorder exists. A request that is not sampled
//! has no span: its `traceparent` and `tracestate` go upstream as the client sent them
//! (only when valid), and its trace id is still recorded.
//!
//! Invariant: when tracing is off or the request is not sampled, nothing here allocates
//! (checked by `gateway/tests/trace_alloc.rs`).

use std::fmt;

use http::{HeaderMap, HeaderValue, Method};
use opentelemetry::trace::{
    Span as _, SpanContext, SpanKind, Status, TraceContextExt, TraceId, TraceState, Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::Span;
use switchyard_records::{ErrorClass, InferenceRecord};

use super::attempt::SpanParent;
use super::w3c::TraceParent;
use super::{attrs, Tracing};
use crate::headers::{TRACEPARENT, TRACESTATE};
use crate::providers::{Endpoint, UpstreamCall};
use crate::proxy::route::Route;

/// The request's trace state (empty: no trace at all).
#[derive(Default)]
pub struct RequestTrace {
    /// The trace the request belongs to (the client's, or the one started here).
    trace_id: Option<TraceId>,
    /// The client's headers, forwarded when the request is not sampled.
    traceparent: Option<HeaderValue>,
    tracestate: Option<HeaderValue>,
    /// Sampled: the server span.
    server: Option<Box<Server>>,
}

struct Server {
    span: Span,
    parent: SpanParent,
}

/// A request's trace as a call on its behalf carries it: sampled, the server span as the
/// parent of the call's own span; otherwise the client's `traceparent` and `tracestate`
/// as they came (or nothing).
#[derive(Clone, Default)]
pub struct FollowUp {
    traceparent: Option<HeaderValue>,
    tracestate: Option<HeaderValue>,
    span_parent: Option<SpanParent>,
}

/// A trace id formatted as 32 lowercase hex characters when displayed (nothing when
/// absent) — for log fields, without allocating.
#[derive(Clone, Copy)]
pub struct TraceIdField(Option<TraceId>);

// === impl FollowUp ===

impl FollowUp {
    /// Sets `call`'s trace headers and span parent.
    pub fn fill(self, call: &mut UpstreamCall) {
        call.traceparent = self.traceparent;
        call.tracestate = self.tracestate;
        call.span_parent = self.span_parent;
    }
}

// === impl RequestTrace ===

impl RequestTrace {
    /// Phase 1: the trace of a request with `headers`, routed by config `version`.
    pub fn accept(tracing: &Tracing, headers: &HeaderMap, version: u64) -> Self {
        let incoming = headers.get(TRACEPARENT).and_then(|v| Some((TraceParent::parse(v)?, v)));
        let mut out = Self::default();
        if let Some((parent, value)) = incoming {
            out.trace_id = Some(parent.trace_id);
            out.traceparent = Some(value.clone());
            out.tracestate = headers.get(TRACESTATE).cloned();
        }
        let Some(tracer) = tracing.tracer() else { return out };
        let parent_cx = match incoming {
            // Parent-based: the client's decision stands.
            Some((p, _)) if !p.sampled() => return out,
            Some((p, _)) => {
                let state = out.tracestate.as_ref().and_then(|v| v.to_str().ok()?.parse::<TraceState>().ok());
                Context::new().with_remote_span_context(SpanContext::new(
                    p.trace_id,
                    p.span_id,
                    p.flags,
                    true,
                    state.unwrap_or_default(),
                ))
            }
            // No parent: the SDK's ratio sampler decides.
            None => Context::new(),
        };
        let span = tracer.span_builder("HTTP").with_kind(SpanKind::Server).start_with_context(tracer, &parent_cx);
        if !span.is_recording() {
            return out;
        }
        let sc = span.span_context().clone();
        out.trace_id = Some(sc.trace_id());
        let context = Context::new().with_remote_span_context(sc);
        let parent = SpanParent::new(tracer.clone(), context, out.tracestate.clone(), version);
        out.server = Some(Box::new(Server { span, parent }));
        out
    }

    /// The trace id, when the request has a trace.
    pub fn trace_id(&self) -> Option<TraceId> {
        self.trace_id
    }

    /// The trace id as recorded: 32 lowercase hex characters, or empty.
    pub fn trace_id_hex(&self) -> String {
        self.trace_id.map(|t| format!("{t:032x}")).unwrap_or_default()
    }

    /// The trace id for a log field.
    pub fn field(&self) -> TraceIdField {
        TraceIdField(self.trace_id)
    }

    /// Whether the gateway's spans of this request are exported.
    pub fn sampled(&self) -> bool {
        self.server.is_some()
    }

    /// The `tracing` span the request is handled in: application logs carry its request id
    /// and trace id.
    pub fn log_span(&self, request_id: &str) -> tracing::Span {
        tracing::info_span!("request", request_id, trace_id = %self.field())
    }

    /// Names the server span after the route (`POST /v1/chat/completions`).
    pub fn set_route(&mut self, method: &Method, route: &Route) {
        let Some(s) = self.server.as_mut() else { return };
        let Some(template) = template(route) else { return };
        s.span.update_name(format!("{} {template}", method.as_str()));
        s.span.set_attributes([
            KeyValue::new(attrs::METHOD, method.as_str().to_owned()),
            KeyValue::new(attrs::ROUTE, template),
        ]);
    }

    /// A phase finished: an event on the server span.
    pub fn event(&mut self, name: &'static str) {
        if let Some(s) = self.server.as_mut() {
            s.span.add_event(name, Vec::new());
        }
    }

    /// The trace headers and span parent of the upstream call.
    pub fn fill(&self, call: &mut UpstreamCall) {
        self.follow_up().fill(call);
    }

    /// What a call made for this request after it was answered (the explainer's) needs
    /// of its trace; outlives the request.
    pub fn follow_up(&self) -> FollowUp {
        match &self.server {
            // Each attempt replaces `traceparent` with its own span.
            Some(s) => FollowUp {
                traceparent: None,
                tracestate: s.parent.tracestate().cloned(),
                span_parent: Some(s.parent.clone()),
            },
            None => FollowUp {
                traceparent: self.traceparent.clone(),
                tracestate: self.tracestate.clone(),
                span_parent: None,
            },
        }
    }

    /// Ends the server span (and a stream attempt still open) with the request's final
    /// `record`.
    pub fn finish(self, record: &InferenceRecord) {
        let Some(server) = self.server else { return };
        let Server { mut span, parent } = *server;
        parent.end_open(record);
        let r = record;
        span.set_attributes(attrs::provider(attrs::provider_name(&r.provider_kind, false)));
        span.set_attributes([
            KeyValue::new(attrs::REQUEST_ID, r.request_id.clone()),
            KeyValue::new(attrs::OPERATION, attrs::operation(&r.endpoint)),
            KeyValue::new(attrs::REQUEST_MODEL, r.group.clone()),
            KeyValue::new(attrs::GROUP, r.group.clone()),
            KeyValue::new(attrs::MEMBER, r.member.clone()),
            KeyValue::new(attrs::ROLE, r.role.as_str()),
            KeyValue::new(attrs::ASSIGNMENT, r.assignment.as_str()),
            KeyValue::new(attrs::CONFIG_VERSION, i64::try_from(r.config_version).unwrap_or(i64::MAX)),
        ]);
        span.set_attributes(attrs::usage(r.input_tokens, r.output_tokens));
        // The model that answered: as a complete answer named it, else the member's.
        let answered = r.status < 400 && r.error_class.is_none();
        if let Some(model) = parent.response_model().or(answered.then_some(r.upstream_model.as_str())) {
            span.set_attribute(KeyValue::new(attrs::RESPONSE_MODEL, model.to_owned()));
        }
        end(span, r.status, r.error_class);
    }

    /// Ends the server span of a request answered before a recorder existed (an early
    /// error, or a route without an upstream).
    pub fn finish_early(self, group: Option<&str>, status: u16, class: ErrorClass) {
        let Some(server) = self.server else { return };
        let mut span = server.span;
        if let Some(g) = group {
            span.set_attribute(KeyValue::new(attrs::GROUP, g.to_owned()));
        }
        end(span, status, class);
    }
}

/// Sets status and error and ends `span`.
fn end(mut span: Span, status: u16, class: ErrorClass) {
    span.set_attribute(KeyValue::new(attrs::STATUS_CODE, i64::from(status)));
    if !class.is_none() {
        span.set_attribute(KeyValue::new(attrs::ERROR_TYPE, class.as_str()));
    }
    // HTTP server spans are errors for 5xx (and whatever broke mid-stream).
    if status >= 500 || (status < 400 && !class.is_none() && class != ErrorClass::ClientAborted) {
        span.set_status(Status::error(class.as_str()));
    }
    span.end();
}

/// `http.route` of a route; `None` for refused requests.
fn template(route: &Route) -> Option<&'static str> {
    use crate::proxy::oip::OipRoute;
    Some(match route {
        Route::Infer(ingress) => match ingress.endpoint {
            Endpoint::ChatCompletions => "/v1/chat/completions",
            Endpoint::Completions => "/v1/completions",
            Endpoint::Embeddings => "/v1/embeddings",
            Endpoint::Messages => "/v1/messages",
            Endpoint::OipInfer => "/v2/models/{model}/infer",
        },
        Route::Models => "/v1/models",
        Route::Feedback => "/v1/feedback",
        Route::Oip(OipRoute::Server) => "/v2",
        Route::Oip(OipRoute::Live) => "/v2/health/live",
        Route::Oip(OipRoute::Ready) => "/v2/health/ready",
        Route::Oip(OipRoute::Model(_)) => "/v2/models/{model}",
        Route::Oip(OipRoute::ModelReady(_)) => "/v2/models/{model}/ready",
        Route::Oip(OipRoute::Infer(_)) => "/v2/models/{model}/infer",
        Route::Refused(_) => return None,
    })
}

// === impl TraceIdField ===

impl fmt::Display for TraceIdField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(t) => write!(f, "{t:032x}"),
            None => Ok(()),
        }
    }
}
