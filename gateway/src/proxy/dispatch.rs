//! Requests the gateway makes for itself: the [`DataPlane`] seam through which the control
//! plane sends a request through a group (SPEC §8, the catalog's LLM-assisted import)
//! without a network hop and without importing this crate — and reads the rate limiter's
//! busiest keys (`GET /api/v1/rate-limits`).
//!
//! A dispatched request runs through the same phases as a client's — resolved, assigned,
//! forwarded, recorded and counted — with its client preset to the caller's name and
//! tenant (so phase 2 asks for no key and every group is allowed). Its answer is
//! collected whole, streams included, within the data plane's own limits.
//!
//! A discovery ([`DataPlane::discover`]) is a GET to a provider through its adapter, with
//! the provider's URL and credentials from the current table; its answer is returned as
//! the provider sent it (at most 16 MiB), for the catalog's mappers to read.
//!
//! Invariant: the dispatcher holds the data plane weakly — background tasks of the control
//! plane may outlive shutdown, and must not keep the record queue open; after shutdown a
//! dispatch is refused as not ready.

use std::sync::{Arc, Weak};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use switchyard_config::Client;
use switchyard_config::Timeouts;
use switchyard_core::dataplane::{BoxFuture, DataPlane, Discover, Dispatch, DispatchError, Dispatched, KeyUsage};
use switchyard_core::Blame;

use super::{handle_in, RequestCtx, Shared};

/// The data plane as the control plane sees it.
pub struct Dispatcher {
    shared: Weak<Shared>,
}

// === impl Dispatcher ===

impl Dispatcher {
    /// A dispatcher into the running data plane.
    pub fn new(shared: &Arc<Shared>) -> Self {
        Self { shared: Arc::downgrade(shared) }
    }

    async fn run(&self, request: Dispatch) -> Result<Dispatched, DispatchError> {
        let not_ready = || DispatchError { blame: Blame::Internal, message: "the data plane has stopped".into() };
        let shared = self.shared.upgrade().filter(|s| s.is_ready()).ok_or_else(not_ready)?;
        let req = Request::builder()
            .method(Method::POST)
            .uri(request.path)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(request.body))
            .map_err(|e| DispatchError { blame: Blame::Internal, message: format!("bad dispatch request: {e}") })?;
        let mut ctx = RequestCtx::accept(&shared, req.headers());
        ctx.client = Some(Arc::new(Client::internal(&request.client, &request.tenant)));
        let resp = handle_in(&shared, &mut ctx, req).await;
        let (parts, body) = resp.into_parts();
        let body: Bytes = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(never) => match never {},
        };
        Ok(Dispatched { status: parts.status.as_u16(), headers: parts.headers, body })
    }
}

/// The most of a provider's discovery answer read (a long model list is a few hundred KiB).
const MAX_DISCOVERY_BYTES: usize = 16 << 20;

/// Timeouts of a discovery GET.
const DISCOVERY_TIMEOUTS: Timeouts = Timeouts {
    connect: std::time::Duration::from_secs(5),
    first_byte: std::time::Duration::from_secs(30),
    idle: std::time::Duration::from_secs(30),
    total: std::time::Duration::from_secs(60),
};

impl Dispatcher {
    /// A discovery GET to the provider through its adapter (its URL and credentials).
    async fn ask(&self, request: Discover) -> Result<Dispatched, DispatchError> {
        let fail = |blame, message: String| DispatchError { blame, message };
        let shared = self
            .shared
            .upgrade()
            .filter(|s| s.is_ready())
            .ok_or_else(|| fail(Blame::Internal, "the data plane has stopped".into()))?;
        let name = &request.provider;
        let call = {
            let table = shared.store.current();
            let provider =
                table.provider(name).ok_or_else(|| fail(Blame::Client, format!("provider `{name}` does not exist")))?;
            let page = request.page.as_ref().map(|(p, v)| (p.as_str(), v.as_str()));
            provider.runtime.discover(request.model.as_deref(), page, DISCOVERY_TIMEOUTS).ok_or_else(|| {
                let kind = provider.spec.kind.as_str();
                fail(Blame::Client, format!("provider `{name}` (kind {kind}) has no endpoint that lists its models"))
            })?
        };
        let resp = call.await.map_err(|e| fail(Blame::Upstream, format!("provider `{name}`: {e}")))?;
        let body = http_body_util::Limited::new(resp.body, MAX_DISCOVERY_BYTES)
            .collect()
            .await
            .map_err(|e| fail(Blame::Upstream, format!("provider `{name}`: the answer could not be read: {e}")))?
            .to_bytes();
        let mut headers = http::HeaderMap::new();
        if let Some(ct) = resp.content_type {
            headers.insert(http::header::CONTENT_TYPE, ct);
        }
        Ok(Dispatched { status: resp.status.as_u16(), headers, body })
    }
}

impl DataPlane for Dispatcher {
    fn dispatch(&self, request: Dispatch) -> BoxFuture<'_, Result<Dispatched, DispatchError>> {
        Box::pin(self.run(request))
    }

    fn discover(&self, request: Discover) -> BoxFuture<'_, Result<Dispatched, DispatchError>> {
        Box::pin(self.ask(request))
    }

    fn busiest_keys(&self, top: usize) -> Vec<KeyUsage> {
        self.shared.upgrade().map(|shared| shared.limits.limiter().busiest_keys(top)).unwrap_or_default()
    }
}
