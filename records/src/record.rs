//! The `InferenceRecord`: one row per request the data plane served (SPEC §6).
//!
//! The data plane builds one record per request — successful, failed, cut off by the
//! upstream or abandoned by the client — and offers it to the [`crate::RecordQueue`].
//! Every field is known at the latest when the response body ends (or is dropped).
//! Invariants: `request_id` is unique per inference; timestamps are Unix milliseconds;
//! durations are microseconds; `None` means "not known / not applicable", never zero.

use serde::{Deserialize, Serialize};
pub use switchyard_core::{AssignmentReason, ErrorClass, Role};

/// One feature attribution returned by a backend or explainer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Attributions {
    /// Feature names, aligned with `values`.
    pub names: Vec<String>,
    /// Attribution values, aligned with `names`.
    pub values: Vec<f64>,
    /// The explainer's base (expected) value, when it reports one.
    pub base_value: Option<f64>,
    /// The method, e.g. `shap`, `lime`, `saliency`.
    pub method: String,
}

/// One inference as the client saw it, with full attribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct InferenceRecord {
    /// The request id sent back in `x-switchyard-request-id`.
    pub request_id: String,
    /// The client's own `x-request-id`, when it sent a usable one (printable ASCII, at
    /// most 128 characters); empty otherwise. Not unique: the key is `request_id`.
    #[serde(default)]
    pub client_request_id: String,
    /// The W3C trace the request belongs to (the client's `traceparent`, or the trace the
    /// gateway started): 32 lowercase hex characters; empty when none.
    #[serde(default)]
    pub trace_id: String,
    /// When the request was accepted, Unix milliseconds.
    pub timestamp_ms: i64,
    /// Tenant of the authenticated client ("" when the data plane needs no key).
    pub tenant: String,
    /// Name of the authenticated client ("" when the data plane needs no key).
    pub client: String,
    /// Model group (the `model` the client named).
    pub group: String,
    /// Member that served the request.
    pub member: String,
    /// `champion`, `challenger` or `shadow`.
    pub role: Role,
    /// Provider name from the config.
    pub provider: String,
    /// Provider kind (`openai`, `mock`, …).
    pub provider_kind: String,
    /// Upstream model name sent to the provider.
    pub upstream_model: String,
    /// Why this member was chosen.
    pub assignment: AssignmentReason,
    /// xxh3 hash of the sticky key (0 when the request had none); never the key itself.
    pub sticky_key_hash: u64,
    /// The member's normalised weight (share in [0,1]) at decision time.
    pub weight: f64,
    /// Config version of the routing table that made the decision.
    pub config_version: u64,
    /// Endpoint, e.g. `chat.completions`, `completions`, `embeddings`.
    pub endpoint: String,
    /// Whether the client asked for a streamed response.
    pub stream: bool,
    /// HTTP status sent to the client (200 also for a stream that later broke; see `error_class`).
    pub status: u16,
    /// [`ErrorClass::None`] (`""`) on success; otherwise a stable class such as
    /// `upstream_connect`, `upstream_status`, `upstream_reset`, `upstream_timeout`,
    /// `upstream_invalid`, `client_aborted`.
    pub error_class: ErrorClass,
    /// Accept to last byte, microseconds.
    pub total_us: u64,
    /// Upstream request sent to upstream body finished, microseconds.
    pub upstream_us: u64,
    /// `total_us - upstream_us`: the time the gateway itself added, microseconds.
    pub overhead_us: u64,
    /// Accept to the first body byte sent to the client, microseconds (streams only).
    pub ttft_us: Option<u64>,
    /// Prompt tokens reported by the upstream.
    pub input_tokens: Option<u32>,
    /// Completion tokens reported by the upstream.
    pub output_tokens: Option<u32>,
    /// The request body, when the group logs bodies (size-capped).
    pub request_body: Option<String>,
    /// The response body, when the group logs bodies (size-capped).
    pub response_body: Option<String>,
    /// Feature attributions, when the backend or an explainer returned them.
    pub attributions: Option<Attributions>,
}

/// An outcome attached to an inference (`POST /v1/feedback {request_id, metric, value}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct FeedbackRecord {
    /// Unique id of this feedback event; [`crate::RecordQueue::offer_feedback`] fills it
    /// when empty. Replays of the same event carry the same id and count once.
    pub feedback_id: String,
    /// The inference the feedback is about (`x-switchyard-request-id`).
    pub request_id: String,
    /// When the feedback was received, Unix milliseconds.
    pub timestamp_ms: i64,
    /// Metric name, e.g. `thumbs_up`, `resolved`.
    pub metric: String,
    /// Metric value (booleans as 0/1).
    pub value: f64,
    /// Tenant of the client that sent it ("" without auth).
    pub tenant: String,
    /// Name of the client that sent it ("" without auth).
    pub client: String,
}
