//! ClickHouse rows (RowBinary, field order = column order of [`crate::schema`]).
//!
//! Invariant: `ts` (`DateTime`, seconds) is derived from `timestamp_ms` only, so a record
//! replayed or retried always lands in the same daily partition with the same sorting key
//! and is collapsed by the ReplacingMergeTree.

use serde::Serialize;

use crate::{FeedbackRecord, InferenceRecord};

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
    pub trace_id: String,
}

/// One row of `explanations` (one feature attribution).
#[derive(Debug, Clone, clickhouse::Row, Serialize)]
pub struct ExplanationRow {
    pub request_id: String,
    pub ts: u32,
    pub timestamp_ms: i64,
    pub group_name: String,
    pub member: String,
    pub method: String,
    pub ordinal: u32,
    pub feature: String,
    pub value: f64,
    pub base_value: Option<f64>,
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
    /// The row of `r` and its explanation rows.
    pub fn from_record(r: &InferenceRecord) -> (Self, Vec<ExplanationRow>) {
        let ts = seconds(r.timestamp_ms);
        let (method, base, names, values) = match &r.attributions {
            Some(a) => (a.method.clone(), a.base_value, a.names.clone(), a.values.clone()),
            None => (String::new(), None, Vec::new(), Vec::new()),
        };
        let explanations = names
            .iter()
            .zip(values.iter())
            .enumerate()
            .map(|(i, (feature, value))| ExplanationRow {
                request_id: r.request_id.clone(),
                ts,
                timestamp_ms: r.timestamp_ms,
                group_name: r.group.clone(),
                member: r.member.clone(),
                method: method.clone(),
                ordinal: u32::try_from(i).unwrap_or(u32::MAX),
                feature: feature.clone(),
                value: *value,
                base_value: base,
            })
            .collect();
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
            trace_id: r.trace_id.clone(),
        };
        (row, explanations)
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
