//! Result processing: a succeeded job's model becomes a catalog entry with its lineage
//! (`training {base_model, dataset, framework, job}`, the trainer's `metrics`) and, when
//! the job asked for it, a challenger of a group at the requested weight (with the
//! requested promotion rules) — through the same paths as an operator's: the catalog's
//! validated, audited write ([`crate::catalog::write`]) and the config edit path
//! ([`crate::edit::apply_to_group`]: the file's validator, a version check, the atomic
//! write, the audit entry, the swap into the data plane).
//!
//! Both steps are idempotent, so a worker that dies between a step and storing the job's
//! next state repeats it harmlessly: an entry that already names this job, or a member of
//! that name serving this model, counts as done.

use switchyard_config::schema::MemberConfig;
use switchyard_state::Expect;

use super::model::Job;
use crate::catalog::{self, Change};
use crate::edit::{apply_to_group, Edit};
use crate::error::ApiError;
use crate::ControlState;

/// Who result processing is audited as.
pub const ACTOR: &str = "jobs";
/// Attempts of an enrolment that loses a race with another config edit.
const ENROLL_ATTEMPTS: usize = 3;

/// Stores the catalog entry of `job`'s model; its id.
pub async fn register(state: &ControlState, job: &Job, framework: &str) -> Result<String, ApiError> {
    let model = job.fine_tuned_model.as_deref().ok_or_else(|| ApiError::Internal("no trained model".into()))?;
    let provider = &job.spec.provider;
    let id = format!("{provider}/{model}");
    if let Some(existing) = catalog::get(state, &id).await? {
        if existing.entry.training.job.as_deref() == Some(job.id.as_str()) {
            return Ok(id);
        }
        return Err(ApiError::Conflict(format!("catalog entry `{id}` exists and was not made by this job")));
    }
    let base = catalog::get(state, &format!("{provider}/{}", job.spec.base_model)).await?;
    let kind = base.as_ref().and_then(|b| b.entry.kind).map_or("chat", |k| k.as_str());
    let value = serde_json::json!({
        "id": id,
        "provider": provider,
        "name": model,
        "display_name": format!("{model} (fine-tuned from {})", job.spec.base_model),
        "kind": kind,
        "training": {
            "base_model": job.spec.base_model,
            "dataset": job.dataset.as_ref().map(|d| d.description.clone()),
            "framework": framework,
            "job": job.id,
        },
        "metrics": job.metrics,
        "labels": { "switchyard.job": job.id },
    });
    let entry = switchyard_catalog::entry_from_value(value)
        .map_err(|problems| ApiError::invalid_entry(format!("the entry for `{id}` is invalid"), problems))?;
    let reason = format!("fine-tuning job {} succeeded", job.id);
    let change = Change { actor: ACTOR, action: "model.create", reason: &reason };
    catalog::write(state, change, &entry, None, Expect::Absent).await?;
    catalog::published(state).await;
    Ok(id)
}

/// Adds `job`'s model as a challenger of its `enroll.group`; `<group>/<member>`.
pub async fn enroll(state: &ControlState, job: &Job) -> Result<String, ApiError> {
    let e = job.spec.enroll.as_ref().ok_or_else(|| ApiError::Internal("no enrolment asked".into()))?;
    let model = job.fine_tuned_model.clone().ok_or_else(|| ApiError::Internal("no trained model".into()))?;
    let name = e.member.clone().unwrap_or_else(|| default_member(&job.id));
    let member: MemberConfig = serde_json::from_value(serde_json::json!({
        "name": name,
        "role": "challenger",
        "provider": job.spec.provider,
        "model": model,
        "weight": e.weight,
        "catalog": job.catalog_id,
    }))
    .map_err(|err| ApiError::Internal(format!("member: {err}")))?;
    let reason = format!("fine-tuning job {} enrolled `{model}` at weight {}", job.id, e.weight);
    for attempt in 1..=ENROLL_ATTEMPTS {
        let (cfg, version) = state.editor.snapshot();
        let done = cfg
            .groups
            .get(&e.group)
            .and_then(|g| g.members.iter().find(|m| m.name == name))
            .is_some_and(|m| m.model.as_deref() == Some(model.as_str()) && m.provider == job.spec.provider);
        if done {
            return Ok(format!("{}/{name}", e.group));
        }
        let edit = Edit { actor: ACTOR, reason: &reason, expected: version, action: "group.enroll" };
        let (member, promotion) = (member.clone(), e.promotion.clone());
        let result = apply_to_group(state, &edit, &e.group, None, move |g| {
            crate::groups::add_member(g, &member)?;
            if promotion.is_some() {
                g.promotion = promotion;
            }
            Ok(())
        })
        .await;
        match result {
            Ok(_) => return Ok(format!("{}/{name}", e.group)),
            Err(ApiError::Stale { .. }) if attempt < ENROLL_ATTEMPTS => continue,
            Err(err) => return Err(err),
        }
    }
    Err(ApiError::Unavailable("the config kept changing; enrolment retried later".into()))
}

/// `ft-` and the job id's last 8 characters (its random part).
pub fn default_member(job_id: &str) -> String {
    format!("ft-{}", &job_id[job_id.len().saturating_sub(8)..])
}
