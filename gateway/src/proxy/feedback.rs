//! `POST /v1/feedback`: attach an outcome to an inference.
//!
//! Body `{"request_id": "<x-switchyard-request-id>", "metric": "<name>", "value": <number|bool>}`.
//! The event goes through the same queue and spool as inference records, so it is as
//! durable; the experiment statistics join it to its inference by request id. Answers
//! 202 with the feedback id once the event is queued.

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;
use switchyard_records::FeedbackRecord;

use super::body::read_request;
use super::{authenticate, declared_length, unix_ms, GatewayBody, Shared};
use crate::error::GatewayError;

/// Longest metric name.
const MAX_METRIC_LEN: usize = 64;
/// Longest request id.
const MAX_ID_LEN: usize = 128;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedbackBody {
    request_id: String,
    metric: String,
    value: serde_json::Value,
}

/// Handles one feedback request.
pub async fn feedback(
    shared: &Shared,
    headers: &HeaderMap,
    body: Incoming,
) -> Result<Response<GatewayBody>, GatewayError> {
    let table = shared.store.current();
    let client = authenticate(&table, headers)?;
    let limits = &table.limits;
    let body = read_request(
        body,
        declared_length(headers),
        limits.max_body_bytes.min(64 * 1024),
        std::time::Duration::from_millis(limits.body_timeout_ms),
    )
    .await?;
    let fb: FeedbackBody = serde_json::from_slice(&body).map_err(|e| {
        if e.is_data() {
            GatewayError::BadField(format!("feedback must be {{request_id, metric, value}}: {e}"))
        } else {
            GatewayError::BadJson(e.to_string())
        }
    })?;
    let value = match fb.value {
        serde_json::Value::Number(n) => n.as_f64().filter(|v| v.is_finite()),
        serde_json::Value::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
        _ => None,
    }
    .ok_or_else(|| GatewayError::BadField("`value` must be a finite number or a boolean".into()))?;
    let ok_id = !fb.request_id.is_empty()
        && fb.request_id.len() <= MAX_ID_LEN
        && fb.request_id.bytes().all(|b| b.is_ascii_graphic());
    if !ok_id {
        return Err(GatewayError::BadField("`request_id` must be the x-switchyard-request-id of an inference".into()));
    }
    let ok_metric = !fb.metric.is_empty()
        && fb.metric.len() <= MAX_METRIC_LEN
        && fb.metric.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b));
    if !ok_metric {
        return Err(GatewayError::BadField(format!(
            "`metric` must be 1-{MAX_METRIC_LEN} characters of letters, digits and _ - . :"
        )));
    }
    if !shared.records.accepting() {
        return Err(GatewayError::SpoolFull);
    }
    let mut record = FeedbackRecord {
        feedback_id: String::new(),
        request_id: fb.request_id,
        timestamp_ms: unix_ms(),
        metric: fb.metric,
        value,
        tenant: client.map(|c| c.tenant.clone()).unwrap_or_default(),
        client: client.map(|c| c.name.clone()).unwrap_or_default(),
    };
    // The id is chosen here so the client can be told it.
    record.feedback_id = format!("fb-{}", super::new_request_id());
    let id = record.feedback_id.clone();
    if !shared.records.offer_feedback(record) {
        return Err(GatewayError::SpoolFull);
    }
    let body = serde_json::json!({"id": id, "status": "accepted"}).to_string();
    let mut resp = Response::new(GatewayBody::full(Bytes::from(body)));
    *resp.status_mut() = StatusCode::ACCEPTED;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    Ok(resp)
}
