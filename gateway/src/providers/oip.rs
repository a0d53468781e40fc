//! `oip` adapter: Open Inference Protocol v2 (KServe, Seldon MLServer, Triton).
//!
//! Serves `POST /v2/models/{group}/infer` requests by forwarding the body unchanged to
//! `{base_url}/v2/models/{model}/infer`, where `model` is the member's upstream model
//! name; the answer comes back untouched. Responses may carry explanations, which the
//! proxy normalises into the record's attributions ([`crate::explain`]). As an explainer
//! it is asked at `{base_url}/v1/models/{model}:explain` (KServe v1) or
//! `{base_url}/v2/models/{model}/infer` (OIP).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use switchyard_config::{ProviderSpec, Timeouts};

use super::base::{Auth, HttpBase};
use super::{Adapter, CallFuture, Endpoint, UpstreamCall};
use crate::upstream::UpstreamClient;
use switchyard_config::schema::ExplainProtocol;

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

    /// The base URL without a trailing `/v2`.
    fn root(&self) -> &str {
        self.base.base_url.strip_suffix("/v2").unwrap_or(&self.base.base_url)
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
        let uri = format!("{}/v2/models/{}/infer", self.root(), utf8_percent_encode(&call.model, PATH_SEGMENT));
        self.base.send(&uri, &call, call.body.clone(), |resp| resp)
    }

    /// `GET {root}/v2/models/{model}`: one model's metadata (its tensors).
    fn discover(&self, model: Option<&str>, _: Option<(&str, &str)>, timeouts: Timeouts) -> Option<CallFuture> {
        let uri = format!("{}/v2/models/{}", self.root(), utf8_percent_encode(model?, PATH_SEGMENT));
        Some(self.base.get(&uri, None, timeouts))
    }

    fn explain(&self, call: UpstreamCall, protocol: ExplainProtocol) -> Option<CallFuture> {
        let (root, model) = (self.root(), utf8_percent_encode(&call.model, PATH_SEGMENT));
        let uri = match protocol {
            ExplainProtocol::KserveV1 => format!("{root}/v1/models/{model}:explain"),
            ExplainProtocol::Oip => format!("{root}/v2/models/{model}/infer"),
            ExplainProtocol::Http => return None,
        };
        Some(self.base.send(&uri, &call, call.body.clone(), |resp| resp))
    }
}
