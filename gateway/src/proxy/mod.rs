//! The data plane's request path: one request, seven named phases (ARCHITECTURE "A
//! request's way"), each a function over one per-request context ([`RequestCtx`]):
//!
//! 1. **accept** — [`crate::listen`] (TLS, h1/h2, header timeout), then
//!    [`RequestCtx::accept`] (request id, the client's `x-request-id`, one table snapshot),
//!    [`route::route`] (method and path) and [`body::read_request`] (body limits).
//! 2. **authenticate** — [`authenticate::authenticate`]: client key → client and tenant.
//! 3. **resolve** — [`resolve::resolve`]: `model` (or the OIP path) → group.
//! 4. **assign** — [`assign::assign`]: pinned, sticky or random member; an open breaker
//!    sends a challenger's share to the champion. Then [`limit::limit`] charges the
//!    request's rate limits and its first attempt's in one atomic call (429 when over).
//! 5. **translate & forward** — [`forward::forward`]: the member's adapter
//!    ([`crate::providers`]), cross-format translation, retries and breakers
//!    ([`forward::attempt`]), champion fallback; shadow copies ([`shadow`]).
//! 6. **stream back** — [`respond::respond`]: frames pass through ([`stream`]); complete
//!    bodies are checked and sent in one go.
//! 7. **record** — [`record::record`]: one record and one metric update per request.
//!
//! Every response, early or not, leaves through [`exit`], which stamps the request-id
//! headers and counts `switchyard_requests_total` for responses no recorder counted.
//! While the gateway is not ready (starting, draining) every route but OIP's health
//! probes answers 503 `not_ready` with `Retry-After` (see [`crate::listen`] for which
//! requests still reach the handler while draining).
//! Where the next features plug in: the explainer call after
//! [`record::Recorder::finish`]. Rate limits: client, tenant and group rules in [`limit`]
//! after [`resolve::resolve`], provider and member rules per attempt in
//! [`forward::attempt::serve`]. Tracing (SPEC §13, [`crate::trace`]): the request's trace
//! is made at accept (`RequestCtx::trace`), phases are events on its server span, the
//! upstream call carries its context ([`upstream_call`]), each attempt opens a client span
//! ([`forward::attempt::serve`], [`shadow`]), and the recorder — or [`exit`] — ends it.
//! Requests the gateway makes for itself enter through [`dispatch`].

pub mod assign;
pub mod authenticate;
pub mod body;
mod context;
pub mod dispatch;
pub mod feedback;
pub mod forward;
pub mod limit;
mod models;
pub(crate) mod oip;
pub mod record;
pub mod resolve;
pub mod respond;
pub mod route;
pub mod scrub;
mod shadow;
pub mod stream;
pub mod usage;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use switchyard_config::ConfigStore;
use switchyard_records::RecordQueue;
use tracing::Instrument;

pub use body::GatewayBody;
pub use context::RequestCtx;

use crate::error::GatewayError;
use crate::metrics::Metrics;
use crate::providers::{SharedAdapter, UpstreamCall};
use crate::resilience::Resilience;
use forward::Budget;
use resolve::Resolved;
use route::{Ingress, Route};

/// The routing table type the data plane runs on.
pub type Table = switchyard_config::RoutingTable<SharedAdapter>;
/// The config store the data plane reads.
pub type Store = ConfigStore<SharedAdapter>;
/// A compiled group of the data plane's table.
pub type Group = switchyard_config::Group<SharedAdapter>;
/// A compiled member of the data plane's table.
pub type Member = switchyard_config::Member<SharedAdapter>;

/// State shared by every request.
pub struct Shared {
    /// The hot-swapped routing table.
    pub store: Arc<Store>,
    /// Data-plane metrics.
    pub metrics: Metrics,
    /// Breakers, retry budgets and mirror slots (they outlive table swaps).
    pub resilience: Resilience,
    /// Rate limits (their usage outlives table swaps).
    pub limits: Arc<limit::Limits>,
    /// Where records go.
    pub records: RecordQueue,
    /// Explainer slots and metrics (SPEC §9).
    pub explainers: crate::explain::Explainers,
    /// False while starting and once draining.
    pub ready: AtomicBool,
    /// Span export and the access log (SPEC §13).
    pub tracing: crate::trace::Tracing,
    /// Binds request ids to their tenant (checked by `POST /v1/feedback`).
    pub request_ids: switchyard_config::request_id::RequestIdSigner,
    /// Repeats of feedback per (request, metric) on this replica.
    pub feedback_repeats: feedback::Repeats,
}

/// A request body the data plane can read (hyper's `Incoming`, or a buffer for requests
/// the gateway makes for itself).
pub trait RequestBody: Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>> + Send {}

impl<B> RequestBody for B where B: Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>> + Send {}

/// Handles one request end to end. Never fails: errors become responses in the client's
/// wire format.
pub async fn handle<B: RequestBody>(shared: Arc<Shared>, req: Request<B>) -> Response<GatewayBody> {
    let mut ctx = RequestCtx::accept(&shared, req.headers());
    let span = ctx.trace.log_span(&ctx.id);
    handle_in(&shared, &mut ctx, req).instrument(span).await
}

/// [`handle`] with a context made by the caller ([`dispatch`] presets the client).
async fn handle_in<B: RequestBody>(
    shared: &Arc<Shared>,
    ctx: &mut RequestCtx,
    req: Request<B>,
) -> Response<GatewayBody> {
    let (format, route) = route::route(req.method(), req.uri().path());
    ctx.format = format;
    // Starting or draining: 503 with `Retry-After`, so the client retries elsewhere or
    // later; the health routes still answer (OIP ready says not ready).
    let route = if shared.is_ready() || route.is_health() { route } else { Route::Refused(GatewayError::NotReady) };
    ctx.trace.set_route(req.method(), &route);
    let result = match route {
        Route::Infer(ingress) => infer(shared, ctx, req, ingress).await,
        Route::Models => models::list(ctx, req.headers()),
        Route::Feedback => feedback::feedback(shared, ctx, req).await,
        Route::Oip(oip) => oip::answer(shared, ctx, oip, req.headers()),
        Route::Refused(e) => Err(e),
    };
    exit(shared, ctx, result)
}

/// Phases 2–7 of an inference request.
async fn infer<B: RequestBody>(
    shared: &Arc<Shared>,
    ctx: &mut RequestCtx,
    req: Request<B>,
    ingress: Ingress,
) -> Result<Response<GatewayBody>, GatewayError> {
    let (parts, body) = req.into_parts();
    authenticate::authenticate(ctx, &parts.headers)?;
    ctx.sign_id(&shared.request_ids);
    ctx.trace.event("authenticated");
    let body = body::read_request(ctx, &parts.headers, body, ctx.table.limits.max_body_bytes, &shared.metrics).await?;
    ctx.trace.event("body_read");
    let request = resolve::resolve(ctx, &ingress, body)?;
    ctx.trace.event("resolved");
    // `when_full: reject` and a full spool: refuse before any upstream work is done, so
    // the client can retry elsewhere or later.
    if !shared.records.accepting() {
        return Err(GatewayError::SpoolFull);
    }
    let mut decision = assign::assign(shared, &request, &parts.headers)?;
    ctx.trace.event("assigned");
    let mut call = upstream_call(ctx, &request);
    let ticket = limit::limit(shared, ctx, &request, &mut decision, &mut call).await;
    let mut recorder = record::record(shared, ctx, &request, &decision);
    let mut ticket = match ticket {
        Ok(ticket) => ticket,
        Err(e) => return Err(limit::refused(recorder, e)),
    };
    let budget = Budget::for_group(&request.group, &ctx.table.limits);
    shadow::mirror(shared, &request.group, &call, recorder.record(), budget);
    let served = forward::forward(shared, &request.group, &decision, &call, budget, &mut recorder, &mut ticket).await;
    let quotas = std::mem::take(&mut ticket.quotas);
    recorder.hold(ticket.into_held());
    let mut resp = respond::respond(ctx, &request.group, served, recorder, budget);
    limit::stamp(resp.headers_mut(), &quotas);
    Ok(resp)
}

/// The call phase 5 sends (the member's model is filled in per attempt).
fn upstream_call(ctx: &RequestCtx, request: &Resolved) -> UpstreamCall {
    let mut call = UpstreamCall {
        endpoint: request.endpoint,
        body: request.body.clone(),
        model_span: request.model_span.clone(),
        model: String::new(),
        stream: request.stream,
        // The client's own `x-request-id` is propagated when it sent one (SPEC §3).
        request_id: ctx
            .client_request_id
            .clone()
            .unwrap_or_else(|| http::HeaderValue::from_str(&ctx.id).unwrap_or(http::HeaderValue::from_static("-"))),
        traceparent: None,
        tracestate: None,
        span_parent: None,
        timeouts: request.group.timeouts,
    };
    // W3C trace context (SPEC §13): the client's, or the parent of each attempt's span.
    ctx.trace.fill(&mut call);
    call
}

/// The one exit: renders an error in the client's format, counts (and traces and logs)
/// responses no recorder counted (early errors and non-inference routes) and stamps the
/// request-id headers.
fn exit(
    shared: &Shared,
    ctx: &mut RequestCtx,
    result: Result<Response<GatewayBody>, GatewayError>,
) -> Response<GatewayBody> {
    let class = result.as_ref().err().map(GatewayError::class).unwrap_or_default();
    let mut resp = result.unwrap_or_else(|e| e.to_response(ctx.format));
    if !ctx.recorded {
        shared.metrics.count_unrecorded(ctx.group_label(), resp.status().as_u16());
        ctx.finish_unrecorded(&shared.tracing, resp.status().as_u16(), class);
    }
    ctx.stamp(&mut resp);
    resp
}

impl Shared {
    /// Whether the data plane should take traffic.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}
