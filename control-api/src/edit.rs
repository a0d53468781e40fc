//! The one path every control-plane change takes — an operator's through a route, the
//! autopilot's, later a job's enrolment: [`apply`] runs the change through
//! [`switchyard_config::ConfigEditor`] (the file's validator, the `If-Match` version
//! check, the atomic write with history, the swap into the data plane) and audits it
//! with a before/after view, the actor and the reason.
//!
//! A change may refuse with its own [`ApiError`] (e.g. 404 for a member that does not
//! exist) through [`refuse`]; that error is returned instead of a validation failure.

use switchyard_config::schema::GroupConfig;
use switchyard_config::{Config, Edited};

use crate::error::ApiError;
use crate::{AuditEntry, ControlState};

/// Who makes a change, why, and what it is called in the audit trail.
pub struct Edit<'a> {
    /// The operator (token name) or automation (`auto-promotion`).
    pub actor: &'a str,
    /// Evidence for automated changes; empty for an operator's.
    pub reason: &'a str,
    /// The config version the change is based on (`If-Match`).
    pub expected: u64,
    /// The audit action, e.g. `group.promote`.
    pub action: &'a str,
}

/// Applies `change` and audits it on `target`, with `view` of the config before and after.
pub fn apply(
    state: &ControlState,
    edit: &Edit<'_>,
    target: &str,
    view: impl Fn(&Config) -> serde_json::Value,
    mut change: impl FnMut(&mut Config, &mut Option<ApiError>) -> Result<(), switchyard_config::ConfigError>,
) -> Result<Edited, ApiError> {
    let mut refusal: Option<ApiError> = None;
    let result = state.editor.edit_with(edit.expected, &mut |cfg| change(cfg, &mut refusal));
    if let Some(e) = refusal {
        return Err(e);
    }
    let edited = result?;
    let entry = AuditEntry {
        audit_id: switchyard_core::new_id(),
        timestamp_ms: switchyard_core::unix_ms(),
        actor: edit.actor.to_owned(),
        action: edit.action.to_owned(),
        target: target.to_owned(),
        config_version: edited.version,
        before: view(&edited.before),
        after: view(&edited.after),
        reason: edit.reason.to_owned(),
    };
    state.audit.record(entry).map_err(|e| ApiError::Internal(format!("audit log: {e}")))?;
    Ok(edited)
}

/// One audited change of group `group` (404 when it does not exist; `change` refuses with
/// its own error).
pub fn apply_to_group(
    state: &ControlState,
    edit: &Edit<'_>,
    group: &str,
    mut change: impl FnMut(&mut GroupConfig) -> Result<(), ApiError>,
) -> Result<Edited, ApiError> {
    apply(
        state,
        edit,
        &format!("groups.{group}"),
        |c| group_json(c, group),
        |cfg, refusal| match cfg.groups.get_mut(group) {
            None => refuse(refusal, missing_group(group)),
            Some(g) => change(g).or_else(|e| refuse(refusal, e)),
        },
    )
}

/// A refusal inside a change (the change's error is replaced by `error`).
pub fn refuse(slot: &mut Option<ApiError>, error: ApiError) -> Result<(), switchyard_config::ConfigError> {
    let msg = error.to_string();
    *slot = Some(error);
    Err(switchyard_config::ConfigError::one("", msg))
}

/// A group's config as JSON (null when absent), for audit views.
pub fn group_json(cfg: &Config, name: &str) -> serde_json::Value {
    cfg.groups.get(name).map_or(serde_json::Value::Null, |g| serde_json::to_value(g).unwrap_or_default())
}

/// The 404 for a group that does not exist.
pub fn missing_group(name: &str) -> ApiError {
    ApiError::NotFound(format!("group `{name}` does not exist"))
}
