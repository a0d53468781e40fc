//! The data plane's request path: one request, seven named phases (ARCHITECTURE "A
//! request's way"), each a function over one per-request context ([`RequestCtx`]):
//!
//! 1. **accept** — [`crate::listen`] (TLS, h1/h2, header timeout), then
//!    [`RequestCtx::accept`] (request id, the client's `x-request-id`, one table snapshot),
//!    [`route::route`] (method and path) and [`body::read_request`] (body limits).
//! 2. **authenticate** — [`authenticate::authenticate`]: client key → client and tenant.
//! 3. **resolve** — [`resolve::resolve`]: `model` (or the OIP path) → group.
//! 4. **assign** — [`assign::assign`]: pinned, sticky or random member; an open breaker
//!    sends a challenger's share to the champion.
//! 5. **translate & forward** — [`forward::forward`]: the member's adapter
//!    ([`crate::providers`]), cross-format translation, retries and breakers
//!    ([`forward::attempt`]), champion fallback; shadow copies ([`shadow`]).
//! 6. **stream back** — [`respond::respond`]: frames pass through ([`stream`]); complete
//!    bodies are checked and sent in one go.
//! 7. **record** — [`record::record`]: one record and one metric update per request.
//!
//! Every response, early or not, leaves through [`exit`], which stamps the request-id
//! headers and counts `switchyard_requests_total` for responses no recorder counted.
//! Where the next features plug in: rate limits for client, tenant and group rules after
//! [`authenticate::authenticate`] and [`resolve::resolve`] in [`infer`], provider and
//! member rules per attempt in [`forward::attempt::once`]; the explainer call after
//! [`record::Recorder::finish`]; tracing spans around [`handle`] and each attempt.
//! Requests the gateway makes for itself enter through [`dispatch`].

pub mod assign;
pub mod authenticate;
pub mod body;
mod context;
pub mod dispatch;
mod feedback;
pub mod forward;
mod models;
mod oip;
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
use http::{HeaderMap, Request, Response};
use http_body::Body;
use switchyard_config::ConfigStore;
use switchyard_records::RecordQueue;

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
    /// Where records go.
    pub records: RecordQueue,
    /// False while starting and once draining.
    pub ready: AtomicBool,
}

/// A request body the data plane can read (hyper's `Incoming`, or a buffer for requests
/// the gateway makes for itself).
pub trait RequestBody: Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>> + Send {}

impl<B> RequestBody for B where B: Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>> + Send {}

/// Handles one request end to end. Never fails: errors become responses in the client's
/// wire format.
pub async fn handle<B: RequestBody>(shared: Arc<Shared>, req: Request<B>) -> Response<GatewayBody> {
    let mut ctx = RequestCtx::accept(&shared, req.headers());
    handle_in(&shared, &mut ctx, req).await
}

/// [`handle`] with a context made by the caller ([`dispatch`] presets the client).
async fn handle_in<B: RequestBody>(
    shared: &Arc<Shared>,
    ctx: &mut RequestCtx,
    req: Request<B>,
) -> Response<GatewayBody> {
    let (format, route) = route::route(req.method(), req.uri().path());
    ctx.format = format;
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
    let body = body::read_request(ctx, &parts.headers, body, ctx.table.limits.max_body_bytes, &shared.metrics).await?;
    let request = resolve::resolve(ctx, &ingress, body)?;
    // `when_full: reject` and a full spool: refuse before any upstream work is done, so
    // the client can retry elsewhere or later.
    if !shared.records.accepting() {
        return Err(GatewayError::SpoolFull);
    }
    let decision = assign::assign(shared, &request, &parts.headers)?;
    let call = upstream_call(ctx, &request, &parts.headers);
    let mut recorder = record::record(shared, ctx, &request, &decision);
    let max_bytes = ctx.table.limits.max_response_bytes;
    shadow::mirror(shared, &request.group, &call, recorder.record(), max_bytes);
    let budget = Budget::for_group(&request.group, max_bytes);
    let served = forward::forward(shared, &request.group, &decision, &call, budget, &mut recorder).await;
    Ok(respond::respond(ctx, &request.group, served, recorder, budget))
}

/// The call phase 5 sends (the member's model is filled in per attempt).
fn upstream_call(ctx: &RequestCtx, request: &Resolved, headers: &HeaderMap) -> UpstreamCall {
    UpstreamCall {
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
        traceparent: headers.get("traceparent").cloned(),
        timeouts: request.group.timeouts,
    }
}

/// The one exit: renders an error in the client's format, counts responses no recorder
/// counted (early errors and non-inference routes) and stamps the request-id headers.
fn exit(
    shared: &Shared,
    ctx: &RequestCtx,
    result: Result<Response<GatewayBody>, GatewayError>,
) -> Response<GatewayBody> {
    let mut resp = result.unwrap_or_else(|e| e.to_response(ctx.format));
    if !ctx.recorded {
        shared.metrics.count_unrecorded(ctx.group_label(), resp.status().as_u16());
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
