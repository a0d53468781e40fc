//! `GET /api/v1/cluster`: this replica, every replica seen in the last three heartbeats
//! (id, admin address, the config version it serves, when it was last seen) and who holds
//! each lease until when (SPEC §7).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::auth::Operator;
use crate::error::ApiError;
use crate::plane::HEARTBEAT;
use crate::ControlState;

/// `GET /api/v1/cluster`
#[utoipa::path(get, path = "/api/v1/cluster", tag = "cluster",
    responses((status = 200, description = "`{self, replicas: [{id, address, config_version, last_seen}], leases: {<name>: {holder, expires_at}}}`"), (status = 503)))]
pub async fn cluster(State(state): State<ControlState>, _: Operator) -> Result<Response, ApiError> {
    let store = state.plane.store();
    let view = store.replicas().cluster(state.plane.replica_id(), HEARTBEAT * 3, &store.leases()).await?;
    Ok(Json(view).into_response())
}
