//! `POST /v1/feedback`: attach an outcome to an inference.
//!
//! Body `{"request_id": "<x-switchyard-request-id>", "metric": "<name>", "value": <number|bool>}`.
//! The event goes through the same queue and spool as inference records, so it is as
//! durable; the experiment statistics join it to its inference by request id. Answers
//! 202 with the feedback id once the event is queued.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use serde::Deserialize;
use switchyard_records::FeedbackRecord;

use super::authenticate::authenticate;
use super::body::read_request;
use super::{GatewayBody, RequestCtx, Shared};
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

/// Most bytes of a feedback body.
const MAX_FEEDBACK_BYTES: u64 = 64 * 1024;

/// Handles one feedback request.
pub async fn feedback<B>(
    shared: &Shared,
    ctx: &mut RequestCtx,
    req: Request<B>,
) -> Result<Response<GatewayBody>, GatewayError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    authenticate(ctx, &parts.headers)?;
    let limit = ctx.table.limits.max_body_bytes.min(MAX_FEEDBACK_BYTES);
    let body = read_request(ctx, &parts.headers, body, limit, &shared.metrics).await?;
    let fb = parse(&body)?;
    if !shared.records.accepting() {
        return Err(GatewayError::SpoolFull);
    }
    let (tenant, client) = ctx.tenant_and_client();
    let id = format!("fb-{}", switchyard_core::new_id());
    let record = FeedbackRecord {
        feedback_id: id.clone(),
        request_id: fb.request_id,
        timestamp_ms: switchyard_core::unix_ms(),
        metric: fb.metric,
        value: fb.value,
        tenant,
        client,
    };
    if !shared.records.offer_feedback(record) {
        return Err(GatewayError::SpoolFull);
    }
    let body = serde_json::json!({"id": id, "status": "accepted"}).to_string();
    Ok(GatewayBody::json(StatusCode::ACCEPTED, Bytes::from(body)))
}

/// A checked feedback body.
struct Feedback {
    request_id: String,
    metric: String,
    value: f64,
}

/// Parses and checks a feedback body.
fn parse(body: &[u8]) -> Result<Feedback, GatewayError> {
    let fb: FeedbackBody = serde_json::from_slice(body).map_err(|e| {
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
    Ok(Feedback { request_id: fb.request_id, metric: fb.metric, value })
}
