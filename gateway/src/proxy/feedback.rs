//! `POST /v1/feedback`: attach an outcome to an inference.
//!
//! Body `{"request_id": "<x-switchyard-request-id>", "metric": "<name>", "value": <number|bool>}`.
//! The event goes through the same queue and spool as inference records, so it is as
//! durable; the experiment statistics join it to its inference by request id. Answers
//! 202 with the feedback id once the event is queued.
//!
//! Scope: the request id must be one the gateway signed for the caller's tenant
//! ([`switchyard_config::request_id`]); anything else — another tenant's inference, an id
//! that exists nowhere, a client's own `x-request-id`, a tampered tag — gets the same 404,
//! so the answer never tells whether an id exists elsewhere. No lookup: the id proves
//! itself, on any replica, as soon as the inference's headers are out.
//!
//! Repeats: every value is kept; analytics take the last per (request, metric). Each
//! replica admits at most [`MAX_REPEATS`] values per (request, metric) and answers 429
//! (`rate_limit_error`) beyond ([`Repeats`]); this is per pair, never per client, so a
//! client is bounded only by its own rate limits otherwise.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

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
const MAX_ID_LEN: usize = switchyard_config::request_id::SIGNED_ID_LEN;

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
    if !shared.request_ids.verify(&fb.request_id, &tenant) {
        return Err(GatewayError::UnknownInference);
    }
    if !shared.feedback_repeats.admit(&fb.request_id, &fb.metric) {
        return Err(GatewayError::FeedbackRepeated { limit: MAX_REPEATS });
    }
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

/// Most values one replica admits per (request, metric).
pub const MAX_REPEATS: u8 = 16;
/// (request, metric) pairs remembered per generation; two generations are kept, so at
/// most twice this many 8-byte hashes (about 2 MiB with the map's overhead).
const PAIRS_PER_GENERATION: usize = 65_536;

/// How many values each (request, metric) pair got on this replica: a keyed hash of the
/// pair → count, in two generations (when the current one is full it becomes the previous
/// one and the older is forgotten). A pair is remembered for at least
/// [`PAIRS_PER_GENERATION`] newer pairs.
#[derive(Default)]
pub struct Repeats {
    hasher: RandomState,
    generations: parking_lot::Mutex<[HashMap<u64, u8>; 2]>,
}

// === impl Repeats ===

impl Repeats {
    /// Counts one value for (request, metric); false when it already has [`MAX_REPEATS`].
    pub fn admit(&self, request_id: &str, metric: &str) -> bool {
        let key = self.hasher.hash_one((request_id, metric));
        let mut g = self.generations.lock();
        let seen = g[0].get(&key).or_else(|| g[1].get(&key)).copied().unwrap_or(0);
        if seen >= MAX_REPEATS {
            return false;
        }
        if !g[0].contains_key(&key) && g[0].len() >= PAIRS_PER_GENERATION {
            g[1] = std::mem::take(&mut g[0]);
        }
        g[0].insert(key, seen + 1);
        true
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_bounded_per_pair_and_remembered_across_a_generation() {
        let r = Repeats::default();
        for _ in 0..MAX_REPEATS {
            assert!(r.admit("a", "m"));
        }
        assert!(!r.admit("a", "m"));
        assert!(r.admit("a", "other"), "per metric");
        assert!(r.admit("b", "m"), "per request");
        for i in 0..PAIRS_PER_GENERATION {
            assert!(r.admit(&i.to_string(), "fill"));
        }
        assert!(!r.admit("a", "m"), "still remembered one generation later");
    }
}
