//! The one path every control-plane change takes — an operator's through a route, the
//! autopilot's, later a job's enrolment: [`apply`] runs the change through
//! [`switchyard_config::ConfigEditor`] (the file's validator, the `If-Match` version
//! check, the write, the swap into the data plane) and stores its audit entry — a
//! before/after view, the actor and the reason — in the same transaction as the version it
//! produces.
//!
//! A change may refuse with its own [`ApiError`] (e.g. 404 for a member that does not
//! exist) through [`refuse`]; that error is returned instead of a validation failure. No
//! change made here may touch `admin.secret_allow_list`: it is the config file's.

use std::sync::Arc;

use parking_lot::Mutex;
use switchyard_config::schema::GroupConfig;
use switchyard_config::{ChangeNote, Config, Edited};

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
pub async fn apply(
    state: &ControlState,
    edit: &Edit<'_>,
    target: &str,
    view: impl Fn(&Config) -> serde_json::Value + Send,
    change: impl FnOnce(&mut Config, &mut Option<ApiError>) -> Result<(), switchyard_config::ConfigError> + Send,
) -> Result<Edited, ApiError> {
    let refusal: Arc<Mutex<Option<ApiError>>> = Arc::default();
    let slot = refusal.clone();
    let entry: Arc<Mutex<Option<AuditEntry>>> = Arc::default();
    let kept = entry.clone();
    let (actor, reason, action) = (edit.actor.to_owned(), edit.reason.to_owned(), edit.action.to_owned());
    let target = target.to_owned();
    let audit_target = target.clone();
    let result = state
        .editor
        .edit_with(
            edit.expected,
            Box::new(move |cfg| {
                let allowed = cfg.admin.secret_allow_list.clone();
                change(cfg, &mut slot.lock())?;
                if cfg.admin.secret_allow_list != allowed {
                    let no = ApiError::BadRequest("admin.secret_allow_list is set in the config file only".into());
                    return refuse(&mut slot.lock(), no);
                }
                Ok(())
            }),
            Box::new(move |before, after| {
                let audit = AuditEntry {
                    audit_id: switchyard_core::new_id(),
                    timestamp_ms: switchyard_core::unix_ms(),
                    actor: actor.clone(),
                    action,
                    tenant: tenant_of(&audit_target, after).or_else(|| tenant_of(&audit_target, before)),
                    target,
                    config_version: 0,
                    before: view(before),
                    after: view(after),
                    reason: reason.clone(),
                };
                let json = serde_json::to_value(&audit).ok();
                *kept.lock() = Some(audit);
                ChangeNote { actor, reason, audit: json }
            }),
        )
        .await;
    if let Some(e) = refusal.lock().take() {
        return Err(e);
    }
    let edited = result?;
    if let Some(mut audit) = entry.lock().take() {
        audit.config_version = edited.version;
        state.audit.published(&audit);
    }
    Ok(edited)
}

/// One audited change of group `group` (404 when it does not exist, or when `scope` — the
/// tenant a tenant-scoped operator is confined to — is not the group's; `change` refuses
/// with its own error). Automation passes no scope.
pub async fn apply_to_group(
    state: &ControlState,
    edit: &Edit<'_>,
    group: &str,
    scope: Option<&str>,
    change: impl FnOnce(&mut GroupConfig) -> Result<(), ApiError> + Send,
) -> Result<Edited, ApiError> {
    let name = group.to_owned();
    let scope = scope.map(str::to_owned);
    apply(state, edit, &format!("groups.{group}"), move |c| group_json(c, &name), {
        let group = group.to_owned();
        move |cfg, refusal| match cfg.groups.get_mut(&group) {
            Some(g) if in_scope(scope.as_deref(), g.tenant.as_deref()) => change(g).or_else(|e| refuse(refusal, e)),
            _ => refuse(refusal, missing_group(&group)),
        }
    })
    .await
}

/// Whether an object of `tenant` is within `scope` (`None`: every tenant's and none's).
pub fn in_scope(scope: Option<&str>, tenant: Option<&str>) -> bool {
    scope.is_none_or(|s| tenant == Some(s))
}

/// The tenant an audit `target` (`groups.<g>`, `clients.<c>`) belongs to in `cfg`: the
/// group's tenant, or the client's (its name when it names none); `None` for anything else.
pub fn tenant_of(target: &str, cfg: &Config) -> Option<String> {
    if let Some(group) = target.strip_prefix("groups.") {
        return cfg.groups.get(group).and_then(|g| g.tenant.clone());
    }
    let client = target.strip_prefix("clients.")?;
    cfg.clients.iter().flatten().find(|c| c.name == client).map(|c| c.tenant.clone().unwrap_or_else(|| c.name.clone()))
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

/// A tenant-scoped operator's new object takes its tenant: `tenant` unset becomes `scope`;
/// another tenant (`path` names the field) is refused with 422. Unscoped: unchanged.
pub fn claim(scope: Option<&str>, path: &str, tenant: &mut Option<String>) -> Result<(), ApiError> {
    let Some(scope) = scope else { return Ok(()) };
    match tenant.as_deref() {
        None => *tenant = Some(scope.to_owned()),
        Some(t) if t == scope => {}
        Some(_) => {
            let msg = format!("must be `{scope}`, the token's tenant");
            return Err(ApiError::Invalid(switchyard_config::ConfigError::one(path, msg)));
        }
    }
    Ok(())
}
