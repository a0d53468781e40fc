//! `http` adapter: a custom backend. The request body is forwarded as is (not even
//! `model` is rewritten) to the provider's `base_url`, in which `{model}` is replaced by
//! the member's upstream model name; configured headers are added and the answer comes
//! back untouched, in whatever format the client used. Explanations in the answer are
//! normalised into the record's attributions ([`crate::explain`]). As an explainer
//! (protocols `kserve_v1` and `http`) it gets the explainer's body at the same URL.

use switchyard_config::ProviderSpec;

use super::base::{Auth, HttpBase};
use super::{Adapter, CallFuture, Endpoint, UpstreamCall};
use crate::upstream::UpstreamClient;
use switchyard_config::schema::ExplainProtocol;

/// Adapter for one `kind: http` provider.
pub struct HttpAdapter {
    base: HttpBase,
}

// === impl HttpAdapter ===

impl HttpAdapter {
    /// Builds the adapter; fails on an invalid URL or header.
    pub fn new(client: UpstreamClient, spec: &ProviderSpec) -> Result<Self, String> {
        Ok(Self { base: HttpBase::new(client, spec, Auth::Bearer)? })
    }
}

impl Adapter for HttpAdapter {
    fn supports(&self, _endpoint: Endpoint) -> bool {
        true
    }

    fn explains(&self) -> bool {
        true
    }

    fn call(&self, call: UpstreamCall) -> CallFuture {
        let uri = self.base.base_url.replace("{model}", &call.model);
        self.base.send(&uri, &call, call.body.clone(), |resp| resp)
    }

    fn explain(&self, call: UpstreamCall, protocol: ExplainProtocol) -> Option<CallFuture> {
        match protocol {
            ExplainProtocol::KserveV1 | ExplainProtocol::Http => Some(self.call(call)),
            ExplainProtocol::Oip => None,
        }
    }
}
