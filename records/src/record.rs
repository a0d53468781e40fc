//! The `InferenceRecord`: one row per request the data plane served (SPEC §6).
//!
//! The data plane builds one record per request — successful, failed, cut off by the
//! upstream or abandoned by the client — and offers it to the [`crate::RecordQueue`].
//! Every field is known at the latest when the response body ends (or is dropped).
//! Invariants: `request_id` is unique per inference; timestamps are Unix milliseconds;
//! durations are microseconds; `None` means "not known / not applicable", never zero.

use serde::{Deserialize, Serialize};
pub use switchyard_core::{AssignmentReason, ErrorClass, Role};

/// The attributions of one (instance, output) of an answer: the long-format rows of
/// `explanations` before they are split per feature (SPEC §9).
///
/// Fields added after the first version carry `serde(default)`, so spool frames written
/// by an older binary (one set, no instance/output) replay unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Attributions {
    /// Row of the request's batch this explains (0-based).
    #[serde(default)]
    pub instance: u32,
    /// Output (class, target, tensor) this explains (0-based).
    #[serde(default)]
    pub output: u32,
    /// The output's name where the source names it (TrustyAI, OIP); "" otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output_name: String,
    /// Feature names, aligned with `values`. Anchors: the rules.
    pub names: Vec<String>,
    /// Attribution values, aligned with `names`. Anchors: the anchor's precision.
    pub values: Vec<f64>,
    /// Per-feature confidence (TrustyAI), aligned with `names`; empty when not given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub confidences: Vec<f64>,
    /// The explainer's base (expected) value, when it reports one.
    pub base_value: Option<f64>,
    /// The model output being explained, when the source reports it.
    #[serde(default)]
    pub output_value: Option<f64>,
    /// Anchors: the share of the data the rule applies to.
    #[serde(default)]
    pub coverage: Option<f64>,
    /// `shap`, `lime`, `saliency`, `integrated_gradients`, `anchor` or `other`.
    pub method: String,
}

/// Summary of the token log-probabilities an LLM answer carried (OpenAI `logprobs`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct LogprobSummary {
    /// Tokens with a log-probability.
    pub tokens: u32,
    /// Mean log-probability (natural log).
    pub mean: f64,
    /// Lowest log-probability.
    pub min: f64,
    /// `exp(-mean)`.
    pub perplexity: f64,
}

/// Attributions an explainer returned for one inference, spooled on their own (the
/// inference's record was offered before the explainer was called).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ExplanationRecord {
    /// The inference explained.
    pub request_id: String,
    /// The inference's timestamp, Unix ms (its rows land in the inference's partition).
    pub timestamp_ms: i64,
    /// Group.
    pub group: String,
    /// Member that served the inference.
    pub member: String,
    /// Config version that routed it.
    pub config_version: u64,
    /// Explainer call, request sent to answer parsed, microseconds.
    pub latency_us: u64,
    /// One entry per (instance, output).
    pub attributions: Vec<Attributions>,
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
    /// Feature attributions the backend returned inline, one entry per (instance,
    /// output); empty when none. (Explainer answers are [`ExplanationRecord`]s.) Older
    /// spool frames hold one object or `null` here; both still decode.
    #[serde(default, deserialize_with = "one_or_many")]
    pub attributions: Vec<Attributions>,
    /// Token log-probability summary, when an LLM answer carried `logprobs`.
    #[serde(default)]
    pub logprobs: Option<LogprobSummary>,
    /// What the inference cost in `currency` (SPEC §8): input and output tokens × the
    /// member's catalog price at decision time, exact. Null when the member has no price or
    /// the tokens the price needs are unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Amount>,
    /// ISO 4217 code of `cost`'s currency ("" without a cost).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub currency: String,
}

/// An exact decimal amount (a cost), written in JSON as a decimal string (`"0.008755"`)
/// so that no float ever touches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Amount(pub rust_decimal::Decimal);

// === impl Amount ===

impl Amount {
    /// The amount as ClickHouse `Decimal(38, 12)` in RowBinary: the value × 10^12, rounded
    /// half to even at the 12th decimal; `None` when it does not fit 38 digits.
    pub fn decimal128_e12(self) -> Option<i128> {
        const SCALE: u32 = 12;
        let rounded = self.0.round_dp_with_strategy(SCALE, rust_decimal::RoundingStrategy::MidpointNearestEven);
        let factor = 10i128.checked_pow(SCALE.checked_sub(rounded.scale())?)?;
        let raw = rounded.mantissa().checked_mul(factor)?;
        (raw.unsigned_abs() < 10u128.pow(38)).then_some(raw)
    }
}

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0.normalize())
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        rust_decimal::Decimal::from_str_exact(&text).map(Amount).map_err(serde::de::Error::custom)
    }
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

/// `null`, one object (older spool frames) or a list.
fn one_or_many<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Vec<Attributions>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<Attributions>),
        One(Attributions),
    }
    Ok(match Option::<OneOrMany>::deserialize(de)? {
        None => Vec::new(),
        Some(OneOrMany::One(a)) => vec![a],
        Some(OneOrMany::Many(v)) => v,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn older_spool_frames_still_decode() {
        let one = r#"{"request_id":"a","timestamp_ms":1,"tenant":"","client":"","group":"g","member":"m",
            "role":"champion","provider":"p","provider_kind":"oip","upstream_model":"x","assignment":"random",
            "sticky_key_hash":0,"weight":1.0,"config_version":1,"endpoint":"oip.infer","stream":false,
            "status":200,"error_class":"","total_us":1,"upstream_us":1,"overhead_us":0,"ttft_us":null,
            "input_tokens":null,"output_tokens":null,"request_body":null,"response_body":null,
            "attributions":{"names":["a"],"values":[0.5],"base_value":0.1,"method":"shap"}}"#;
        let r: InferenceRecord = serde_json::from_str(one).unwrap();
        assert_eq!(r.attributions.len(), 1);
        assert_eq!((r.attributions[0].instance, r.attributions[0].names[0].as_str()), (0, "a"));
        let none: InferenceRecord = serde_json::from_str(
            &one.replace(r#"{"names":["a"],"values":[0.5],"base_value":0.1,"method":"shap"}"#, "null"),
        )
        .unwrap();
        assert!(none.attributions.is_empty());
        let round: InferenceRecord = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(round, r);
        assert_eq!((r.cost, r.currency.as_str()), (None, ""), "frames from before costs have none");
    }

    #[test]
    fn costs_are_exact_strings_and_decimal128_at_scale_12() {
        let d = |s: &str| rust_decimal::Decimal::from_str_exact(s).unwrap();
        let r = InferenceRecord { cost: Some(Amount(d("0.008755"))), currency: "USD".into(), ..Default::default() };
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!((json["cost"].as_str(), json["currency"].as_str()), (Some("0.008755"), Some("USD")));
        assert_eq!(serde_json::from_value::<InferenceRecord>(json).unwrap(), r);
        assert_eq!(Amount(d("0.008755")).decimal128_e12(), Some(8_755_000_000));
        assert_eq!(Amount(d("2.5")).decimal128_e12(), Some(2_500_000_000_000));
        assert_eq!(Amount(d("0.0000000000025")).decimal128_e12(), Some(2), "half to even");
        assert_eq!(Amount(d("0")).decimal128_e12(), Some(0));
        assert_eq!(Amount(d("79228162514264337593543950335")).decimal128_e12(), None, "beyond 38 digits");
    }
}
