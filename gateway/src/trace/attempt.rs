//! Client spans: one per upstream attempt — every retry, the champion fallback and each
//! shadow copy — each a child of the request's server span.
//!
//! A sampled request's [`UpstreamCall`] carries a [`SpanParent`] (the server span's
//! context and the tracer). [`AttemptSpan::start`] opens the attempt's span and points the
//! call's `traceparent` at it, so the upstream's own spans hang off this attempt; the
//! client's `tracestate` travels on unchanged. An attempt that ends before the client is
//! answered (a failure, a complete body) is ended at once ([`AttemptSpan::settle`]); a
//! stream being served is parked in the parent ([`AttemptSpan::park`]) and ended with the
//! request, when the last frame went out, with the tokens the stream reported.
//!
//! Invariant: an unsampled call has no parent, and then nothing here allocates.

use std::sync::{Arc, Mutex, OnceLock};

use http::HeaderValue;
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SdkTracer, Span};
use switchyard_config::ProviderKind;
use switchyard_records::{AssignmentReason, InferenceRecord};

use super::{attrs, w3c};
use crate::error::GatewayError;
use crate::providers::UpstreamCall;
use crate::proxy::forward::Answer;
use crate::proxy::usage::Usage;
use crate::proxy::Member;

/// What an attempt's span needs from its request: the server span's context.
#[derive(Clone)]
pub struct SpanParent(Arc<Parent>);

struct Parent {
    tracer: SdkTracer,
    /// Holds the server span's context (the attempts' parent).
    context: Context,
    /// The client's `tracestate`, sent upstream with every attempt.
    tracestate: Option<HeaderValue>,
    config_version: u64,
    /// The attempt whose stream is being served (ended with the request).
    open: Mutex<Option<Span>>,
    /// The model a successful complete answer named.
    response_model: OnceLock<String>,
}

/// One attempt's span; empty when the request is not sampled.
pub struct AttemptSpan(Option<Box<Live>>);

struct Live {
    span: Span,
    parent: SpanParent,
}

/// How an attempt's span ends.
#[derive(Default)]
pub struct Outcome<'a> {
    /// The upstream's HTTP status, when it answered.
    pub status: Option<u16>,
    /// The error class, when it failed.
    pub error: Option<&'static str>,
    /// Tokens reported.
    pub usage: Usage,
    /// The model the answer named.
    pub response_model: Option<&'a str>,
}

// === impl SpanParent ===

impl SpanParent {
    /// The parent for attempts of a server span with context `context`.
    pub fn new(tracer: SdkTracer, context: Context, tracestate: Option<HeaderValue>, config_version: u64) -> Self {
        Self(Arc::new(Parent {
            tracer,
            context,
            tracestate,
            config_version,
            open: Mutex::new(None),
            response_model: OnceLock::new(),
        }))
    }

    /// The client's `tracestate`.
    pub fn tracestate(&self) -> Option<&HeaderValue> {
        self.0.tracestate.as_ref()
    }

    /// The model the served answer named, when one did.
    pub fn response_model(&self) -> Option<&str> {
        self.0.response_model.get().map(String::as_str)
    }

    /// Ends a parked stream attempt with the request's `record`.
    pub fn end_open(&self, record: &InferenceRecord) {
        let open = self.0.open.lock().ok().and_then(|mut o| o.take());
        if let Some(span) = open {
            let usage = Usage { prompt_tokens: record.input_tokens, completion_tokens: record.output_tokens };
            let error = (!record.error_class.is_none()).then(|| record.error_class.as_str());
            end(span, &Outcome { status: Some(200), error, usage, response_model: None });
        }
    }
}

impl std::fmt::Debug for SpanParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanParent").field("span", &self.0.context.span().span_context()).finish()
    }
}

// === impl AttemptSpan ===

impl AttemptSpan {
    /// Opens the span of attempt number `attempt` (0 = first try) of `call` on `member`,
    /// and names it in the call's `traceparent`. Empty when the call is not traced.
    pub fn start(
        call: &mut UpstreamCall,
        group: &str,
        member: &Member,
        reason: AssignmentReason,
        attempt: u32,
    ) -> Self {
        let Some(parent) = call.span_parent.clone() else { return Self(None) };
        let p = &parent.0;
        let op = attrs::operation_of(call.endpoint);
        let spec = &member.provider.spec;
        let azure = spec.kind == ProviderKind::Openai && spec.config.api_version.is_some();
        let mut attributes = Vec::with_capacity(11);
        attributes.extend(attrs::provider(attrs::provider_name(spec.kind.as_str(), azure)));
        attributes.extend([
            KeyValue::new(attrs::OPERATION, op),
            KeyValue::new(attrs::REQUEST_MODEL, member.model.clone()),
            KeyValue::new(attrs::GROUP, group.to_owned()),
            KeyValue::new(attrs::MEMBER, member.name.clone()),
            KeyValue::new(attrs::ROLE, member.role.as_str()),
            KeyValue::new(attrs::ASSIGNMENT, reason.as_str()),
            KeyValue::new(attrs::CONFIG_VERSION, i64::try_from(p.config_version).unwrap_or(i64::MAX)),
            KeyValue::new(attrs::ATTEMPT, i64::from(attempt)),
        ]);
        let span = p
            .tracer
            .span_builder(format!("{op} {}", member.model))
            .with_kind(SpanKind::Client)
            .with_attributes(attributes)
            .start_with_context(&p.tracer, &p.context);
        call.traceparent = Some(w3c::format(span.span_context()));
        Self(Some(Box::new(Live { span, parent })))
    }

    /// Opens the span of the explainer call `call` made for `member` of `group` after its
    /// request was answered (SPEC §9): a client span under the request's server span,
    /// named in the call's `traceparent`. Empty when the request was not sampled.
    pub fn start_explain(call: &mut UpstreamCall, group: &str, member: &str) -> Self {
        let Some(parent) = call.span_parent.clone() else { return Self(None) };
        let p = &parent.0;
        let attributes = vec![
            KeyValue::new(attrs::OPERATION, "explain"),
            KeyValue::new(attrs::REQUEST_MODEL, call.model.clone()),
            KeyValue::new(attrs::GROUP, group.to_owned()),
            KeyValue::new(attrs::MEMBER, member.to_owned()),
            KeyValue::new(attrs::CONFIG_VERSION, i64::try_from(p.config_version).unwrap_or(i64::MAX)),
        ];
        let span = p
            .tracer
            .span_builder(format!("explain {}", call.model))
            .with_kind(SpanKind::Client)
            .with_attributes(attributes)
            .start_with_context(&p.tracer, &p.context);
        call.traceparent = Some(w3c::format(span.span_context()));
        Self(Some(Box::new(Live { span, parent })))
    }

    /// Ends an explainer call's span: the explainer's HTTP status when it answered, the
    /// error when the call failed.
    pub fn end_explain(self, status: Option<u16>, error: Option<&'static str>) {
        if let Some(live) = self.0 {
            end(live.span, &Outcome { status, error, ..Outcome::default() });
        }
    }

    /// Ends the span with `result` — unless `result` is a stream now being served: then
    /// the span is returned still open.
    pub fn settle(self, result: &Result<Answer, GatewayError>) -> Self {
        let Some(live) = self.0 else { return Self(None) };
        let outcome = match result {
            Ok(Answer::Stream(_)) => return Self(Some(live)),
            Ok(Answer::Full(body, usage)) => {
                let model = attrs::response_model(body);
                if let Some(m) = &model {
                    let _ = live.parent.0.response_model.set(m.clone());
                }
                end(
                    live.span,
                    &Outcome { status: Some(200), usage: *usage, response_model: model.as_deref(), error: None },
                );
                return Self(None);
            }
            Err(e) => Outcome { status: upstream_status(e), error: Some(e.class().as_str()), ..Outcome::default() },
        };
        end(live.span, &outcome);
        Self(None)
    }

    /// Hands an open stream attempt to its request, which ends it with the last frame.
    pub fn park(self) {
        if let Some(live) = self.0 {
            if let Ok(mut open) = live.parent.0.open.lock() {
                *open = Some(live.span);
            }
        }
    }

    /// Ends an open stream attempt that the gateway read to the end itself (a shadow).
    pub fn end_stream(self, usage: Usage, err: Option<&GatewayError>) {
        if let Some(live) = self.0 {
            let error = err.map(|e| e.class().as_str());
            end(live.span, &Outcome { status: Some(200), error, usage, response_model: None });
        }
    }
}

/// The upstream's status behind an error, when it answered with one.
fn upstream_status(err: &GatewayError) -> Option<u16> {
    match err {
        GatewayError::UpstreamStatus { status, .. } | GatewayError::UpstreamRejected { status, .. } => Some(*status),
        _ => None,
    }
}

/// Sets the outcome's attributes and ends `span`.
fn end(mut span: Span, outcome: &Outcome<'_>) {
    if let Some(status) = outcome.status {
        span.set_attribute(KeyValue::new(attrs::STATUS_CODE, i64::from(status)));
    }
    if let Some(error) = outcome.error {
        span.set_attribute(KeyValue::new(attrs::ERROR_TYPE, error));
        span.set_status(Status::error(error));
    }
    span.set_attributes(attrs::usage(outcome.usage.prompt_tokens, outcome.usage.completion_tokens));
    if let Some(model) = outcome.response_model {
        span.set_attribute(KeyValue::new(attrs::RESPONSE_MODEL, model.to_owned()));
    }
    span.end();
}
