//! ClickHouse rows (RowBinary, field order = column order of [`crate::schema`]).
//!
//! Invariant: `ts` (`DateTime`, seconds) is derived from `timestamp_ms` only, so a record
//! replayed or retried always lands in the same daily partition with the same sorting key
//! and is collapsed by the ReplacingMergeTree.

use serde::Serialize;

use crate::{Attributions, ExplanationRecord, FeedbackRecord, InferenceRecord};

/// One row of `inferences_<group>`.
#[derive(Debug, Clone, clickhouse::Row, Serialize)]
pub struct InferenceRow {
    pub request_id: String,
    pub ts: u32,
    pub timestamp_ms: i64,
    pub tenant: String,
    pub client: String,
    pub group_name: String,
    pub member: String,
    pub role: String,
    pub provider: String,
    pub provider_kind: String,
    pub upstream_model: String,
    pub assignment: String,
    pub sticky_key_hash: u64,
    pub weight: f64,
    pub config_version: u64,
    pub endpoint: String,
    pub stream: u8,
    pub status: u16,
    pub error_class: String,
    pub total_us: u64,
    pub upstream_us: u64,
    pub overhead_us: u64,
    pub ttft_us: Option<u64>,
    pub input_tokens: Option<u32>,
    pub output_tokens: Option<u32>,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
    pub attribution_method: String,
    pub attribution_base_value: Option<f64>,
    pub attribution_names: Vec<String>,
    pub attribution_values: Vec<f64>,
    pub client_request_id: String,
    pub logprob_tokens: Option<u32>,
    pub logprob_mean: Option<f64>,
    pub logprob_min: Option<f64>,
    pub perplexity: Option<f64>,
    pub trace_id: String,
    /// `Decimal(38, 12)`: the cost × 10^12.
    pub cost: Option<i128>,
    pub currency: String,
}

/// One row of `explanations`: one feature of one (request, source, method, instance, output).
#[derive(Debug, Clone, clickhouse::Row, Serialize)]
pub struct ExplanationRow {
    pub request_id: String,
    pub ts: u32,
    pub timestamp_ms: i64,
    pub group_name: String,
    pub member: String,
    pub config_version: u64,
    /// `inline` (in the backend's answer) or `explainer`.
    pub source: String,
    pub method: String,
    pub instance: u32,
    pub output: u32,
    pub output_name: String,
    pub ordinal: u32,
    pub feature: String,
    pub value: f64,
    pub base_value: Option<f64>,
    pub output_value: Option<f64>,
    pub confidence: Option<f64>,
    pub coverage: Option<f64>,
    pub explainer_latency_us: Option<u64>,
}

/// Where a set of attributions came from (the `source` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// In the backend's own answer.
    Inline,
    /// From the member's explainer, after the answer; with its latency in µs.
    Explainer(u64),
}

/// One row of `feedback`.
#[derive(Debug, Clone, clickhouse::Row, Serialize)]
pub struct FeedbackRow {
    pub feedback_id: String,
    pub request_id: String,
    pub ts: u32,
    pub timestamp_ms: i64,
    pub metric: String,
    pub value: f64,
    pub tenant: String,
    pub client: String,
}

/// `DateTime` seconds of a Unix-ms timestamp, clamped to the type's range.
pub fn seconds(timestamp_ms: i64) -> u32 {
    u32::try_from(timestamp_ms.div_euclid(1000).max(0)).unwrap_or(u32::MAX)
}

// === impl InferenceRow ===

impl InferenceRow {
    /// The row of `r` and its explanation rows. The row's `attribution_*` columns keep
    /// the first set (instance 0, output 0) as before; every set is in the rows.
    pub fn from_record(r: &InferenceRecord) -> (Self, Vec<ExplanationRow>) {
        let ts = seconds(r.timestamp_ms);
        let mut explanations = Vec::new();
        let head = Head { request_id: &r.request_id, timestamp_ms: r.timestamp_ms, group: &r.group, member: &r.member };
        for set in &r.attributions {
            explanation_rows(&head, r.config_version, Source::Inline, set, &mut explanations);
        }
        let (method, base, names, values) = match r.attributions.first() {
            Some(a) => (a.method.clone(), a.base_value, a.names.clone(), a.values.clone()),
            None => (String::new(), None, Vec::new(), Vec::new()),
        };
        let lp = r.logprobs;
        let row = Self {
            request_id: r.request_id.clone(),
            ts,
            timestamp_ms: r.timestamp_ms,
            tenant: r.tenant.clone(),
            client: r.client.clone(),
            group_name: r.group.clone(),
            member: r.member.clone(),
            role: r.role.as_str().to_owned(),
            provider: r.provider.clone(),
            provider_kind: r.provider_kind.clone(),
            upstream_model: r.upstream_model.clone(),
            assignment: r.assignment.as_str().to_owned(),
            sticky_key_hash: r.sticky_key_hash,
            weight: r.weight,
            config_version: r.config_version,
            endpoint: r.endpoint.clone(),
            stream: u8::from(r.stream),
            status: r.status,
            error_class: r.error_class.as_str().to_owned(),
            total_us: r.total_us,
            upstream_us: r.upstream_us,
            overhead_us: r.overhead_us,
            ttft_us: r.ttft_us,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            request_body: r.request_body.clone(),
            response_body: r.response_body.clone(),
            attribution_method: method,
            attribution_base_value: base,
            attribution_names: names,
            attribution_values: values,
            client_request_id: r.client_request_id.clone(),
            logprob_tokens: lp.map(|l| l.tokens),
            logprob_mean: lp.map(|l| l.mean),
            logprob_min: lp.map(|l| l.min),
            perplexity: lp.map(|l| l.perplexity),
            trace_id: r.trace_id.clone(),
            cost: r.cost.and_then(crate::Amount::decimal128_e12),
            currency: r.currency.clone(),
        };
        (row, explanations)
    }
}

/// The identity columns every explanation row of one inference shares.
struct Head<'a> {
    request_id: &'a str,
    timestamp_ms: i64,
    group: &'a str,
    member: &'a str,
}

// === impl ExplanationRow ===

impl ExplanationRow {
    /// The rows of an explainer's answer.
    pub fn from_explanation(x: &ExplanationRecord) -> Vec<Self> {
        let head = Head { request_id: &x.request_id, timestamp_ms: x.timestamp_ms, group: &x.group, member: &x.member };
        let mut rows = Vec::new();
        for set in &x.attributions {
            explanation_rows(&head, x.config_version, Source::Explainer(x.latency_us), set, &mut rows);
        }
        rows
    }
}

/// Appends one row per feature of `set`.
fn explanation_rows(
    head: &Head<'_>,
    config_version: u64,
    source: Source,
    set: &Attributions,
    out: &mut Vec<ExplanationRow>,
) {
    let (source, latency) = match source {
        Source::Inline => ("inline", None),
        Source::Explainer(us) => ("explainer", Some(us)),
    };
    for (i, (feature, value)) in set.names.iter().zip(&set.values).enumerate() {
        out.push(ExplanationRow {
            request_id: head.request_id.to_owned(),
            ts: seconds(head.timestamp_ms),
            timestamp_ms: head.timestamp_ms,
            group_name: head.group.to_owned(),
            member: head.member.to_owned(),
            config_version,
            source: source.to_owned(),
            method: set.method.clone(),
            instance: set.instance,
            output: set.output,
            output_name: set.output_name.clone(),
            ordinal: u32::try_from(i).unwrap_or(u32::MAX),
            feature: feature.clone(),
            value: *value,
            base_value: set.base_value,
            output_value: set.output_value,
            confidence: set.confidences.get(i).copied().filter(|c| !c.is_nan()),
            coverage: set.coverage,
            explainer_latency_us: latency,
        });
    }
}

// === impl FeedbackRow ===

impl From<&FeedbackRecord> for FeedbackRow {
    fn from(f: &FeedbackRecord) -> Self {
        Self {
            feedback_id: f.feedback_id.clone(),
            request_id: f.request_id.clone(),
            ts: seconds(f.timestamp_ms),
            timestamp_ms: f.timestamp_ms,
            metric: f.metric.clone(),
            value: f.value,
            tenant: f.tenant.clone(),
            client: f.client.clone(),
        }
    }
}
