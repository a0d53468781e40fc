//! [`RequestCtx`]: one request's state as it moves through the phases (pingora's
//! per-request context). Each phase reads what the earlier ones filled in and adds its
//! own result; the one exit ([`super::exit`]) reads it to count and stamp the response.
//!
//! Invariant: `table` is loaded once, at accept, and kept to the end — a config swap
//! never changes a request in flight, and no phase loads the table again.

use std::sync::Arc;
use std::time::Instant;

use http::{HeaderMap, HeaderValue, Response};
use switchyard_config::Client;

use super::{GatewayBody, Group, Shared, Table};
use crate::headers::{X_REQUEST_ID, X_SWITCHYARD_REQUEST_ID};
use crate::metrics::NONE;
use crate::providers::WireFormat;
use crate::trace::access::Early;
use crate::trace::{RequestTrace, Tracing};
use switchyard_records::ErrorClass;

/// Longest client `x-request-id` honoured.
const MAX_CLIENT_ID_LEN: usize = 128;

/// One request on its way through the phases.
pub struct RequestCtx {
    /// When phase 1 accepted the request.
    pub accepted: Instant,
    /// The gateway's request id (`x-switchyard-request-id`, the record's key).
    pub id: String,
    /// The client's own `x-request-id`, when usable.
    pub client_request_id: Option<HeaderValue>,
    /// The wire format the client speaks (and errors are answered in).
    pub format: WireFormat,
    /// The routing-table snapshot the whole request runs on.
    pub table: Arc<Table>,
    /// Phase 2: the authenticated client (`None` when the data plane needs no key).
    pub client: Option<Arc<Client>>,
    /// Phase 3: the group the request resolved to.
    pub group: Option<Arc<Group>>,
    /// Phase 7 started: a recorder owns this request's record and metrics.
    pub recorded: bool,
    /// The request's W3C trace and server span (handed to the recorder in phase 7).
    pub trace: RequestTrace,
}

// === impl RequestCtx ===

impl RequestCtx {
    /// Phase 1, **accept**: a request id, the client's `x-request-id`, and one snapshot of
    /// the routing table.
    pub fn accept(shared: &Shared, headers: &HeaderMap) -> Self {
        let table = shared.store.current();
        Self {
            accepted: Instant::now(),
            id: switchyard_core::new_id(),
            client_request_id: client_request_id(headers),
            format: WireFormat::OpenAi,
            trace: RequestTrace::accept(&shared.tracing, headers, table.version),
            table,
            client: None,
            group: None,
            recorded: false,
        }
    }

    /// Ends the trace of a request answered without a recorder (span and access log).
    pub fn finish_unrecorded(&mut self, tracing: &Tracing, status: u16, class: ErrorClass) {
        let group = self.group.as_ref().map(|g| g.name.as_str());
        tracing.access.early(&Early {
            request_id: &self.id,
            trace_id: self.trace.field(),
            group: group.unwrap_or_default(),
            status,
            error_class: class,
            total_ms: self.accepted.elapsed().as_secs_f64() * 1e3,
        });
        std::mem::take(&mut self.trace).finish_early(group, status, class);
    }

    /// The group's name for metric labels (`_none` before phase 3).
    pub fn group_label(&self) -> &str {
        self.group.as_ref().map_or(NONE, |g| g.name.as_str())
    }

    /// Phase 2's end: the id becomes the signed id bound to the client's tenant (see
    /// [`switchyard_config::request_id`]), and the log span says so. Early answers (before
    /// authentication) keep the unsigned id; no feedback can name them.
    pub fn sign_id(&mut self, signer: &switchyard_config::request_id::RequestIdSigner) {
        if self.id.len() != switchyard_core::id::ID_LEN {
            return; // already signed
        }
        let tenant = self.client.as_ref().map_or("", |c| c.tenant.as_str());
        self.id = signer.sign(&self.id, tenant);
        tracing::Span::current().record("request_id", self.id.as_str());
    }

    /// Tenant and client name for the record (empty without a key).
    pub fn tenant_and_client(&self) -> (String, String) {
        self.client.as_ref().map(|c| (c.tenant.clone(), c.name.clone())).unwrap_or_default()
    }

    /// `x-switchyard-request-id` (the gateway's id) and `x-request-id` (the client's,
    /// echoed, or the gateway's when the client sent none).
    pub fn stamp(&self, resp: &mut Response<GatewayBody>) {
        if let Ok(v) = HeaderValue::from_str(&self.id) {
            let echoed = self.client_request_id.clone().unwrap_or_else(|| v.clone());
            resp.headers_mut().insert(X_REQUEST_ID, echoed);
            resp.headers_mut().insert(X_SWITCHYARD_REQUEST_ID, v);
        }
    }
}

/// The client's `x-request-id` when usable — 1 to 128 printable ASCII characters — else
/// `None` (ignored, not an error: the gateway's own id stands in).
fn client_request_id(headers: &HeaderMap) -> Option<HeaderValue> {
    let v = headers.get(X_REQUEST_ID)?;
    let ok = (1..=MAX_CLIENT_ID_LEN).contains(&v.len()) && v.as_bytes().iter().all(u8::is_ascii_graphic);
    ok.then(|| v.clone())
}
