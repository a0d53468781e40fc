//! Auto-promotion and auto-rollback: groups with a `promotion` block are evaluated every
//! `check_interval_secs` over the window since their members' weights last changed.
//! [`crate::promotion::decide`] picks the action; it is applied through the same edit
//! path as an operator's (validation, `If-Match` on the version evaluated, atomic write,
//! audit with the evidence as the reason) and counted in
//! `switchyard_auto_actions_total{group,action}`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use prometheus::{IntCounterVec, Opts, Registry};
use switchyard_config::schema::{GroupConfig, PromotionConfig};
use switchyard_state::LeaseName;

use crate::edit::{apply_to_group, Edit};
use crate::groups::{self, member_views};
use crate::promotion::{decide, AutoAction};
use crate::stats::EvalConfig;
use crate::ControlState;
use switchyard_core::unix_ms as now_ms;

/// Who auto-actions are audited as.
pub const ACTOR: &str = "auto-promotion";

/// How many past versions are searched for the start of an experiment.
const HISTORY_DEPTH: usize = 200;

/// Starts the evaluation loop (a no-op loop when no group has `promotion`).
pub fn spawn(state: ControlState, registry: &Registry) -> prometheus::Result<()> {
    let actions = IntCounterVec::new(
        Opts::new("switchyard_auto_actions_total", "Automatic promotions and rollbacks, by group and action."),
        &["group", "action"],
    )?;
    registry.register(Box::new(actions.clone()))?;
    tokio::spawn(async move {
        let mut next: HashMap<String, Instant> = HashMap::new();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            // One replica acts: the holder of the `autopilot` lease (SPEC §7).
            if !state.plane.holds(LeaseName::Autopilot) {
                continue;
            }
            let (cfg, _) = state.editor.snapshot();
            for (name, group) in &cfg.groups {
                let Some(rules) = &group.promotion else { continue };
                let due = next.entry(name.clone()).or_insert_with(Instant::now);
                if Instant::now() < *due {
                    continue;
                }
                *due = Instant::now() + Duration::from_secs(rules.check_interval_secs);
                if let Some(action) = evaluate(&state, name, rules).await {
                    let label = match &action {
                        AutoAction::Promote { .. } => "promote",
                        AutoAction::Rollback { .. } => "rollback",
                    };
                    actions.with_label_values(&[name.as_str(), label]).inc();
                }
            }
        }
    });
    Ok(())
}

/// Evaluates one group and applies what [`decide`] calls for; returns the applied action.
async fn evaluate(state: &ControlState, group: &str, rules: &PromotionConfig) -> Option<AutoAction> {
    let analytics = state.analytics.as_ref()?;
    let (cfg, version) = state.editor.snapshot();
    let members = member_views(&cfg, group)?;
    let since = experiment_start(state, group, cfg.groups.get(group)?).await;
    let now = now_ms();
    let eval = EvalConfig {
        alpha: rules.alpha,
        primary_metric: rules.metric.clone(),
        error_margin: rules.error_margin,
        slow_margin: rules.slow_margin,
        ..EvalConfig::default()
    };
    let report = match crate::analytics::experiment(
        &analytics.client,
        &analytics.database,
        group,
        &members,
        (since, now),
        None,
        &eval,
    )
    .await
    {
        Ok(r) => r,
        Err(error) => {
            tracing::warn!(group, %error, "auto-promotion: experiment not evaluated");
            return None;
        }
    };
    let age = Duration::from_millis(u64::try_from(now - since).unwrap_or(0));
    let action = decide(&report, rules, age)?;
    let (name, reason) = match &action {
        AutoAction::Promote { member } => {
            ("group.auto_promote", format!("challenger `{member}` wins: {:?}", report.verdict))
        }
        AutoAction::Rollback { member, reason } => ("group.auto_rollback", format!("challenger `{member}`: {reason}")),
    };
    let edit = Edit { actor: ACTOR, reason: &reason, expected: version, action: name };
    let result = apply_to_group(state, &edit, group, None, |g| match &action {
        AutoAction::Promote { member } => groups::promote(g, member),
        AutoAction::Rollback { member, .. } => groups::roll_back(g, member),
    })
    .await;
    match result {
        Ok(edited) => {
            tracing::warn!(group, version = edited.version, %reason, "auto-promotion acted");
            Some(action)
        }
        Err(error) => {
            tracing::warn!(group, %error, "auto-promotion action not applied");
            None
        }
    }
}

/// When the group's members and weights took their current values: the oldest stored
/// version, going back from now, whose group members equal the current ones.
pub(crate) async fn experiment_start(state: &ControlState, group: &str, current: &GroupConfig) -> i64 {
    let Ok(versions) = state.editor.versions(HISTORY_DEPTH as u32).await else { return now_ms() };
    let mut start = now_ms();
    for info in &versions {
        let text = state.editor.version_text(info.version).await.ok().flatten();
        let same = text
            .and_then(|t| switchyard_config::validate::parse(&t).ok())
            .and_then(|c| c.groups.get(group).map(|g| g.members == current.members))
            .unwrap_or(false);
        if !same {
            break;
        }
        start = info.stored_ms;
    }
    start
}
