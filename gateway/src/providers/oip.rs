//! `oip` adapter: Open Inference Protocol v2 (KServe, Seldon MLServer, Triton).
//!
//! Serves `POST /v2/models/{group}/infer` requests by forwarding the body unchanged to
//! `{base_url}/v2/models/{model}/infer`, where `model` is the member's upstream model
//! name; the answer comes back untouched. Responses may carry explanations, which the
//! proxy normalises into the record's attributions ([`super::explain`]).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use switchyard_config::ProviderSpec;

use super::base::{Auth, HttpBase};
use super::{Adapter, CallFuture, Endpoint, UpstreamCall};
use crate::upstream::UpstreamClient;

/// Characters escaped in a model name used as a path segment: all but RFC 3986's
/// unreserved ones.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

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
        let model = utf8_percent_encode(&call.model, PATH_SEGMENT);
        let uri = format!("{root}/v2/models/{model}/infer");
        self.base.send(&uri, &call, call.body.clone(), |resp| resp)
    }
}
