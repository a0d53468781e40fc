//! Cross-format serving: how a request in the client's wire format reaches a member
//! whose adapter may speak another, and how the answer comes back in the client's format.
//!
//! A [`Route`] is chosen per (endpoint, adapter): [`Route::Native`] when the adapter
//! serves the endpoint itself (OpenAI → openai, Anthropic → anthropic, OIP → oip, any →
//! http), [`Route::AnthropicViaOpenAi`] when an Anthropic `/v1/messages` request goes to a
//! member that only speaks OpenAI chat (the request is translated once per member call,
//! the answer back frame by frame, or once when collected). Anything else cannot be
//! served by that member.
//!
//! Invariant: the translated request carries a `model` placeholder at a known span, so
//! the adapter's `model` rewrite works unchanged and one translation serves retries.

use bytes::Bytes;
use http::StatusCode;

use crate::providers::anthropic::{convert, stream};
use crate::providers::{Adapter, Endpoint, UpstreamCall, UpstreamResponse};

/// How a member serves an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The adapter speaks the client's format.
    Native,
    /// Anthropic client, OpenAI-chat member.
    AnthropicViaOpenAi,
}

/// The route for `endpoint` on `adapter`, if it can be served at all.
pub fn route(adapter: &dyn Adapter, endpoint: Endpoint) -> Option<Route> {
    if adapter.supports(endpoint) {
        Some(Route::Native)
    } else if endpoint == Endpoint::Messages && adapter.supports(Endpoint::ChatCompletions) {
        Some(Route::AnthropicViaOpenAi)
    } else {
        None
    }
}

/// The call `route` sends, for `member_model`. `None` when the client body cannot be
/// translated (it is not a Messages request object).
pub fn call_for(route: Route, call: &UpstreamCall, member_model: &str) -> Option<UpstreamCall> {
    let mut out = call.clone();
    out.model = member_model.to_owned();
    if route == Route::AnthropicViaOpenAi {
        let req: serde_json::Value = serde_json::from_slice(&call.body).ok()?;
        let openai = convert::request_to_openai(&req)?;
        let rest = serde_json::Value::Object(openai).to_string();
        // `{"model":"",` + the rest of the object: the placeholder is bytes 9..11.
        let mut body = Vec::with_capacity(rest.len() + 12);
        body.extend_from_slice(br#"{"model":"""#);
        if rest.len() > 2 {
            body.push(b',');
        }
        body.extend_from_slice(&rest.as_bytes()[1..]);
        out.body = Bytes::from(body);
        out.model_span = 9..11;
        out.endpoint = Endpoint::ChatCompletions;
    }
    Some(out)
}

/// The member's answer in the client's format.
pub fn answer(route: Route, mut resp: UpstreamResponse, stream: bool) -> UpstreamResponse {
    if route == Route::Native {
        return resp;
    }
    let inner = resp.convert.take();
    resp.translated(
        stream,
        stream::FromOpenAi::default,
        Box::new(move |status: StatusCode, bytes: Bytes| {
            let bytes = UpstreamResponse::convert_full(inner, status, bytes)?;
            if status.is_success() {
                let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
                Some(Bytes::from(convert::response_from_openai(&v)?.to_string()))
            } else {
                Some(Bytes::from(convert::error_from_openai(status.as_u16(), &bytes)))
            }
        }),
    )
}
