//! Group edits as the domain knows them, shared by the routes and the autopilot (and,
//! later, fine-tuning enrolment): each is a pure change of one [`GroupConfig`] that either
//! applies completely or refuses with the error the operator sees. They run inside
//! [`crate::edit::apply_to_group`], so the result is validated, versioned and audited.

use std::collections::BTreeMap;

use switchyard_config::schema::{GroupConfig, MemberConfig, Role};

use crate::error::ApiError;

/// A member as experiments see it: name, role and normalised share of traffic.
pub use crate::analytics::MemberView;

/// Sets the weights named (members not named keep theirs).
pub fn set_weights(g: &mut GroupConfig, group: &str, weights: &BTreeMap<String, f64>) -> Result<(), ApiError> {
    for (member, weight) in weights {
        match g.members.iter_mut().find(|m| &m.name == member) {
            Some(m) if m.role == Role::Shadow => {
                return Err(ApiError::BadRequest(format!("`{member}` is a shadow; shadows take mirror_percent")));
            }
            Some(m) => m.weight = Some(*weight),
            None => return Err(ApiError::NotFound(format!("group `{group}` has no member `{member}`"))),
        }
    }
    Ok(())
}

/// The challenger `member` becomes champion; the old champion stays as a challenger at
/// weight 0.
pub fn promote(g: &mut GroupConfig, member: &str) -> Result<(), ApiError> {
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
    for m in g.members.iter_mut().filter(|m| m.role == Role::Champion) {
        m.role = Role::Challenger;
        m.weight = Some(0.0);
    }
    let m = &mut g.members[idx];
    m.role = Role::Champion;
    if m.weight.unwrap_or(0.0) <= 0.0 {
        m.weight = Some(1.0);
    }
    Ok(())
}

/// All traffic to the champion: every challenger at weight 0 (and the champion at 1 if it
/// had none).
pub fn pause(g: &mut GroupConfig) {
    for m in g.members.iter_mut() {
        match m.role {
            Role::Challenger => m.weight = Some(0.0),
            Role::Champion if m.weight.unwrap_or(0.0) <= 0.0 => m.weight = Some(1.0),
            _ => {}
        }
    }
}

/// Takes `member` out of the traffic (weight 0): an automatic rollback.
pub fn roll_back(g: &mut GroupConfig, member: &str) -> Result<(), ApiError> {
    let m = g
        .members
        .iter_mut()
        .find(|m| m.name == member)
        .ok_or_else(|| ApiError::NotFound(format!("no member `{member}`")))?;
    m.weight = Some(0.0);
    Ok(())
}

/// Adds a member (409 when the name is taken).
pub fn add_member(g: &mut GroupConfig, member: &MemberConfig) -> Result<(), ApiError> {
    if g.members.iter().any(|m| m.name == member.name) {
        return Err(ApiError::Conflict(format!("member `{}` already exists", member.name)));
    }
    g.members.push(member.clone());
    Ok(())
}

/// Removes a member (404 when there is none of that name).
pub fn remove_member(g: &mut GroupConfig, group: &str, member: &str) -> Result<(), ApiError> {
    let before = g.members.len();
    g.members.retain(|m| m.name != member);
    if g.members.len() == before {
        return Err(ApiError::NotFound(format!("group `{group}` has no member `{member}`")));
    }
    Ok(())
}

/// The members of `group` with their normalised shares, from `cfg`.
pub fn member_views(cfg: &switchyard_config::Config, group: &str) -> Option<Vec<MemberView>> {
    let g = cfg.groups.get(group)?;
    let total: f64 = g.members.iter().filter(|m| m.role != Role::Shadow).map(|m| m.weight.unwrap_or(0.0)).sum();
    Some(
        g.members
            .iter()
            .map(|m| MemberView {
                name: m.name.clone(),
                role: m.role.as_str().to_owned(),
                share: if m.role == Role::Shadow || total <= 0.0 { 0.0 } else { m.weight.unwrap_or(0.0) / total },
            })
            .collect(),
    )
}
