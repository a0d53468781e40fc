//! The seam through which the control plane uses the data plane without importing it.
//!
//! The gateway implements [`DataPlane`]; the binary hands that implementation to the
//! control API as an `Arc<dyn DataPlane>`. Through it the control API can
//! - send a request through one of the gateway's own groups ([`DataPlane::dispatch`]) —
//!   routed, assigned, forwarded, recorded and metered like any client's request, under
//!   the caller-given tenant and client (the catalog's LLM-assisted import uses tenant
//!   `system`) — with no network hop;
//! - ask a provider what it serves with the provider's own URL and credentials
//!   ([`DataPlane::discover`], the catalog's discovery);
//! - read live data-plane state that lives only in memory ([`DataPlane::busiest_keys`]).
//!
//! Invariant: nothing here is on a client's request path; a dispatch is one more request
//! to the data plane and obeys its limits.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http::HeaderMap;

use crate::Blame;

/// A request the control plane sends through a group.
#[derive(Debug, Clone)]
pub struct Dispatch {
    /// The data-plane route, e.g. `/v1/chat/completions` (its wire format applies).
    pub path: &'static str,
    /// The request body; its `model` names the group.
    pub body: Bytes,
    /// Tenant the request is recorded under.
    pub tenant: String,
    /// Client name the request is recorded under.
    pub client: String,
}

/// A question the control plane asks a provider about what it serves (SPEC §8 discover):
/// its model list (OpenAI-compatible and Anthropic `/v1/models`, Gemini `models`), TGI's
/// `/info`, or one OIP model's metadata (`/v2/models/{model}`) — a GET with the
/// provider's own URL and credentials, which only the data plane holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discover {
    /// The provider (a `providers:` key).
    pub provider: String,
    /// The model to describe (OIP: required; the others list every model).
    pub model: Option<String>,
    /// The next page's query parameter and value (`after_id`, `pageToken`).
    pub page: Option<(String, String)>,
}

/// What the data plane answered.
#[derive(Debug, Clone)]
pub struct Dispatched {
    /// HTTP status the client would have seen.
    pub status: u16,
    /// Response headers (`x-switchyard-request-id`, `x-switchyard-member`, …).
    pub headers: HeaderMap,
    /// The whole response body (streams are collected).
    pub body: Bytes,
}

/// Why a dispatch produced no answer at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchError {
    /// Who is at fault.
    pub blame: Blame,
    /// What happened, safe to show an operator.
    pub message: String,
}

/// One key's live usage of a rate-limit rule.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KeyUsage {
    /// The rule's name.
    pub rule: String,
    /// The bucket's key (a client, tenant, group, provider or member name; empty for a
    /// shared bucket).
    pub key: String,
    /// Units (requests or tokens) used in the current window.
    pub used: u64,
    /// The rule's limit per window.
    pub limit: u64,
}

/// A boxed future, as trait objects need them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the data plane offers the control plane.
pub trait DataPlane: Send + Sync + 'static {
    /// Sends `request` through the data plane and collects the answer.
    fn dispatch(&self, request: Dispatch) -> BoxFuture<'_, Result<Dispatched, DispatchError>>;

    /// Asks a provider what it serves (see [`Discover`]); the answer's status and body as
    /// the provider sent them. An error when the provider does not exist, its kind has no
    /// discovery endpoint, or it could not be reached.
    fn discover(&self, request: Discover) -> BoxFuture<'_, Result<Dispatched, DispatchError>> {
        let _ = request;
        Box::pin(async {
            Err(DispatchError { blame: Blame::Internal, message: "this data plane cannot ask providers".into() })
        })
    }

    /// The `top` busiest rate-limit keys, busiest first (empty without rate limits).
    fn busiest_keys(&self, top: usize) -> Vec<KeyUsage> {
        let _ = top;
        Vec::new()
    }
}

impl std::fmt::Display for DispatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DispatchError {}
