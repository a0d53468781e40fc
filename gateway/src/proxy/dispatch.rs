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
//! Invariant: the dispatcher holds the data plane weakly — background tasks of the control
//! plane may outlive shutdown, and must not keep the record queue open; after shutdown a
//! dispatch is refused as not ready.

use std::sync::{Arc, Weak};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use switchyard_config::Client;
use switchyard_core::dataplane::{BoxFuture, DataPlane, Dispatch, DispatchError, Dispatched, KeyUsage};
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

impl DataPlane for Dispatcher {
    fn dispatch(&self, request: Dispatch) -> BoxFuture<'_, Result<Dispatched, DispatchError>> {
        Box::pin(self.run(request))
    }

    fn busiest_keys(&self, top: usize) -> Vec<KeyUsage> {
        self.shared.upgrade().map(|shared| shared.limits.limiter().busiest_keys(top)).unwrap_or_default()
    }
}
