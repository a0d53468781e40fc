//! `POST /api/v1/models/transform` (SPEC §8): LLM-assisted metadata. The source (any JSON:
//! a model card, a vendor page's data) goes through one of the gateway's own groups —
//! in-process through the [`switchyard_core::DataPlane`] seam, so it is routed, recorded
//! and metered like any request, under tenant `system` and client `catalog-transform` —
//! with a prompt that asks for the entry schema. The answer is parsed and validated; one
//! that does not parse or validate is asked again once with its problems, then returned
//! as problems. The reply is a proposal with per-field confidence (agreement with the
//! catalog entry's provider- and file-sourced fields, never the model's self-report) and
//! a diff against the current entry. Nothing is stored: the operator PUTs or imports it.

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use switchyard_catalog::transform::{reply, Step, Transform, TransformReply};
use switchyard_core::dataplane::Dispatch;

use crate::auth::Writer;
use crate::catalog;
use crate::error::ApiError;
use crate::extract::Body;
use crate::ControlState;

/// The tenant the transform's requests are recorded under.
pub const TENANT: &str = "system";
/// The client the transform's requests are recorded under.
pub const CLIENT: &str = "catalog-transform";

/// `POST /models/transform` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransformRequest {
    /// What to turn into an entry: any JSON.
    #[schema(value_type = Object)]
    pub source: serde_json::Value,
    /// The operator's hints (e.g. `{"provider": "openai"}`); any JSON, default null.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub hints: serde_json::Value,
    /// The group that answers (a chat group).
    pub via_group: String,
}

/// `POST /models/transform` reply: `{proposal, problems, confidence, diff, retried,
/// request_ids}`.
#[derive(Debug, Serialize)]
pub struct TransformView {
    /// Proposal, problems, confidence per field and diff.
    #[serde(flatten)]
    pub reply: TransformReply,
    /// Whether the one retry was used.
    pub retried: bool,
    /// The request ids of the group's inferences (one, or two with the retry): find them
    /// in the records.
    pub request_ids: Vec<String>,
}

/// `POST /api/v1/models/transform`
#[utoipa::path(post, path = "/api/v1/models/transform", tag = "catalog", request_body = TransformRequest,
    responses((status = 200, body = Object, description = "{proposal, problems, confidence, diff, retried, request_ids}"),
        (status = 400), (status = 404), (status = 502)))]
pub async fn transform(
    State(state): State<ControlState>,
    _: Writer,
    Body(req): Body<TransformRequest>,
) -> Result<Json<TransformView>, ApiError> {
    let (cfg, _) = state.editor.snapshot();
    if !cfg.groups.contains_key(&req.via_group) {
        return Err(ApiError::NotFound(format!("via_group: group `{}` does not exist", req.via_group)));
    }
    let mut t = Transform::new(&req.via_group, &req.source, &req.hints)
        .map_err(|p| ApiError::BadRequest(format!("source: {}", p.message)))?;
    let mut body = t.request();
    let mut request_ids = Vec::new();
    let outcome = loop {
        let bytes = serde_json::to_vec(&body).map_err(|e| ApiError::Internal(format!("transform request: {e}")))?;
        let dispatch = Dispatch {
            path: "/v1/chat/completions",
            body: Bytes::from(bytes),
            tenant: TENANT.into(),
            client: CLIENT.into(),
        };
        let answer = state.dataplane.dispatch(dispatch).await.map_err(|e| ApiError::BadGateway(e.message))?;
        if let Some(id) = answer.headers.get("x-switchyard-request-id").and_then(|v| v.to_str().ok()) {
            request_ids.push(id.to_owned());
        }
        match t.on_answer(answer.status, &answer.body) {
            Step::Ask(next) => body = next,
            Step::Done(outcome) => break *outcome,
        }
    };
    let current = match &outcome {
        Ok(proposal) => catalog::get(&state, &proposal.id).await?.map(|s| s.entry),
        Err(_) => None,
    };
    let evidence: Vec<&switchyard_catalog::CatalogEntry> = current.iter().collect();
    let reply = reply(outcome, current.as_ref(), &evidence);
    Ok(Json(TransformView { reply, retried: t.retried(), request_ids }))
}
