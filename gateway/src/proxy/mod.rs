//! The data plane's request path, phase by phase (ARCHITECTURE "A request's way").
//!
//! 1. **accept** — [`crate::server`] (TLS, h1/h2, header timeout); here: request id,
//!    trace context, body limits ([`body::read_request`]).
//! 2. **authenticate** — client key → tenant and allowed groups ([`authenticate`]).
//! 3. **resolve** — `model` → group in one routing-table snapshot ([`scan`]).
//! 4. **assign** — pinned, sticky or random member ([`assign`]).
//! 5. **translate & forward** — the member's provider adapter ([`crate::providers`]),
//!    cross-format translation ([`egress`]), retries and breakers ([`attempt`],
//!    [`resilience`]), champion fallback ([`forward`]), shadow copies ([`shadow`]).
//! 6. **stream back** — frames pass through ([`stream`]); non-streamed bodies are
//!    collected within limits and checked.
//! 7. **record** — one record and metric update per request ([`recorder`]).
//!
//! Ingress formats: OpenAI (`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`),
//! Anthropic (`/v1/messages`) and OIP v2 (`/v2/...`, [`oip`]); errors are answered in the
//! format of the route.
//!
//! The table is loaded once per request (`ConfigStore::current`) and that `Arc` is kept
//! to the end, so a config swap never changes a request in flight.

pub mod assign;
pub mod attempt;
pub mod body;
pub mod egress;
mod feedback;
mod forward;
mod oip;
pub mod recorder;
pub mod resilience;
pub mod scan;
mod shadow;
pub mod stream;
pub mod usage;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use switchyard_config::{AuthFailure, Client, ConfigStore};
use switchyard_records::RecordQueue;

use crate::error::GatewayError;
use crate::metrics::{code_class, Metrics, NONE};
use crate::providers::{Endpoint, SharedAdapter, WireFormat};
pub use body::GatewayBody;
use forward::Ingress;

/// The routing table type the data plane runs on.
pub type Table = switchyard_config::RoutingTable<SharedAdapter>;
/// The config store the data plane reads.
pub type Store = ConfigStore<SharedAdapter>;

/// State shared by every request.
pub struct Shared {
    /// The hot-swapped routing table.
    pub store: Arc<Store>,
    /// Data-plane metrics.
    pub metrics: Metrics,
    /// Where records go.
    pub records: RecordQueue,
    /// False while starting and once draining.
    pub ready: AtomicBool,
}

/// Handles one request end to end. Never fails: errors become OpenAI-shaped responses.
pub async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<GatewayBody> {
    let accepted = Instant::now();
    let request_id = new_request_id();
    let client_id = client_request_id(req.headers());
    let path = req.uri().path();
    let format = if path.starts_with("/v2") {
        WireFormat::Oip
    } else if path == "/v1/messages" {
        WireFormat::Anthropic
    } else {
        WireFormat::OpenAi
    };
    let ingress = match (req.method(), path) {
        (&Method::POST, "/v1/chat/completions") => {
            Ok(Ingress { endpoint: Endpoint::ChatCompletions, path_group: None })
        }
        (&Method::POST, "/v1/completions") => Ok(Ingress { endpoint: Endpoint::Completions, path_group: None }),
        (&Method::POST, "/v1/embeddings") => Ok(Ingress { endpoint: Endpoint::Embeddings, path_group: None }),
        (&Method::POST, "/v1/messages") => Ok(Ingress { endpoint: Endpoint::Messages, path_group: None }),
        (&Method::GET, "/v1/models") => {
            return with_id(models(&shared, req.headers()), &request_id, client_id.as_ref());
        }
        (&Method::POST, "/v1/feedback") => {
            let (parts, body) = req.into_parts();
            let resp = feedback::feedback(&shared, &parts.headers, body).await.unwrap_or_else(|e| error_response(&e));
            return with_id(resp, &request_id, client_id.as_ref());
        }
        (_, "/v1/chat/completions" | "/v1/completions" | "/v1/embeddings" | "/v1/feedback" | "/v1/messages") => {
            Err(GatewayError::MethodNotAllowed("POST"))
        }
        (_, "/v1/models") => Err(GatewayError::MethodNotAllowed("GET")),
        (method, path) if path.starts_with("/v2") => match oip::route(&shared, method, path, req.headers()) {
            oip::Routed::Infer(group) => Ok(Ingress { endpoint: Endpoint::OipInfer, path_group: Some(group) }),
            oip::Routed::Answer(resp) => return with_id(resp, &request_id, client_id.as_ref()),
            oip::Routed::Fail(e) => Err(e),
        },
        (_, path) => Err(GatewayError::NotFound(sanitize(path))),
    };
    let response = match ingress {
        Ok(ingress) => forward::infer(&shared, req, ingress, accepted, &request_id, client_id.as_ref()).await,
        Err(e) => Err(e),
    };
    let response = response.unwrap_or_else(|e| {
        shared.metrics.requests.with_label_values(&[NONE, NONE, NONE, code_class(e.status().as_u16())]).inc();
        error_response_for(&e, format)
    });
    with_id(response, &request_id, client_id.as_ref())
}

/// Phase 2, **authenticate**: the client for the presented key, if keys are configured.
pub fn authenticate<'t>(table: &'t Table, headers: &HeaderMap) -> Result<Option<&'t Client>, GatewayError> {
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim);
    table.authenticate(presented).map_err(|f| match f {
        AuthFailure::Missing => GatewayError::MissingKey,
        AuthFailure::Invalid => GatewayError::InvalidKey,
    })
}

/// `GET /v1/models`: the groups this client may use, as an OpenAI model list.
fn models(shared: &Shared, headers: &HeaderMap) -> Response<GatewayBody> {
    let table = shared.store.current();
    let client = match authenticate(&table, headers) {
        Ok(c) => c,
        Err(e) => return error_response(&e),
    };
    let mut names: Vec<&str> =
        table.groups().map(|g| g.name.as_str()).filter(|g| client.is_none_or(|c| c.may_use(g))).collect();
    names.sort_unstable();
    let data: Vec<_> = names
        .iter()
        .map(|n| serde_json::json!({"id": n, "object": "model", "created": 0, "owned_by": "switchyard"}))
        .collect();
    let body = serde_json::json!({"object": "list", "data": data}).to_string();
    json_response(StatusCode::OK, Bytes::from(body))
}

/// The one mapping from [`GatewayError`] to a response (OpenAI format).
pub fn error_response(e: &GatewayError) -> Response<GatewayBody> {
    error_response_for(e, WireFormat::OpenAi)
}

/// The one mapping from [`GatewayError`] to a response, in the client's wire format.
pub fn error_response_for(e: &GatewayError, format: WireFormat) -> Response<GatewayBody> {
    let mut resp = json_response(e.status(), e.body_for(format));
    if let Some((name, value)) = e.extra_headers() {
        resp.headers_mut().insert(name, value);
    }
    resp
}

fn json_response(status: StatusCode, body: Bytes) -> Response<GatewayBody> {
    let mut resp = Response::new(GatewayBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// `x-switchyard-request-id` (the gateway's id) and `x-request-id` (the client's, echoed,
/// or the gateway's when the client sent none).
fn with_id(mut resp: Response<GatewayBody>, id: &str, client_id: Option<&HeaderValue>) -> Response<GatewayBody> {
    if let Ok(v) = HeaderValue::from_str(id) {
        resp.headers_mut().insert("x-request-id", client_id.cloned().unwrap_or_else(|| v.clone()));
        resp.headers_mut().insert("x-switchyard-request-id", v);
    }
    resp
}

/// Longest client `x-request-id` honoured.
const MAX_CLIENT_ID_LEN: usize = 128;

/// The client's `x-request-id` when usable — 1 to 128 printable ASCII characters — else
/// `None` (ignored, not an error: the gateway's own id stands in).
fn client_request_id(headers: &HeaderMap) -> Option<HeaderValue> {
    let v = headers.get("x-request-id")?;
    let ok = (1..=MAX_CLIENT_ID_LEN).contains(&v.len()) && v.as_bytes().iter().all(u8::is_ascii_graphic);
    ok.then(|| v.clone())
}

/// Declared `content-length`, if any.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// A unique, time-ordered request id: 12 hex digits of Unix ms + 20 random hex digits.
pub fn new_request_id() -> String {
    let ms = unix_ms();
    let rnd: u128 = rand::random::<u128>() & ((1u128 << 80) - 1);
    format!("{:012x}{:020x}", ms & 0xffff_ffff_ffff, rnd)
}

/// Now, in Unix milliseconds.
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A client-supplied string safe to echo: printable ASCII, at most 64 characters.
fn sanitize(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_graphic()).take(64).collect()
}

impl Shared {
    /// Whether the data plane should take traffic.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}
