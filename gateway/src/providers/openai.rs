//! `openai` adapter: any OpenAI-compatible server (OpenAI, vLLM, TGI, Ollama), and
//! Azure OpenAI.
//!
//! The request body is forwarded with only `model` rewritten; the response body is
//! streamed back untouched. Authentication is `authorization: Bearer <api_key>`; extra
//! configured headers are added to every request. With `api_version` set the provider is
//! Azure OpenAI: the URL is `{base_url}/openai/deployments/{deployment}{path}?api-version=…`
//! (deployment defaults to the member's model) and the key goes in `api-key`.

use switchyard_config::{ProviderSpec, Timeouts};

use super::base::{Auth, HttpBase};
use super::{Adapter, CallFuture, UpstreamCall};
use crate::upstream::UpstreamClient;

/// Adapter for one `kind: openai` provider.
pub struct OpenAiAdapter {
    base: HttpBase,
    /// Azure: `api-version` and the configured deployment.
    azure: Option<(String, Option<String>)>,
}

// === impl OpenAiAdapter ===

impl OpenAiAdapter {
    /// Builds the adapter; fails on an invalid URL or header.
    pub fn new(client: UpstreamClient, spec: &ProviderSpec) -> Result<Self, String> {
        let c = &spec.config;
        let azure = c.api_version.clone().map(|v| (v, c.deployment.clone()));
        let auth = if azure.is_some() { Auth::Header("api-key") } else { Auth::Bearer };
        Ok(Self { base: HttpBase::new(client, spec, auth)?, azure })
    }

    fn url(&self, call: &UpstreamCall) -> String {
        let path = call.endpoint.openai_path();
        match &self.azure {
            // Concatenated, not `format!`ed: this runs once per request.
            None => [self.base.base_url.as_str(), path].concat(),
            Some((version, deployment)) => format!(
                "{}/openai/deployments/{}{path}?api-version={version}",
                self.base.base_url,
                deployment.as_deref().unwrap_or(&call.model)
            ),
        }
    }
}

impl Adapter for OpenAiAdapter {
    fn call(&self, call: UpstreamCall) -> CallFuture {
        self.base.send(&self.url(&call), &call, call.body_for_upstream(), |resp| resp)
    }

    /// `GET {base_url}/models` (not for Azure, whose deployments are not listed there).
    fn discover(&self, _: Option<&str>, page: Option<(&str, &str)>, timeouts: Timeouts) -> Option<CallFuture> {
        self.azure.is_none().then(|| self.base.get(&format!("{}/models", self.base.base_url), page, timeouts))
    }
}
