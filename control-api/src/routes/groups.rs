//! `/api/v1/groups…`: group CRUD, weights, promotion, pause, members.
//!
//! Reads answer with `ETag: "<config version>"`; writes need `If-Match` with that
//! version. Every write is one atomic config edit (validated like the file) and one audit
//! entry. A tenant-scoped token reads and writes only its tenant's groups (another
//! tenant's answer the same 404 as a missing group) and the groups it creates are its
//! tenant's ([`claim`]).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use switchyard_config::schema::{GroupConfig, MemberConfig};
use switchyard_config::Config;

use super::tagged;
use crate::auth::{Operator, Writer};
use crate::edit::{apply, apply_to_group, claim, group_json, in_scope, missing_group, refuse, Edit};
use crate::error::ApiError;
use crate::extract::{Body, IfMatch};
use crate::{groups, ControlState};

/// A group as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GroupView {
    /// Group name.
    pub name: String,
    /// The group's config (same shape as in the YAML file).
    #[schema(value_type = Object)]
    pub config: GroupConfig,
    /// Config version this view is from (also the ETag).
    pub version: u64,
}

/// `POST /groups` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    /// Group name.
    pub name: String,
    /// The group's config.
    #[schema(value_type = Object)]
    pub config: GroupConfig,
}

/// `PUT /groups/{g}/weights` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeightsRequest {
    /// New weights by member name; members not named keep theirs.
    pub weights: BTreeMap<String, f64>,
}

/// `POST /groups/{g}/promote` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberName {
    /// The member.
    pub member: String,
}

/// `GET /api/v1/groups`
#[utoipa::path(get, path = "/api/v1/groups", tag = "groups", responses((status = 200, body = [GroupView])))]
pub async fn list(State(state): State<ControlState>, op: Operator) -> Response {
    let (cfg, version) = state.editor.snapshot();
    let groups: Vec<GroupView> = cfg
        .groups
        .iter()
        .filter(|(_, g)| op.sees_group(g))
        .map(|(n, g)| GroupView { name: n.clone(), config: g.clone(), version })
        .collect();
    tagged(version, groups)
}

/// `GET /api/v1/groups/{group}`
#[utoipa::path(get, path = "/api/v1/groups/{group}", tag = "groups",
    responses((status = 200, body = GroupView), (status = 404)))]
pub async fn get_one(
    State(state): State<ControlState>,
    op: Operator,
    Path(group): Path<String>,
) -> Result<Response, ApiError> {
    let (cfg, version) = state.editor.snapshot();
    // Another tenant's group is as missing as one that does not exist.
    let g = cfg.groups.get(&group).filter(|g| op.sees_group(g)).ok_or_else(|| missing_group(&group))?;
    Ok(tagged(version, GroupView { name: group, config: g.clone(), version }))
}

/// `POST /api/v1/groups`: create a group (409 if it exists).
#[utoipa::path(post, path = "/api/v1/groups", tag = "groups", request_body = NewGroup,
    responses((status = 200, body = GroupView), (status = 409), (status = 412), (status = 422)))]
pub async fn create(
    State(state): State<ControlState>,
    Writer(op): Writer,
    IfMatch(expected): IfMatch,
    Body(mut new): Body<NewGroup>,
) -> Result<Response, ApiError> {
    claim(op.tenant.as_deref(), "config.tenant", &mut new.config.tenant)?;
    let name = new.name.clone();
    let edit = Edit { actor: &op.name, reason: "", expected, action: "group.create" };
    let edited = apply(
        &state,
        &edit,
        &format!("groups.{name}"),
        |c| group_json(c, &name),
        |cfg, refusal| {
            if cfg.groups.contains_key(&new.name) {
                return refuse(refusal, ApiError::Conflict(format!("group `{}` already exists", new.name)));
            }
            cfg.groups.insert(new.name.clone(), new.config.clone());
            Ok(())
        },
    )
    .await?;
    view(&edited.after, &name, edited.version)
}

/// `PUT /api/v1/groups/{group}`: create or replace a group.
#[utoipa::path(put, path = "/api/v1/groups/{group}", tag = "groups", request_body = Object,
    responses((status = 200, body = GroupView), (status = 412), (status = 422)))]
pub async fn replace(
    State(state): State<ControlState>,
    Writer(op): Writer,
    IfMatch(expected): IfMatch,
    Path(group): Path<String>,
    Body(mut config): Body<GroupConfig>,
) -> Result<Response, ApiError> {
    let scope = op.tenant.as_deref();
    claim(scope, "tenant", &mut config.tenant)?;
    let edit = Edit { actor: &op.name, reason: "", expected, action: "group.put" };
    let edited = apply(
        &state,
        &edit,
        &format!("groups.{group}"),
        |c| group_json(c, &group),
        |cfg, refusal| {
            // Replacing another tenant's group is as missing as a group that is not there.
            if cfg.groups.get(&group).is_some_and(|g| !in_scope(scope, g.tenant.as_deref())) {
                return refuse(refusal, missing_group(&group));
            }
            cfg.groups.insert(group.clone(), config.clone());
            Ok(())
        },
    )
    .await?;
    view(&edited.after, &group, edited.version)
}

/// `DELETE /api/v1/groups/{group}`
#[utoipa::path(delete, path = "/api/v1/groups/{group}", tag = "groups",
    responses((status = 200), (status = 404), (status = 412), (status = 422)))]
pub async fn remove(
    State(state): State<ControlState>,
    Writer(op): Writer,
    IfMatch(expected): IfMatch,
    Path(group): Path<String>,
) -> Result<Response, ApiError> {
    let edit = Edit { actor: &op.name, reason: "", expected, action: "group.delete" };
    let edited = apply(
        &state,
        &edit,
        &format!("groups.{group}"),
        |c| group_json(c, &group),
        |cfg, refusal| {
            if !cfg.groups.get(&group).is_some_and(|g| in_scope(op.tenant.as_deref(), g.tenant.as_deref())) {
                return refuse(refusal, missing_group(&group));
            }
            cfg.groups.remove(&group);
            Ok(())
        },
    )
    .await?;
    Ok(tagged(edited.version, serde_json::json!({ "deleted": group, "version": edited.version })))
}

/// `PUT /api/v1/groups/{group}/weights`: change the split atomically.
#[utoipa::path(put, path = "/api/v1/groups/{group}/weights", tag = "groups", request_body = WeightsRequest,
    responses((status = 200, body = GroupView), (status = 404), (status = 412), (status = 422)))]
pub async fn weights(
    State(state): State<ControlState>,
    Writer(op): Writer,
    IfMatch(expected): IfMatch,
    Path(group): Path<String>,
    Body(req): Body<WeightsRequest>,
) -> Result<Response, ApiError> {
    let edit = Edit { actor: &op.name, reason: "", expected, action: "group.weights" };
    let edited =
        apply_to_group(&state, &edit, &group, op.tenant.as_deref(), |g| groups::set_weights(g, &group, &req.weights))
            .await?;
    view(&edited.after, &group, edited.version)
}

/// `POST /api/v1/groups/{group}/promote`: the challenger becomes champion; the old
/// champion stays as a challenger at weight 0.
#[utoipa::path(post, path = "/api/v1/groups/{group}/promote", tag = "groups", request_body = MemberName,
    responses((status = 200, body = GroupView), (status = 404), (status = 412), (status = 422)))]
pub async fn promote(
    State(state): State<ControlState>,
    Writer(op): Writer,
    IfMatch(expected): IfMatch,
    Path(group): Path<String>,
    Body(req): Body<MemberName>,
) -> Result<Response, ApiError> {
    let edit = Edit { actor: &op.name, reason: "", expected, action: "group.promote" };
    let edited =
        apply_to_group(&state, &edit, &group, op.tenant.as_deref(), |g| groups::promote(g, &req.member)).await?;
    view(&edited.after, &group, edited.version)
}

/// `POST /api/v1/groups/{group}/pause`: all traffic to the champion until weights are set again.
#[utoipa::path(post, path = "/api/v1/groups/{group}/pause", tag = "groups",
    responses((status = 200, body = GroupView), (status = 404), (status = 412)))]
pub async fn pause(
    State(state): State<ControlState>,
    Writer(op): Writer,
    IfMatch(expected): IfMatch,
    Path(group): Path<String>,
) -> Result<Response, ApiError> {
    let edit = Edit { actor: &op.name, reason: "", expected, action: "group.pause" };
    let edited = apply_to_group(&state, &edit, &group, op.tenant.as_deref(), |g| {
        groups::pause(g);
        Ok(())
    })
    .await?;
    view(&edited.after, &group, edited.version)
}

/// `POST /api/v1/groups/{group}/members`: add a member.
#[utoipa::path(post, path = "/api/v1/groups/{group}/members", tag = "groups", request_body = Object,
    responses((status = 200, body = GroupView), (status = 404), (status = 409), (status = 412), (status = 422)))]
pub async fn add_member(
    State(state): State<ControlState>,
    Writer(op): Writer,
    IfMatch(expected): IfMatch,
    Path(group): Path<String>,
    Body(member): Body<MemberConfig>,
) -> Result<Response, ApiError> {
    let edit = Edit { actor: &op.name, reason: "", expected, action: "group.member.add" };
    let edited =
        apply_to_group(&state, &edit, &group, op.tenant.as_deref(), |g| groups::add_member(g, &member)).await?;
    view(&edited.after, &group, edited.version)
}

/// `DELETE /api/v1/groups/{group}/members/{member}`
#[utoipa::path(delete, path = "/api/v1/groups/{group}/members/{member}", tag = "groups",
    responses((status = 200, body = GroupView), (status = 404), (status = 412), (status = 422)))]
pub async fn remove_member(
    State(state): State<ControlState>,
    Writer(op): Writer,
    IfMatch(expected): IfMatch,
    Path((group, member)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let edit = Edit { actor: &op.name, reason: "", expected, action: "group.member.remove" };
    let edited =
        apply_to_group(&state, &edit, &group, op.tenant.as_deref(), |g| groups::remove_member(g, &group, &member))
            .await?;
    view(&edited.after, &group, edited.version)
}

fn view(cfg: &Config, group: &str, version: u64) -> Result<Response, ApiError> {
    let g = cfg.groups.get(group).ok_or_else(|| missing_group(group))?;
    Ok(tagged(version, GroupView { name: group.to_owned(), config: g.clone(), version }))
}
