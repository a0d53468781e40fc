//! `oip` adapter: Open Inference Protocol v2 (KServe, Seldon MLServer, Triton).
//!
//! Serves `POST /v2/models/{group}/infer` requests by forwarding the body unchanged to
//! `{base_url}/v2/models/{model}/infer`, where `model` is the member's upstream model
//! name; the answer comes back untouched. Responses may carry explanations, which the
//! proxy normalises into the record's attributions ([`super::explain`]).

use switchyard_config::ProviderSpec;

use super::base::{exchange, Auth, HttpBase};
use super::{Adapter, CallFuture, Endpoint, UpstreamCall};
use crate::upstream::UpstreamClient;

/// Adapter for one `kind: oip` provider.
pub struct OipAdapter {
    base: HttpBase,
}

// === impl OipAdapter ===

impl OipAdapter {
    /// Builds the adapter; fails on an invalid URL or header.
    pub fn new(client: UpstreamClient, spec: &ProviderSpec) -> Result<Self, String> {
        Ok(Self { base: HttpBase::new(client, spec, Auth::Bearer)? })
    }
}

impl Adapter for OipAdapter {
    fn supports(&self, endpoint: Endpoint) -> bool {
        endpoint == Endpoint::OipInfer
    }

    fn explains(&self) -> bool {
        true
    }

    fn call(&self, call: UpstreamCall) -> CallFuture {
        let root = self.base.base_url.strip_suffix("/v2").unwrap_or(&self.base.base_url);
        let model: String = call
            .model
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let uri = format!("{root}/v2/models/{model}/infer");
        let req = self.base.post(&uri, &call, call.body.clone(), false);
        let client = self.base.client.clone();
        let timeouts = call.timeouts;
        Box::pin(async move { exchange(&client, req?, &timeouts).await })
    }
}
