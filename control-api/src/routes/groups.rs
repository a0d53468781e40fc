//! `/api/v1/groups…`: group CRUD, weights, promotion, pause, members.
//!
//! Reads answer with `ETag: "<config version>"`; writes need `If-Match` with that
//! version. Every write is one atomic config edit (validated like the file) and one audit
//! entry.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use switchyard_config::schema::{GroupConfig, MemberConfig, Role};
use switchyard_config::Config;

use super::{apply, refuse, tagged};
use crate::auth::{Operator, Writer};
use crate::error::ApiError;
use crate::extract::{Body, IfMatch};
use crate::ControlState;

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

fn group_json(cfg: &Config, name: &str) -> serde_json::Value {
    cfg.groups.get(name).map_or(serde_json::Value::Null, |g| serde_json::to_value(g).unwrap_or_default())
}

fn missing_group(name: &str) -> ApiError {
    ApiError::NotFound(format!("group `{name}` does not exist"))
}

/// `GET /api/v1/groups`
#[utoipa::path(get, path = "/api/v1/groups", tag = "groups", responses((status = 200, body = [GroupView])))]
pub async fn list(State(state): State<ControlState>, _: Operator) -> Response {
    let (cfg, version) = state.editor.snapshot();
    let groups: Vec<GroupView> =
        cfg.groups.iter().map(|(n, g)| GroupView { name: n.clone(), config: g.clone(), version }).collect();
    tagged(version, groups)
}

/// `GET /api/v1/groups/{group}`
#[utoipa::path(get, path = "/api/v1/groups/{group}", tag = "groups",
    responses((status = 200, body = GroupView), (status = 404)))]
pub async fn get_one(
    State(state): State<ControlState>,
    _: Operator,
    Path(group): Path<String>,
) -> Result<Response, ApiError> {
    let (cfg, version) = state.editor.snapshot();
    let g = cfg.groups.get(&group).ok_or_else(|| missing_group(&group))?;
    Ok(tagged(version, GroupView { name: group, config: g.clone(), version }))
}

/// `POST /api/v1/groups`: create a group (409 if it exists).
#[utoipa::path(post, path = "/api/v1/groups", tag = "groups", request_body = NewGroup,
    responses((status = 200, body = GroupView), (status = 409), (status = 412), (status = 422)))]
pub async fn create(
    State(state): State<ControlState>,
    Writer(op): Writer,
    IfMatch(expected): IfMatch,
    Body(new): Body<NewGroup>,
) -> Result<Response, ApiError> {
    let name = new.name.clone();
    let edited = apply(
        &state,
        &op.name,
        expected,
        "group.create",
        &format!("groups.{name}"),
        |c| group_json(c, &name),
        |cfg, refusal| {
            if cfg.groups.contains_key(&new.name) {
                return refuse(refusal, ApiError::Conflict(format!("group `{}` already exists", new.name)));
            }
            cfg.groups.insert(new.name.clone(), new.config.clone());
            Ok(())
        },
    )?;
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
    Body(config): Body<GroupConfig>,
) -> Result<Response, ApiError> {
    let edited = apply(
        &state,
        &op.name,
        expected,
        "group.put",
        &format!("groups.{group}"),
        |c| group_json(c, &group),
        |cfg, _| {
            cfg.groups.insert(group.clone(), config.clone());
            Ok(())
        },
    )?;
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
    let edited = apply(
        &state,
        &op.name,
        expected,
        "group.delete",
        &format!("groups.{group}"),
        |c| group_json(c, &group),
        |cfg, refusal| {
            if cfg.groups.remove(&group).is_none() {
                return refuse(refusal, missing_group(&group));
            }
            Ok(())
        },
    )?;
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
    let edited = apply_to_group(&state, &op.name, expected, "group.weights", &group, |g| {
        for (member, weight) in &req.weights {
            match g.members.iter_mut().find(|m| &m.name == member) {
                Some(m) if m.role == Role::Shadow => {
                    return Err(ApiError::BadRequest(format!("`{member}` is a shadow; shadows take mirror_percent")));
                }
                Some(m) => m.weight = Some(*weight),
                None => {
                    return Err(ApiError::NotFound(format!("group `{group}` has no member `{member}`")));
                }
            }
        }
        Ok(())
    })?;
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
    let edited =
        apply_to_group(&state, &op.name, expected, "group.promote", &group, |g| promote_member(g, &req.member))?;
    view(&edited.after, &group, edited.version)
}

/// The promotion itself (shared with auto-promotion).
pub fn promote_member(g: &mut GroupConfig, member: &str) -> Result<(), ApiError> {
    let Some(idx) = g.members.iter().position(|m| m.name == member) else {
        return Err(ApiError::NotFound(format!("no member `{member}`")));
    };
    match g.members[idx].role {
        Role::Challenger => {}
        Role::Champion => return Err(ApiError::Conflict(format!("`{member}` is already the champion"))),
        Role::Shadow => {
            return Err(ApiError::Conflict(format!("`{member}` is a shadow; make it a challenger before promoting it")))
        }
    }
    for m in g.members.iter_mut() {
        if m.role == Role::Champion {
            m.role = Role::Challenger;
            m.weight = Some(0.0);
        }
    }
    let m = &mut g.members[idx];
    m.role = Role::Champion;
    if m.weight.unwrap_or(0.0) <= 0.0 {
        m.weight = Some(1.0);
    }
    Ok(())
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
    let edited = apply_to_group(&state, &op.name, expected, "group.pause", &group, |g| {
        pause_group(g);
        Ok(())
    })?;
    view(&edited.after, &group, edited.version)
}

/// Sets every challenger to weight 0 (and the champion to 1 if it had none).
pub fn pause_group(g: &mut GroupConfig) {
    for m in g.members.iter_mut() {
        match m.role {
            Role::Challenger => m.weight = Some(0.0),
            Role::Champion if m.weight.unwrap_or(0.0) <= 0.0 => m.weight = Some(1.0),
            _ => {}
        }
    }
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
    let edited = apply_to_group(&state, &op.name, expected, "group.member.add", &group, |g| {
        if g.members.iter().any(|m| m.name == member.name) {
            return Err(ApiError::Conflict(format!("member `{}` already exists", member.name)));
        }
        g.members.push(member.clone());
        Ok(())
    })?;
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
    let edited = apply_to_group(&state, &op.name, expected, "group.member.remove", &group, |g| {
        let before = g.members.len();
        g.members.retain(|m| m.name != member);
        if g.members.len() == before {
            return Err(ApiError::NotFound(format!("group `{group}` has no member `{member}`")));
        }
        Ok(())
    })?;
    view(&edited.after, &group, edited.version)
}

/// One audited edit of group `group` (404 when it does not exist; `change` refuses with
/// its own error).
fn apply_to_group(
    state: &ControlState,
    actor: &str,
    expected: u64,
    action: &str,
    group: &str,
    mut change: impl FnMut(&mut GroupConfig) -> Result<(), ApiError>,
) -> Result<switchyard_config::Edited, ApiError> {
    apply(
        state,
        actor,
        expected,
        action,
        &format!("groups.{group}"),
        |c| group_json(c, group),
        |cfg, refusal| match cfg.groups.get_mut(group) {
            None => refuse(refusal, missing_group(group)),
            Some(g) => change(g).or_else(|e| refuse(refusal, e)),
        },
    )
}

fn view(cfg: &Config, group: &str, version: u64) -> Result<Response, ApiError> {
    let g = cfg.groups.get(group).ok_or_else(|| missing_group(group))?;
    Ok(tagged(version, GroupView { name: group.to_owned(), config: g.clone(), version }))
}
